"""The plugin contract: tests any plugin, bundled or third-party, runs against itself.

Subclass ``PluginContract`` in a test module of the plugin, name the plugin and give a
``target`` fixture describing a real, reachable target (and, if possible, one that is
down). The inherited tests then drive the plugin through crm-sync's real sync engine on
a throwaway SQLite database and check the sync contract: settings, idleness,
subscriptions, mapping, one push per version, bindings, health, and, when the target is
a loopback ``Receiver`` (``ContractTarget.receiver``), the failure contract: a 4xx is
dead at once with the target's reason; 5xx, 408, 429 and timeouts are retried with the
same idempotency key; ``Retry-After`` is honoured; a resync sends the same key again;
every request carries JSON.

    from core.testing.contract import ContractTarget, PluginContract

    class TestMyPluginContract(PluginContract):
        plugin_name = "my_plugin"

        @pytest.fixture
        def target(self, receiver, webhook_secret):
            return ContractTarget(
                settings={"url": receiver.url, "secret": webhook_secret},
                received=receiver.versions,
                receiver=receiver,
            )

The runtimes are built from the settings given here only: the developer's own
``CRM_SYNC_*`` variables and ``CRM_SYNC_CONFIG`` are ignored. ``write``, ``sync``,
``retry_now``, ``drain`` and ``state`` are public, for a plugin's own failure tests.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import func, select
from standardwebhooks import Webhook

from core.api.app import create_app
from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import SyncState
from core.kinds import KINDS_BY_TYPE
from core.plugin_types import HealthReport, PluginSettings, SyncRecord
from core.plugins import ENTRY_POINT_GROUP
from core.settings import Settings
from core.store import get_record, sync_rows, write_record
from core.sync.admin import resync
from core.sync.runtime import SyncRuntime
from core.testing.fixtures import migrated_runtime
from core.testing.hostile import assert_all_refused, hostile_bodies
from core.testing.receiver import Attempt, Receiver, RemoteReceiver
from core.testing.samples import SAMPLES

with warnings.catch_warnings():
    # Starlette asks for httpx2 under its test client; the plain httpx it falls back to works.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass
class ContractTarget:
    """A target the contract tests push to.

    ``settings`` configure the plugin for a reachable target; ``received(type, id)``
    returns the versions of a record the target holds, in the order they arrived (a
    stateful target may return just its current version); ``unreachable_settings``, if
    given, configure the plugin for a target that is down. A plugin that accepts
    webhooks gives ``webhook_body``, one document its webhook accepts: the hostile
    bodies of core.testing.hostile are derived from it. ``receiver`` is the loopback
    receiver ``settings`` send to, when they do: the failure tests make it fail, stall
    and throttle (a target that is not one skips them).
    """

    settings: dict[str, Any]
    received: Callable[[str, str], list[int]]
    unreachable_settings: dict[str, Any] | None = None
    webhook_body: dict[str, Any] | None = None
    receiver: Receiver | RemoteReceiver | None = None


class ContractSettings(Settings):
    """Settings built only from what the contract passes: no environment, no config file.

    A developer who configures the plugin through ``CRM_SYNC_*`` variables or
    ``CRM_SYNC_CONFIG`` (as the guide says to) gets the same contract run as CI.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the keyword arguments."""
        return (init_settings,)


#: 4xx answers a target gives for a document it will never take: dead at once.
REFUSALS = (400, 404, 422)
#: Answers that mean "later": retried, never dead on the first attempt.
TRANSIENT = (500, 503, 408, 429)


class PluginContract:
    """Inherit to run the sync contract against a plugin; see the module docstring."""

    plugin_name: ClassVar[str]
    #: Whether the plugin is idle (installed, no target) with empty settings.
    idle_without_settings: ClassVar[bool] = True

    @pytest.fixture
    def plugin(self) -> object:
        """The plugin object, loaded from its ``crm_sync.plugins`` entry point."""
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name == self.plugin_name:
                return entry_point.load()
        pytest.fail(f"no {ENTRY_POINT_GROUP} entry point named {self.plugin_name!r}")

    @pytest.fixture
    def target(self) -> ContractTarget:
        """A reachable target; every plugin's contract test module must override this."""
        pytest.fail("override the `target` fixture in the contract test class")

    def records(self, subscriptions: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
        """(document type, id, body) of the records to sync; override for linked records."""
        found = []
        for type_ in subscriptions:
            kind = KINDS_BY_TYPE[type_]
            found.append((type_, f"contract-{type_}-1", SAMPLES[kind.name]))
        return found

    @pytest.fixture
    def make(self, tmp_path: Path, plugin: object) -> Iterator[Callable[..., SyncRuntime]]:
        """Build runtimes of only this plugin on a throwaway SQLite database.

        ``make(plugin_settings, **sync)``: keyword arguments override the ``[sync]``
        settings (``push_timeout_seconds=1``...).
        """
        built: list[SyncRuntime] = []

        def build(plugin_settings: dict[str, Any], **sync: Any) -> SyncRuntime:
            defaults = {"push_timeout_seconds": 5, "lease_seconds": 15, "max_attempts": 3}
            settings = ContractSettings(
                data_dir=tmp_path,
                database_url=f"sqlite:///{tmp_path / f'contract-{len(built)}.db'}",
                plugins={self.plugin_name: plugin_settings},
                sync={**defaults, **sync},
            )
            runtime = migrated_runtime(settings, {self.plugin_name: plugin})
            built.append(runtime)
            return runtime

        yield build
        for runtime in built:
            runtime.close()

    # -- helpers, public for a plugin's own tests ------------------------------------

    def write(self, runtime: SyncRuntime, type_: str, record_id: str, body: dict[str, Any]) -> int:
        """Store a record as the API would (queued for the subscribers); its new version."""
        kind = KINDS_BY_TYPE[type_]
        model = kind.schema.model_validate(body)
        subscribers = runtime.host.subscribers(type_)
        return write_record(
            runtime.engine, kind, record_id, model, subscribers=subscribers
        ).record.version

    def drain(self, runtime: SyncRuntime) -> None:
        """Push whatever is due for this plugin until nothing more goes out."""
        for _ in range(50):
            if not runtime.sync.process(self.plugin_name, []).pushed:
                return

    def state(self, runtime: SyncRuntime, type_: str, record_id: str) -> SyncState:
        """The plugin's delivery row of one record: state, attempts, last error, due time."""
        [row] = [
            r for r in sync_rows(runtime.engine, type_, record_id) if r.plugin == self.plugin_name
        ]
        return row

    def sync(self, runtime: SyncRuntime, type_: str, record_id: str) -> SyncState:
        """One attempt at the record's delivery now, as a worker makes it; the row after."""
        runtime.sync.process(self.plugin_name, [(type_, record_id)])
        return self.state(runtime, type_, record_id)

    def retry_now(self, runtime: SyncRuntime, type_: str, record_id: str) -> SyncState:
        """The record's next attempt as if its retry time had come; the row after."""
        due = self.state(runtime, type_, record_id).due_at
        later = max(due, datetime.now(UTC)) + timedelta(milliseconds=1)
        runtime.sync.process(self.plugin_name, [(type_, record_id)], now=later)
        return self.state(runtime, type_, record_id)

    def sync_all(
        self, runtime: SyncRuntime, records: list[tuple[str, str, dict[str, Any]]]
    ) -> None:
        """Push each of ``records`` once, then whatever else is due."""
        for type_, record_id, _ in records:
            runtime.sync.process(self.plugin_name, [(type_, record_id)])
        self.drain(runtime)

    # -- the contract --------------------------------------------------------------

    def test_settings_model_is_plugin_settings(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """The settings model derives from PluginSettings and refuses unknown fields."""
        runtime = make(target.settings)
        settings = runtime.host.context(self.plugin_name).settings
        assert isinstance(settings, PluginSettings)
        with pytest.raises(ValueError, match=r"not_a_setting|Extra inputs"):
            type(settings).model_validate({**target.settings, "not_a_setting": 1})

    def test_idle_without_a_target(self, make: Callable[..., SyncRuntime]) -> None:
        """With empty settings the plugin is installed but idle: nothing is queued for it."""
        if not self.idle_without_settings:
            pytest.skip("this plugin needs settings to load")
        runtime = make({})
        assert runtime.host.description(self.plugin_name).target is None
        assert self.plugin_name not in runtime.host.active()

    def test_describes_known_subscriptions(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """A configured plugin has a target, subscribes to known types and a sane batch size."""
        description = make(target.settings).host.description(self.plugin_name)
        assert description.target
        assert description.subscriptions
        assert set(description.subscriptions) <= set(KINDS_BY_TYPE)
        assert description.max_batch >= 1

    def test_maps_every_subscribed_record_to_json(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Each subscribed record maps to a JSON-serialisable document."""
        runtime = make(target.settings)
        for type_, record_id, body in self.records(
            runtime.host.description(self.plugin_name).subscriptions
        ):
            self.write(runtime, type_, record_id, body)
            stored = get_record(runtime.engine, KINDS_BY_TYPE[type_], record_id)
            assert stored is not None
            record = SyncRecord(type_, record_id, stored.version, stored.model(), stored.updated_at)
            json.dumps(runtime.host.map_record(self.plugin_name, record))

    def test_each_version_reaches_the_target_once(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Every record arrives, is bound, is not sent again, and its next version follows."""
        runtime = make(target.settings)
        records = self.records(runtime.host.description(self.plugin_name).subscriptions)
        for type_, record_id, body in records:
            assert self.write(runtime, type_, record_id, body) == 1
        self.sync_all(runtime, records)
        for type_, record_id, _ in records:
            row = self.state(runtime, type_, record_id)
            assert (row.state, row.synced_version) == ("synced", 1), row.last_error
            assert target.received(type_, record_id)[-1:] == [1]
        before = {(t, i): list(target.received(t, i)) for t, i, _ in records}
        self.sync_all(runtime, records)
        assert {(t, i): list(target.received(t, i)) for t, i, _ in records} == before
        type_, record_id, body = records[0]
        changed = self.changed(type_, body)
        assert self.write(runtime, type_, record_id, changed) == 2
        self.sync_all(runtime, records)
        assert self.state(runtime, type_, record_id).synced_version == 2
        assert target.received(type_, record_id)[-1] == 2

    def changed(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """A real change of ``body``; override when the first record needs another one."""
        for field, value in (
            ("name", "نام تازه"),
            ("subject", "موضوع تازه"),
            ("reason", "دلیل تازه"),
        ):
            if field in body:
                return {**body, field: value}
        return {**body, "status": "cancelled"}

    def test_an_unreachable_target_is_a_transient_failure(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """A target that is down leaves the delivery failed and due again, not dead."""
        if target.unreachable_settings is None:
            pytest.skip("no unreachable target given")
        runtime = make(target.unreachable_settings)
        type_, record_id, body = self.records(
            runtime.host.description(self.plugin_name).subscriptions
        )[0]
        self.write(runtime, type_, record_id, body)
        runtime.sync.process(self.plugin_name, [(type_, record_id)])
        row = self.state(runtime, type_, record_id)
        assert row.state == "failed" and row.attempts == 1 and row.last_error

    def test_health_check_answers(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """The health check reports on a reachable target, and never raises on a dead one."""
        assert make(target.settings).host.health(self.plugin_name).ok
        if target.unreachable_settings is not None:
            report = make(target.unreachable_settings).host.health(self.plugin_name)
            assert isinstance(report, HealthReport) and not report.ok

    # -- the failure contract, against a programmable receiver ------------------------

    def first_record(
        self, runtime: SyncRuntime, target: ContractTarget
    ) -> tuple[Receiver | RemoteReceiver, str, str]:
        """The receiver and the first record (type, id), written; skips without a receiver."""
        if target.receiver is None:
            pytest.skip("the target is not a programmable receiver (ContractTarget.receiver)")
        subscriptions = runtime.host.description(self.plugin_name).subscriptions
        if not subscriptions:
            pytest.skip("the plugin subscribes to nothing, so nothing is pushed")
        type_, record_id, body = self.records(subscriptions)[0]
        self.write(runtime, type_, record_id, body)
        return target.receiver, type_, record_id

    @pytest.mark.parametrize("status", REFUSALS)
    def test_a_refusal_is_dead_at_once_with_the_reason(
        self, status: int, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """A 4xx (other than 408, 409, 425, 429) is dead after one attempt, the reason kept."""
        runtime = make(target.settings)
        receiver, type_, record_id = self.first_record(runtime, target)
        reason = f"contract refusal {status}: the tax code is unknown"
        receiver.fail(status, count=1, reason=reason)
        row = self.sync(runtime, type_, record_id)
        assert (row.state, row.attempts) == ("dead", 1), row.last_error
        assert row.last_error and str(status) in row.last_error, row.last_error
        assert "the tax code is unknown" in row.last_error, row.last_error
        assert self.retry_now(runtime, type_, record_id).state == "dead"
        assert len(receiver.attempts) == 1

    @pytest.mark.parametrize("status", TRANSIENT)
    def test_a_transient_answer_is_retried_with_the_same_key(
        self, status: int, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """5xx, 408 and 429 leave the delivery due again; the retry carries the same key."""
        runtime = make(target.settings)
        receiver, type_, record_id = self.first_record(runtime, target)
        receiver.fail(status, count=1)
        row = self.sync(runtime, type_, record_id)
        assert (row.state, row.attempts) == ("failed", 1), row.last_error
        assert row.last_error and row.last_attempt_at and row.due_at > row.last_attempt_at
        row = self.retry_now(runtime, type_, record_id)
        assert (row.state, row.synced_version) == ("synced", 1), row.last_error
        assert target.received(type_, record_id) == [1]
        failed, accepted = receiver.attempts
        assert (failed.status, accepted.status) == (status, 200)
        assert_same_keys(failed, accepted)

    def test_a_timeout_is_retried_and_delivered_once(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """A target stalling past the push timeout is retried; the stalled copy is a duplicate."""
        runtime = make(target.settings, push_timeout_seconds=1)
        receiver, type_, record_id = self.first_record(runtime, target)
        receiver.stall(2.5, count=1)
        row = self.sync(runtime, type_, record_id)
        assert (row.state, row.attempts) == ("failed", 1), row.last_error
        row = self.retry_now(runtime, type_, record_id)
        assert row.state == "synced", row.last_error
        deadline = time.monotonic() + 10
        while len(receiver.attempts) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the stalled request is answered (as a duplicate) after 2.5 s
        assert target.received(type_, record_id) == [1]
        attempts = receiver.attempts
        assert len(attempts) == 2
        assert_same_keys(*attempts)

    def test_retry_after_is_honoured(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """A 429 or 503 with ``Retry-After: 120`` is not tried again for 120 seconds."""
        runtime = make(target.settings)
        receiver, type_, record_id = self.first_record(runtime, target)
        for status in (429, 503):
            receiver.fail(status, count=1, retry_after=120)
            before = datetime.now(UTC)
            row = (
                self.sync(runtime, type_, record_id)
                if status == 429
                else self.retry_now(runtime, type_, record_id)
            )
            assert row.state == "failed", row.last_error
            waited = (row.due_at - before).total_seconds()
            assert waited >= 119, f"HTTP {status} with Retry-After: 120 retried after {waited} s"
            self.sync(runtime, type_, record_id)
            assert len(receiver.attempts) == (1 if status == 429 else 2)

    def test_a_target_failing_every_time_ends_dead_after_max_attempts(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Transient failures are retried up to ``sync.max_attempts`` (3 here), then dead."""
        runtime = make(target.settings)
        receiver, type_, record_id = self.first_record(runtime, target)
        receiver.fail(503)
        row = self.sync(runtime, type_, record_id)
        for _ in range(2):
            assert row.state == "failed", row.last_error
            row = self.retry_now(runtime, type_, record_id)
        assert (row.state, row.attempts) == ("dead", 3), row.last_error
        assert row.last_error and "503" in row.last_error
        assert_same_keys(*receiver.attempts)

    def test_a_resync_sends_the_same_key_again(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """A resync pushes the stored version again under its key: the target can ignore it."""
        runtime = make(target.settings)
        receiver, type_, record_id = self.first_record(runtime, target)
        assert self.sync(runtime, type_, record_id).state == "synced"
        for _ in resync(runtime.engine, self.plugin_name, [KINDS_BY_TYPE[type_]]):
            pass
        row = self.sync(runtime, type_, record_id)
        assert (row.state, row.synced_version) == ("synced", 1), row.last_error
        first, again = receiver.attempts[0], receiver.attempts[-1]
        assert len(receiver.attempts) >= 2
        assert_same_keys(first, again)
        assert target.received(type_, record_id) == [1]

    def test_every_request_carries_json(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Each push is a JSON body sent as ``application/json``."""
        runtime = make(target.settings)
        receiver, _, _ = self.first_record(runtime, target)
        self.sync_all(
            runtime, self.records(runtime.host.description(self.plugin_name).subscriptions)
        )
        attempts = receiver.attempts
        assert attempts
        for attempt in attempts:
            assert attempt.is_json, f"{attempt.path}: the body is not JSON"
            assert attempt.content_type.startswith("application/json"), attempt.content_type

    def test_health_answers_while_the_target_fails(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """The health check returns a report, without raising, when the target answers 503."""
        if target.receiver is None:
            pytest.skip("the target is not a programmable receiver (ContractTarget.receiver)")
        runtime = make(target.settings)
        target.receiver.fail(503)
        report = runtime.host.health(self.plugin_name)
        assert isinstance(report, HealthReport)
        if report.ok:
            assert not target.receiver.attempts, "a health check that saw a 503 reported ok"

    # -- the webhook, if the plugin takes one -------------------------------------------

    def sign_webhook(self, settings: dict[str, Any], body: bytes) -> dict[str, str]:
        """Headers that make ``body`` a genuine call of the target: Standard Webhooks.

        Signed with ``settings["secret"]``; override for a target that signs otherwise.
        """
        message_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(settings["secret"]).sign(
                message_id, now, body.decode(errors="replace")
            ),
            "content-type": "application/json",
        }

    @pytest.fixture
    def webhook(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> Iterator[WebhookRoute]:
        """The plugin's webhook route on a fresh runtime; skipped if the plugin takes none."""
        runtime = make(target.settings)
        if not runtime.host.description(self.plugin_name).accepts_webhooks:
            pytest.skip("this plugin takes no webhooks")
        if target.webhook_body is None:
            pytest.fail("a plugin that takes webhooks gives ContractTarget.webhook_body")
        with TestClient(create_app(runtime, background=False)) as client:
            yield WebhookRoute(self, client, runtime, target.settings)

    def test_webhook_refuses_hostile_bodies(
        self, webhook: WebhookRoute, target: ContractTarget
    ) -> None:
        """Every hostile body, genuinely signed, is a 400/413/422 naming its field; none is kept."""
        assert target.webhook_body is not None
        accepted = webhook.post(json.dumps(target.webhook_body).encode())
        assert accepted.status_code == 200, accepted.text
        assert webhook.stored() == 1
        description = webhook.runtime.host.description(self.plugin_name)
        limit = description.max_body_bytes or webhook.runtime.settings.max_body_bytes
        cases = hostile_bodies(target.webhook_body, max_body=limit, signed=True)
        assert_all_refused(webhook.post, cases, webhook.stored)

    def test_webhook_reads_nothing_before_the_sender_is_known(
        self, webhook: WebhookRoute, target: ContractTarget
    ) -> None:
        """A hostile body under another body's signature is a 401, whatever it holds."""
        forged = self.sign_webhook(target.settings, b"{}")
        for case in hostile_bodies(target.webhook_body or {}, signed=True):
            if case.statuses != (413,):
                answer = webhook.post(case.body, forged)
                assert answer.status_code == 401, f"{case.name}: {answer.status_code} {answer.text}"
        assert webhook.stored() == 0


def assert_same_keys(*attempts: Attempt) -> None:
    """Every attempt carried one and the same (non-empty) set of idempotency keys."""
    keys = {attempt.keys for attempt in attempts}
    assert all(attempt.keys for attempt in attempts), "a push carried no idempotency key"
    assert len(keys) == 1, f"the idempotency keys changed between attempts: {sorted(keys)}"


@dataclass
class WebhookRoute:
    """A plugin's webhook route under test: post to it, count what its inbox holds."""

    contract: PluginContract
    client: TestClient
    runtime: SyncRuntime
    settings: dict[str, Any]

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> Any:
        """POST ``body``, signed by the contract's ``sign_webhook`` unless ``headers`` are given."""
        if headers is None:
            headers = self.contract.sign_webhook(self.settings, body)
        return self.client.post(
            f"/v1/webhooks/{self.contract.plugin_name}", content=body, headers=headers
        )

    def stored(self) -> int:
        """How many inbound events the inbox holds."""
        with self.runtime.engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(InboxEvent))
            return int(count.scalar_one())
