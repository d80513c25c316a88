"""The sync engine's contract: latest version, once, in order, classified failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from core import PermanentError, PushResult, TransientError
from core.db.admin_tables import Attempt
from core.db.sync_tables import SyncState
from core.db.types import utcnow
from core.kinds import KINDS
from core.settings import Settings
from core.store import write_record
from core.sync.admin import Selection, retry_dead
from core.sync.engine import Outcome, _Result
from core.sync.runtime import SyncRuntime
from core.testing.samples import sample
from tests.core.scripted_plugin import ScriptedPlugin

CUSTOMERS = KINDS["customers"]


def customer(name: str = "شرکت نمونه") -> Any:
    return CUSTOMERS.schema.model_validate({"type": "organization", "name": name})


def put(runtime: SyncRuntime, record_id: str, name: str = "شرکت نمونه") -> int:
    subscribers = runtime.host.subscribers("customer")
    result = write_record(
        runtime.engine, CUSTOMERS, record_id, customer(name), subscribers=subscribers
    )
    return result.record.version


def state(runtime: SyncRuntime, record_id: str, plugin: str = "scripted") -> SyncState:
    with runtime.engine.connect() as connection:
        row = connection.execute(
            select(SyncState.__table__).where(
                SyncState.plugin == plugin, SyncState.record_id == record_id
            )
        ).one()
    return SyncState(**row._mapping)


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
) -> SyncRuntime:
    """An embedded runtime on SQLite, and on PostgreSQL (whose batches take other paths)."""
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    return make_runtime(make_settings(**overrides), {"scripted": scripted})


def test_a_change_is_pushed_once_with_its_idempotency_key(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    outcome = runtime.sync.process("scripted", [("customer", "C-1")])
    assert outcome.pushed == 1
    [document] = scripted.documents
    assert (document.id, document.version, document.payload["name"]) == ("C-1", 1, "شرکت نمونه")
    assert document.idempotency_key.startswith("crm-sync-")
    row = state(runtime, "C-1")
    assert (row.state, row.synced_version, row.external_id, row.attempts) == (
        "synced",
        1,
        "T-C-1",
        0,
    )
    again = runtime.sync.process("scripted", [("customer", "C-1")])
    assert again.pushed == 0
    assert len(scripted.documents) == 1


def test_an_unchanged_write_queues_nothing(runtime: SyncRuntime, scripted: ScriptedPlugin) -> None:
    assert put(runtime, "C-1") == 1
    runtime.sync.process("scripted", [("customer", "C-1")])
    assert put(runtime, "C-1") == 1
    assert state(runtime, "C-1").state == "synced"
    runtime.sync.process("scripted", [("customer", "C-1")])
    assert len(scripted.documents) == 1


def test_the_same_version_keeps_its_key_and_a_new_version_gets_a_new_one(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    runtime.sync.process("scripted", [("customer", "C-1")])
    with runtime.engine.begin() as connection:
        connection.execute(update(SyncState).values(state="pending", synced_version=None))
    runtime.sync.process("scripted", [("customer", "C-1")])
    put(runtime, "C-1", "نام تازه")
    runtime.sync.process("scripted", [("customer", "C-1")])
    keys = [document.idempotency_key for document in scripted.documents]
    assert keys[0] == keys[1] != keys[2]


def test_a_target_that_has_the_version_is_skipped(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    runtime.sync.process("scripted", [("customer", "C-1")])
    with runtime.engine.begin() as connection:
        connection.execute(update(SyncState).values(state="pending"))
    outcome = runtime.sync.process("scripted", [("customer", "C-1")])
    assert len(scripted.documents) == 1
    assert outcome.pushed == 1 and state(runtime, "C-1").state == "synced"


def test_a_change_during_the_push_is_pushed_next_and_versions_only_grow(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")

    def change_meanwhile(documents: list[Any]) -> list[PushResult]:
        put(runtime, "C-1", "نسخه دوم")
        scripted.pushes.append(list(documents))
        return [PushResult(external_id="T-C-1")]

    scripted.script.append(change_meanwhile)
    outcome = runtime.sync.process("scripted", [("customer", "C-1")])
    assert outcome.again == [("customer", "C-1")]
    assert state(runtime, "C-1").state == "pending"
    runtime.sync.process("scripted", outcome.again)
    assert [document.version for document in scripted.documents] == [1, 2]
    assert state(runtime, "C-1").state == "synced"


def test_transient_failure_is_retried_after_backoff(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    scripted.script.append(TransientError("HTTP 503"))
    started = utcnow()
    outcome = runtime.sync.process("scripted", [("customer", "C-1")], now=started)
    assert outcome.retry == [("customer", "C-1")] and outcome.failed == 1
    row = state(runtime, "C-1")
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "HTTP 503")
    assert 0.1 <= outcome.retry_delay <= 0.2
    early = runtime.sync.process("scripted", [("customer", "C-1")], now=started)
    assert early.pushed == 0 and not scripted.documents
    later = runtime.sync.process("scripted", [("customer", "C-1")], now=row.due_at)
    assert later.pushed == 1
    assert state(runtime, "C-1").state == "synced"


def test_retry_after_is_a_floor(runtime: SyncRuntime, scripted: ScriptedPlugin) -> None:
    put(runtime, "C-1")
    scripted.script.append(TransientError("HTTP 429", retry_after=30))
    started = utcnow()
    outcome = runtime.sync.process("scripted", [("customer", "C-1")], now=started)
    assert outcome.retry_delay >= 30
    assert state(runtime, "C-1").due_at >= started + timedelta(seconds=30)


def test_transport_errors_are_transient(runtime: SyncRuntime, scripted: ScriptedPlugin) -> None:
    put(runtime, "C-1")
    scripted.script.append(httpx.ConnectTimeout("slow"))
    runtime.sync.process("scripted", [("customer", "C-1")])
    assert state(runtime, "C-1").state == "failed"


def test_permanent_failure_is_dead_at_once_and_retryable(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    scripted.script.append(PermanentError("HTTP 422: economic code missing"))
    outcome = runtime.sync.process("scripted", [("customer", "C-1")])
    assert outcome.dead == 1 and not outcome.retry
    row = state(runtime, "C-1")
    assert (row.state, row.last_error) == ("dead", "HTTP 422: economic code missing")
    assert runtime.sync.process("scripted", [("customer", "C-1")]).pushed == 0
    assert retry_dead(runtime.engine, Selection(plugin="scripted")) == {
        "scripted": [("customer", "C-1")]
    }
    assert runtime.sync.process("scripted", [("customer", "C-1")]).pushed == 1
    assert state(runtime, "C-1").state == "synced"


def test_too_many_transient_failures_end_dead(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    now = utcnow()
    for _ in range(4):
        scripted.script.append(TransientError("HTTP 503"))
        runtime.sync.process("scripted", [("customer", "C-1")], now=now)
        now = state(runtime, "C-1").due_at
    row = state(runtime, "C-1")
    assert row.state == "dead"
    assert row.last_error == "gave up after 4 attempts: HTTP 503"


def test_a_message_that_kills_its_worker_ends_dead(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    now = utcnow()
    for _ in range(4):
        claims, _ = runtime.sync._claim("scripted", [("customer", "C-1")], "crashed", now, 1)
        assert len(claims) == 1
        now += timedelta(seconds=6)
    outcome = runtime.sync.process("scripted", [("customer", "C-1")], now=now)
    assert outcome.dead == 1 and not scripted.documents
    row = state(runtime, "C-1")
    assert row.state == "dead" and "gave up after 4 attempts" in (row.last_error or "")


def test_a_leased_record_is_not_pushed_twice_at_once(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    inside, leave = threading.Event(), threading.Event()

    def slow(documents: list[Any]) -> list[PushResult]:
        inside.set()
        leave.wait(5)
        return [PushResult(external_id="T-C-1")]

    scripted.script.append(slow)
    first = threading.Thread(target=runtime.sync.process, args=("scripted", [("customer", "C-1")]))
    first.start()
    assert inside.wait(5)
    put(runtime, "C-1", "نسخه دوم")
    second = runtime.sync.process("scripted", [("customer", "C-1")])
    leave.set()
    first.join(5)
    assert second.pushed == 0 and not scripted.documents


def test_an_expired_lease_is_taken_over_and_the_late_worker_records_nothing(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    now = utcnow()
    (claim,), _ = runtime.sync._claim("scripted", [("customer", "C-1")], "stale", now, 1)
    taken = runtime.sync.process("scripted", [("customer", "C-1")], now=now + timedelta(seconds=6))
    assert taken.pushed == 1
    # The first worker wakes up and reports a failure: its lease is gone, nothing changes.
    late = Outcome()
    failure = _Result(claim, error=TransientError("target was slow"))
    runtime.sync._finalize("scripted", "stale", [failure], late)
    row = state(runtime, "C-1")
    assert row.state == "synced" and row.lease_owner is None and row.last_error is None


def test_a_delivery_whose_record_is_gone_ends_dead_and_the_others_of_its_batch_are_pushed(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    """A claim comes back without its record when the record's row is gone.

    On PostgreSQL the claim and the load are one statement, joined to the records' table.
    """
    put(runtime, "C-1")
    put(runtime, "C-2")
    table = KINDS["customers"].table.__table__
    with runtime.engine.begin() as connection:
        connection.execute(table.delete().where(table.c.id == "C-1"))
    outcome = runtime.sync.process("scripted", [("customer", "C-1"), ("customer", "C-2")])
    assert (outcome.pushed, outcome.dead) == (1, 1)
    assert [document.id for document in scripted.documents] == ["C-2"]
    gone = state(runtime, "C-1")
    assert (gone.state, gone.error_class) == ("dead", "missing-record")
    assert gone.last_error == "customer 'C-1' does not exist"
    assert state(runtime, "C-2").state == "synced"


def test_mapping_errors_are_permanent(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    class Broken(ScriptedPlugin):
        from core import hookimpl

        @hookimpl
        def crm_sync_map_record(self, context: Any, record: Any) -> dict[str, Any]:
            raise KeyError("missing account")

    broken = Broken()
    runtime = make_runtime(make_settings(), {"scripted": broken})
    put(runtime, "C-1")
    runtime.sync.process("scripted", [("customer", "C-1")])
    row = state(runtime, "C-1")
    assert row.state == "dead" and "mapping failed: KeyError" in (row.last_error or "")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batching_plugin_drains_a_backlog_in_batches_with_per_document_results(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    backend: str,
) -> None:
    batching = ScriptedPlugin(max_batch=10)
    overrides = (
        {"database_url": request.getfixturevalue("postgres_url")} if backend != "sqlite" else {}
    )
    runtime = make_runtime(make_settings(**overrides), {"scripted": batching})
    for number in range(25):
        put(runtime, f"C-{number:02d}")

    def one_refused(documents: list[Any]) -> list[PushResult]:
        batching.pushes.append(list(documents))
        return [
            PushResult(error=PermanentError("refused"))
            if d.id == "C-03"
            else PushResult(external_id=d.id)
            for d in documents
        ]

    batching.script.append(one_refused)
    first = runtime.sync.process("scripted", [("customer", "C-24")])
    assert len(batching.pushes[0]) == 10 and first.pushed == 9 and first.dead == 1
    assert "C-24" in {document.id for document in batching.pushes[0]}
    while runtime.sync.process("scripted", []).pushed:
        pass
    assert [len(push) for push in batching.pushes] == [10, 10, 5]
    states = {row: state(runtime, row).state for row in (f"C-{n:02d}" for n in range(25))}
    assert states.pop("C-03") == "dead"
    assert set(states.values()) == {"synced"}
    with runtime.engine.connect() as connection:
        attempts = connection.execute(
            select(
                Attempt.record_id,
                Attempt.version,
                Attempt.attempt,
                Attempt.outcome,
                Attempt.error_class,
                Attempt.error,
                Attempt.answer,
                Attempt.duration_ms,
            ).order_by(Attempt.record_id)
        ).all()
    assert [row.record_id for row in attempts] == [f"C-{n:02d}" for n in range(25)]
    assert {(row.version, row.attempt) for row in attempts} == {(1, 1)}
    assert all(row.duration_ms is not None and row.duration_ms >= 0 for row in attempts)
    refused = attempts[3]
    assert (refused.outcome, refused.error_class) == ("dead", "rejected")
    assert "refused" in (refused.error or "") and refused.answer is None
    others = attempts[:3] + attempts[4:]
    assert {row.outcome for row in others} == {"synced"}
    # The first batch answered with the record's id, the later ones with the default T-id.
    first_batch = {document.id for document in batching.pushes[0]}
    assert all(
        row.answer == f"external id {'' if row.record_id in first_batch else 'T-'}{row.record_id}"
        for row in others
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_record_changed_during_a_batch_is_pushed_again_and_the_others_are_synced(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    backend: str,
) -> None:
    batching = ScriptedPlugin(max_batch=10)
    overrides = (
        {"database_url": request.getfixturevalue("postgres_url")} if backend != "sqlite" else {}
    )
    runtime = make_runtime(make_settings(**overrides), {"scripted": batching})
    for number in range(10):
        put(runtime, f"C-{number:02d}")

    def changed_meanwhile(documents: list[Any]) -> list[PushResult]:
        batching.pushes.append(list(documents))
        put(runtime, "C-05", "نام تازه")
        return [PushResult(external_id=f"X-{d.id}") for d in documents]

    batching.script.append(changed_meanwhile)
    outcome = runtime.sync.process("scripted", [("customer", "C-00")])
    assert outcome.pushed == 10 and outcome.again == [("customer", "C-05")]
    rows = {n: state(runtime, f"C-{n:02d}") for n in range(10)}
    assert (rows[5].state, rows[5].synced_version, rows[5].wanted_version) == ("pending", 1, 2)
    assert all(
        (row.state, row.synced_version, row.external_id) == ("synced", 1, f"X-C-{n:02d}")
        for n, row in rows.items()
        if n != 5
    )
    assert all(row.lease_owner is None and row.attempts == 0 for row in rows.values())
    again = runtime.sync.process("scripted", outcome.again)
    assert again.pushed == 1 and [d.version for d in batching.pushes[-1]] == [2]
    assert (state(runtime, "C-05").state, state(runtime, "C-05").synced_version) == ("synced", 2)


def test_records_without_subscribers_queue_nothing(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    runtime = make_runtime(make_settings(), {"scripted": ScriptedPlugin(subscriptions=("lead",))})
    put(runtime, "C-1")
    with runtime.engine.connect() as connection:
        assert connection.execute(select(SyncState.__table__)).all() == []


def test_due_time_is_stored_in_utc(runtime: SyncRuntime) -> None:
    put(runtime, "C-1")
    assert isinstance(state(runtime, "C-1").due_at, datetime)
    assert state(runtime, "C-1").due_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("name", ["cases", "surveys", "subscriptions"])
def test_service_and_revenue_records_sync_like_every_record(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    name: str,
) -> None:
    kind = KINDS[name]
    plugin = ScriptedPlugin(subscriptions=(kind.type,))
    runtime = make_runtime(make_settings(), {"scripted": plugin})
    record = kind.schema.model_validate(sample(name))
    subscribers = runtime.host.subscribers(kind.type)
    assert subscribers == ["scripted"]
    write_record(runtime.engine, kind, "R-1", record, subscribers=subscribers)
    outcome = runtime.sync.process("scripted", [(kind.type, "R-1")])
    assert outcome.pushed == 1
    [[document]] = plugin.pushes
    assert (document.type, document.id, document.version) == (kind.type, "R-1", 1)
    assert document.payload == {"name": None, "version": 1}
