"""The overview's counts come from counts the database keeps; they equal a direct count."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from core import PermanentError, WaitingFor
from core.admin.actions import PURGE, RETRY, act_on_deliveries
from core.admin.audit import Actor
from core.admin.overview import IN_FLIGHT, WAITING_ON, HealthCache, overview
from core.admin.state_counts import fold_state_counts, state_counts
from core.db.admin_tables import IN, OUT, StateCount
from core.db.engine import reading
from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import FAILED, PENDING, SyncState
from core.db.types import utcnow
from core.sync.admin import QueueCount, queue_counts
from core.sync.runtime import SyncRuntime
from tests.core.admin.conftest import fail, put
from tests.core.scripted_plugin import ScriptedPlugin

ACTOR = Actor("ops", "admin", "cli", "host")


def direct(
    connection: Connection, table: type[SyncState] | type[InboxEvent]
) -> dict[str, Counter[str]]:
    """Per plugin, the rows of ``table`` in each state, counted row by row."""
    counts: dict[str, Counter[str]] = {}
    for plugin, state in connection.execute(select(table.plugin, table.state)):
        counts.setdefault(plugin, Counter())[state] += 1
    return counts


def assert_exact(runtime: SyncRuntime) -> None:
    """The kept counts of both directions equal a direct count of the queue tables."""
    with reading(runtime.engine) as connection:
        for direction, table in ((OUT, SyncState), (IN, InboxEvent)):
            kept = state_counts(connection, direction)
            assert kept == {plugin: dict(c) for plugin, c in direct(connection, table).items()}


def mix_of_changes(runtime: SyncRuntime, scripted: ScriptedPlugin) -> None:
    """Inserts, updates by the engine and by admins, upserts, deletes, on both tables."""
    engine = runtime.engine
    put(runtime, "NEW-1")
    put(runtime, "NEW-2")
    put(runtime, "OK-0", name="changed")  # synced -> pending through the upsert
    fail(runtime, scripted, "NEW-1", WaitingFor("finance", "no confirmed sale"))
    fail(runtime, scripted, "NEW-2", PermanentError("HTTP 400: bad"))
    act_on_deliveries(engine, RETRY, [("scripted", "customer", "TAX-0")], ACTOR, reason="x")
    act_on_deliveries(engine, PURGE, [("scripted", "customer", "TAX-1")], ACTOR, reason="x")
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            update(SyncState)
            .where(SyncState.record_id == "SLOW-0")
            .values(lease_owner="w", lease_until=now + timedelta(minutes=5))
        )
        connection.execute(delete(SyncState).where(SyncState.record_id == "TAX-2"))
        connection.execute(
            insert(InboxEvent),
            [
                {
                    "plugin": plugin,
                    "event_id": f"E{number}",
                    "type": "invoice.paid",
                    "payload": {},
                    "received_at": now,
                    "state": PENDING,
                    "attempts": 0,
                    "due_at": now,
                }
                for number, plugin in enumerate(["finance"] * 4 + ["inventory"] * 2)
            ],
        )
        connection.execute(
            update(InboxEvent).where(InboxEvent.event_id.in_(["E0", "E1"])).values(state="applied")
        )
        connection.execute(
            update(InboxEvent).where(InboxEvent.event_id == "E2").values(state="dead")
        )
        connection.execute(delete(InboxEvent).where(InboxEvent.event_id == "E4"))
        connection.execute(
            update(SyncState).where(SyncState.record_id == "TAX-3").values(plugin="moved")
        )


def test_the_kept_counts_equal_a_direct_count_after_a_mix_of_changes(
    console_runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    assert_exact(console_runtime)
    mix_of_changes(console_runtime, scripted)
    assert_exact(console_runtime)
    with reading(console_runtime.engine) as connection:
        appended = connection.execute(select(func.count()).select_from(StateCount)).scalar_one()
    left = fold_state_counts(console_runtime.engine)
    assert left < appended
    with reading(console_runtime.engine) as connection:
        keys = connection.execute(
            select(StateCount.direction, StateCount.plugin, StateCount.state)
        ).all()
    assert len(keys) == len(set(keys)) == left, "one row per state after a fold"
    assert_exact(console_runtime)
    put(console_runtime, "AFTER-FOLD")  # one more pending: a state that has its row
    assert fold_state_counts(console_runtime.engine) == left
    assert_exact(console_runtime)


def test_the_queue_list_equals_a_scan_of_the_queue_after_a_mix_of_changes(
    console_runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    mix_of_changes(console_runtime, scripted)
    scan = (
        select(SyncState.plugin, SyncState.state, func.count(), func.min(SyncState.due_at))
        .group_by(SyncState.plugin, SyncState.state)
        .order_by(SyncState.plugin, SyncState.state)
    )
    with reading(console_runtime.engine) as connection:
        scanned = [QueueCount(*row) for row in connection.execute(scan)]
    listed = queue_counts(console_runtime.engine)
    assert listed == scanned
    assert {count.state for count in listed} >= {PENDING, FAILED}
    assert all(count.oldest_due is not None for count in listed if count.state == PENDING)


def test_the_overview_splits_the_kept_counts_exactly(
    console_runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    mix_of_changes(console_runtime, scripted)
    fold_state_counts(console_runtime.engine)
    put(console_runtime, "SLOW-1", name="changed again")  # appended after the fold
    now = utcnow()
    with reading(console_runtime.engine) as connection:
        rows = connection.execute(
            select(SyncState.plugin, SyncState.state, SyncState.lease_until, SyncState.error_class)
        ).all()
        inbound = direct(connection, InboxEvent)
    expected: dict[str, Counter[str]] = {}
    for plugin, state, lease_until, klass in rows:
        shown = state
        if state in (PENDING, FAILED) and lease_until is not None and lease_until > now:
            shown = IN_FLIGHT
        elif state == FAILED and (klass or "").startswith("waiting-"):
            shown = f"{WAITING_ON}{klass.removeprefix('waiting-')}"
        expected.setdefault(plugin, Counter())[shown] += 1
    figures = overview(console_runtime.engine, console_runtime.host, HealthCache(30), now=now)
    shown_out = {item.plugin: item.outbound.states for item in figures if item.outbound.states}
    shown_in = {item.plugin: item.inbound.states for item in figures if item.inbound.states}
    assert shown_out == {plugin: dict(counts) for plugin, counts in expected.items()}
    assert shown_in == {plugin: dict(counts) for plugin, counts in inbound.items()}
    assert shown_out["scripted"][IN_FLIGHT] == 1
    assert shown_out["scripted"][f"{WAITING_ON}finance"] == 1


def test_a_change_that_fails_or_rolls_back_leaves_the_counts_as_they_were(
    console_runtime: SyncRuntime,
) -> None:
    engine = console_runtime.engine
    with reading(engine) as connection:
        before = state_counts(connection, OUT)
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(update(SyncState).values(state="dead"))
        connection.execute(update(SyncState).values(state=None))  # NOT NULL refuses it
    with pytest.raises(RuntimeError, match="changed my mind"), engine.begin() as connection:
        connection.execute(delete(SyncState))
        raise RuntimeError("changed my mind")
    with reading(engine) as connection:
        assert state_counts(connection, OUT) == before
    assert_exact(console_runtime)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_truncating_a_queue_on_postgresql_empties_its_counts(
    console_runtime: SyncRuntime,
) -> None:
    with console_runtime.engine.begin() as connection:
        connection.execute(text("TRUNCATE sync_state"))
    assert_exact(console_runtime)
    put(console_runtime, "AFTER-TRUNCATE")
    with reading(console_runtime.engine) as connection:
        assert state_counts(connection, OUT) == {"scripted": {PENDING: 1}}
    assert_exact(console_runtime)
