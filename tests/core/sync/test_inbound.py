"""Inbound events: webhooks verified by the plugin, deduplicated, applied; polls with cursors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import InboundEvent, TransientError
from core.api.app import create_app
from core.db.inbound_tables import InboxEvent
from core.db.types import utcnow
from core.kinds import KINDS
from core.settings import Settings
from core.store import sync_rows, timeline, write_record
from core.sync.admin import list_inbox, retry_inbox
from core.sync.inbound import load_cursor, store_events
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import poll_once
from tests.core.api.conftest import TestClient
from tests.core.inbound_plugin import InboundPlugin, sign
from tests.core.scripted_plugin import ScriptedPlugin

CUSTOMERS = KINDS["customers"]


@pytest.fixture
def plugin() -> InboundPlugin:
    return InboundPlugin()


@pytest.fixture
def runtime(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    plugin: InboundPlugin,
) -> SyncRuntime:
    return make_runtime(make_settings(), {"erp": plugin})


@pytest.fixture
def client(runtime: SyncRuntime) -> TestClient:
    return TestClient(create_app(runtime, background=False))


def customer(runtime: SyncRuntime, record_id: str, status: str = "active") -> int:
    model = CUSTOMERS.schema.model_validate({"type": "person", "name": "نگار", "status": status})
    subscribers = runtime.host.subscribers("customer")
    return write_record(
        runtime.engine, CUSTOMERS, record_id, model, subscribers=subscribers
    ).record.version


def post(client: TestClient, events: Any, signature: str | None = None) -> Any:
    body = json.dumps(events).encode()
    headers = {"x-signature": sign(body) if signature is None else signature}
    return client.post("/v1/webhooks/erp", content=body, headers=headers)


def apply_all(runtime: SyncRuntime) -> None:
    with runtime.engine.connect() as connection:
        ids = list(connection.execute(select(InboxEvent.id)).scalars())
    runtime.inbound.process("erp", ids)


def status_of(runtime: SyncRuntime, record_id: str) -> tuple[int, str]:
    record = runtime.host.context("erp").store().get("customer", record_id)
    assert record is not None
    return record.version, record.data.status  # type: ignore[attr-defined]


def test_a_signed_webhook_is_stored_once_and_applied(
    client: TestClient, runtime: SyncRuntime
) -> None:
    customer(runtime, "C-1")
    runtime.sync.process("erp", [("customer", "C-1")])
    event = {"id": "evt-1", "customer": "C-1", "status": "blocked"}
    first = post(client, [event])
    assert first.status_code == 200 and first.json() == {"accepted": 1, "duplicates": 0}
    again = post(client, [event])
    assert again.json() == {"accepted": 0, "duplicates": 1}
    apply_all(runtime)
    assert status_of(runtime, "C-1") == (2, "blocked")
    apply_all(runtime)
    assert status_of(runtime, "C-1") == (2, "blocked")
    [row] = list_inbox(runtime.engine)
    assert (row.event_id, row.state, row.attempts) == ("evt-1", "applied", 1)


def test_the_change_is_not_echoed_back_to_its_source(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    erp, other = InboundPlugin(), ScriptedPlugin()
    runtime = make_runtime(make_settings(), {"erp": erp, "other": other})
    customer(runtime, "C-1")
    runtime.sync.process("erp", [("customer", "C-1")])
    runtime.sync.process("other", [("customer", "C-1")])
    erp.crm_sync_apply_inbound(
        runtime.host.context("erp"),
        InboundEvent("e", "status", {"customer": "C-1", "status": "inactive"}),
    )
    states = {
        row.plugin: (row.state, row.synced_version)
        for row in sync_rows(runtime.engine, "customer", "C-1")
    }
    assert states == {"erp": ("synced", 2), "other": ("pending", 1)}
    assert runtime.sync.process("other", [("customer", "C-1")]).pushed == 1
    assert [d.version for d in other.documents] == [1, 2]


def test_the_applied_change_is_on_the_timeline_and_reaches_event_subscribers(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    erp, listener = (
        InboundPlugin(),
        ScriptedPlugin(subscriptions=("event.customer.status_changed",)),
    )
    runtime = make_runtime(make_settings(), {"erp": erp, "listener": listener})
    customer(runtime, "C-1")
    erp.crm_sync_apply_inbound(
        runtime.host.context("erp"),
        InboundEvent("e", "status", {"customer": "C-1", "status": "blocked"}),
    )
    [event] = timeline(runtime.engine, "customer", "C-1")
    assert event.data["type"] == "customer.status_changed"
    assert event.data["source"] == "erp"
    assert event.data["payload"] == {"changes": {"status": "blocked"}}
    runtime.sync.process("listener", [("event", event.id)])
    [document] = listener.documents
    assert (document.type, document.id) == ("event", event.id)


@pytest.mark.parametrize(
    ("body", "signature", "status"),
    [
        ([{"id": "e"}], "0" * 64, 401),
        ([{"id": "e"}], "", 401),
        ("not a list", None, 422),
    ],
)
def test_bad_webhooks_are_refused_and_store_nothing(
    client: TestClient, runtime: SyncRuntime, body: Any, signature: str | None, status: int
) -> None:
    answer = post(client, body, signature)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert list_inbox(runtime.engine) == []


def test_malformed_json_is_a_400(client: TestClient, runtime: SyncRuntime) -> None:
    body = b"{not json"
    answer = client.post("/v1/webhooks/erp", content=body, headers={"x-signature": sign(body)})
    assert answer.status_code == 400
    assert list_inbox(runtime.engine) == []


def test_an_unknown_plugin_has_no_webhook(client: TestClient) -> None:
    assert client.post("/v1/webhooks/nobody", content=b"[]").status_code == 404


def test_a_status_for_an_unknown_record_is_dead_with_the_reason_and_retryable(
    client: TestClient, runtime: SyncRuntime
) -> None:
    post(client, [{"id": "evt-9", "customer": "C-404", "status": "blocked"}])
    apply_all(runtime)
    [row] = list_inbox(runtime.engine, state="dead")
    assert "no customer 'C-404'" in (row.last_error or "")
    customer(runtime, "C-404")
    assert retry_inbox(runtime.engine, plugin="erp") == {"erp": [row.id]}
    apply_all(runtime)
    assert status_of(runtime, "C-404")[1] == "blocked"


def test_a_transient_failure_is_retried(
    client: TestClient, runtime: SyncRuntime, plugin: InboundPlugin
) -> None:
    customer(runtime, "C-1")
    post(client, [{"id": "evt-1", "customer": "C-1", "status": "blocked"}])
    plugin.fail_next_apply = TransientError("ERP busy", retry_after=0)
    apply_all(runtime)
    [row] = list_inbox(runtime.engine)
    assert (row.state, row.last_error) == ("failed", "ERP busy")
    with runtime.engine.connect() as connection:
        due = connection.execute(select(InboxEvent.due_at)).scalar_one()
    runtime.inbound.process("erp", [row.id], now=due)
    assert status_of(runtime, "C-1")[1] == "blocked"


def test_polling_saves_the_cursor_with_the_events_and_resumes_from_it(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    plugin: InboundPlugin,
) -> None:
    settings = make_settings()
    runtime = make_runtime(settings, {"erp": plugin})
    for number in range(3):
        customer(runtime, f"C-{number}")
    plugin.feed = [
        InboundEvent(f"p-{n}", "status", {"customer": f"C-{n}", "status": "inactive"})
        for n in range(3)
    ]
    first = poll_once(runtime, "erp")
    assert (first.stored, first.more) == (2, True)
    assert load_cursor(runtime.engine, "erp") == "2"
    restarted = make_runtime(settings, {"erp": plugin})
    second = poll_once(restarted, "erp")
    assert (second.stored, second.more) == (1, False)
    assert plugin.polled_with == [None, "2"]
    plugin.feed.append(plugin.feed[0])
    assert poll_once(restarted, "erp").duplicates == 1
    apply_all(restarted)
    assert all(status_of(restarted, f"C-{n}") == (2, "inactive") for n in range(3))


def test_the_sweeper_resends_inbound_events_whose_message_was_lost(
    client: TestClient, runtime: SyncRuntime
) -> None:
    from datetime import timedelta

    from core.db.types import utcnow
    from core.sync.sweeper import sweep_inbox

    customer(runtime, "C-1")
    post(client, [{"id": "evt-1", "customer": "C-1", "status": "blocked"}])
    queue = runtime.broker.queues[runtime.queue_name("erp")]
    queued = queue.qsize()
    assert sweep_inbox(runtime) == 0
    later = utcnow() + timedelta(seconds=2)
    assert sweep_inbox(runtime, now=later) == 1
    assert queue.qsize() == queued + 1
    assert sweep_inbox(runtime, now=later) == 0
    apply_all(runtime)
    assert sweep_inbox(runtime, now=later + timedelta(seconds=5)) == 0
    assert status_of(runtime, "C-1")[1] == "blocked"


def test_an_event_that_kills_its_worker_ends_dead(
    runtime: SyncRuntime, plugin: InboundPlugin
) -> None:
    customer(runtime, "C-1")
    stored = store_events(runtime.engine, "erp", [InboundEvent("E-1", "status", {"id": "C-1"})])
    (row_id,) = stored.ids
    now = utcnow()
    for _ in range(4):  # four workers claim it and die before recording anything
        assert len(runtime.inbound._claim("erp", [row_id], "crashed", now)) == 1
        now += timedelta(seconds=6)
    plugin.fail_next_apply = AssertionError("the event must not be applied again")
    outcome = runtime.inbound.process("erp", [row_id], now=now)
    assert (outcome.dead, outcome.applied) == (1, 0)
    assert plugin.fail_next_apply is not None
    (event,) = list_inbox(runtime.engine, plugin="erp")
    assert event.state == "dead"
    assert "gave up after 4 attempts: the worker stopped during every attempt" in (
        event.last_error or ""
    )


def test_a_transient_failure_on_the_last_attempt_ends_dead_saying_so(
    runtime: SyncRuntime, plugin: InboundPlugin
) -> None:
    customer(runtime, "C-1")
    stored = store_events(runtime.engine, "erp", [InboundEvent("E-1", "status", {"id": "C-1"})])
    (row_id,) = stored.ids
    now = utcnow()
    for attempt in range(1, 5):
        plugin.fail_next_apply = TransientError("ERP busy")
        outcome = runtime.inbound.process("erp", [row_id], now=now)
        assert (outcome.retry, outcome.dead) == (([row_id], 0) if attempt < 4 else ([], 1))
        now += timedelta(seconds=60)
    (event,) = list_inbox(runtime.engine, plugin="erp")
    assert event.state == "dead" and event.last_error == "gave up after 4 attempts: ERP busy"
