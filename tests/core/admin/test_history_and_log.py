"""Snapshots and roll-ups, the attempts log and its cap, error classes, filters, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from core import (
    HoldSending,
    MappingError,
    PermanentError,
    RateLimited,
    TransientError,
    WaitingFor,
)
from core.admin.audit import Actor, entries, record
from core.admin.filters import DeliveryFilter, FilterError, parse_time
from core.admin.overview import last_hour
from core.admin.snapshots import (
    DAY_ROWS,
    HOUR_ROWS,
    MINUTE_ROWS,
    forget_old,
    history,
    take_snapshot,
)
from core.db.admin_tables import OUT, Attempt, QueueSnapshot
from core.db.engine import reading
from core.sync.attempts import prune_attempts
from core.sync.error_class import error_class, message_class
from core.sync.runtime import SyncRuntime
from tests.core.admin.conftest import fail, put
from tests.core.scripted_plugin import ScriptedPlugin

TEHRAN = ZoneInfo("Asia/Tehran")


def test_a_snapshot_per_minute_rolls_up_into_its_hour_and_day(
    console_runtime: SyncRuntime,
) -> None:
    engine = console_runtime.engine
    with reading(engine) as connection:
        newest = connection.execute(select(func.max(Attempt.finished_at))).scalar_one()
    minute = newest.replace(second=0, microsecond=0)
    if minute.minute == 59:  # the next minute must fall in the same hour and day
        minute -= timedelta(minutes=1)
    with engine.begin() as connection:  # seeding may straddle a minute on a slow machine
        connection.execute(update(Attempt).values(finished_at=minute + timedelta(seconds=30)))
    assert take_snapshot(engine, minute=minute) == 1
    assert take_snapshot(engine, minute=minute) == 0, "a minute is never counted twice"
    later = minute + timedelta(minutes=1)
    put(console_runtime, "LATER")
    take_snapshot(engine, minute=later)
    [first, second] = history(engine, OUT, "scripted", MINUTE_ROWS, minute - timedelta(hours=1))
    assert (first.depth, first.dead, first.done, first.failures) == (3, 6, 2, 9)
    assert (second.depth, second.done) == (4, 0)
    [hour] = history(engine, OUT, "scripted", HOUR_ROWS, minute - timedelta(days=1))
    assert (hour.depth, hour.done, hour.failures) == (4, 2, 9), "largest depth, summed counts"
    [day, *_] = history(engine, OUT, "scripted", DAY_ROWS, minute - timedelta(days=2))
    assert day.done == 2
    with reading(engine) as connection:
        hour_rows = last_hour(connection, later + timedelta(seconds=30))
    assert hour_rows[(OUT, "scripted")] == (2, 9, 11)


def test_old_history_is_forgotten(console_runtime: SyncRuntime) -> None:
    engine = console_runtime.engine
    old = datetime(2020, 1, 1, tzinfo=UTC)
    take_snapshot(engine, minute=old, now=old)
    settings = console_runtime.settings.console
    assert forget_old(engine, settings) >= 3
    with reading(engine) as connection:
        assert connection.execute(select(func.count()).select_from(QueueSnapshot)).scalar() == 0


def test_every_attempt_is_logged_with_outcome_class_and_duration(
    console_runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    with reading(console_runtime.engine) as connection:
        rows = connection.execute(
            select(Attempt.record_id, Attempt.outcome, Attempt.error_class, Attempt.duration_ms)
        ).all()
    outcomes = {(row.record_id[:3], row.outcome, row.error_class) for row in rows}
    assert outcomes == {
        ("TAX", "dead", "http-422"),
        ("SLO", "retry", "timeout"),
        ("OK-", "synced", None),
    }
    assert all(row.duration_ms is not None for row in rows)


def test_the_attempts_log_keeps_the_newest_per_delivery(
    console_runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    engine = console_runtime.engine
    put(console_runtime, "MANY")
    for _ in range(6):
        fail(console_runtime, scripted, "MANY", TransientError("HTTP 503 from erp: busy"))
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE sync_state SET due_at = last_attempt_at WHERE record_id = 'MANY'")
            )
    deleted, newest = prune_attempts(engine, keep=3, older_than=datetime(2000, 1, 1, tzinfo=UTC))
    assert deleted == 1, "only MANY had more than three (it has four: attempts 4 give up)"
    with reading(engine) as connection:
        kept = (
            connection.execute(
                select(Attempt.attempt).where(Attempt.record_id == "MANY").order_by(Attempt.id)
            )
            .scalars()
            .all()
        )
    assert kept == [2, 3, 4]
    assert (
        prune_attempts(
            engine, keep=3, older_than=datetime(2000, 1, 1, tzinfo=UTC), since_id=newest
        )[0]
        == 0
    )


@pytest.mark.parametrize(
    ("error", "klass"),
    [
        (PermanentError("HTTP 422 from erp: unknown tax code"), "http-422"),
        (TransientError("HTTP 503 from erp: busy"), "http-503"),
        (TransientError("timed out: ReadTimeout"), "timeout"),
        (TransientError("connection failed: ConnectError: refused"), "connection"),
        (MappingError("no product code"), "mapping"),
        (PermanentError("mapping failed: KeyError: 'sku'"), "mapping"),
        (PermanentError("customer 'C-9' does not exist"), "missing-record"),
        (PermanentError("plugin error: ValueError: nope"), "plugin"),
        (HoldSending("token expired"), "held"),
        (PermanentError("gave up after 12 attempts: timed out: ReadTimeout"), "timeout"),
        (
            PermanentError("gave up after 3 attempts: the worker stopped during every attempt"),
            "worker-crash",
        ),
        (PermanentError("the ERP said no"), "rejected"),
        (TransientError("try later"), "transient"),
        (WaitingFor("finance", "no confirmed sale"), "waiting-finance"),
        (WaitingFor("erp_2", "no confirmed sale"), "waiting"),
        (RateLimited("at most 80 messages a second", seconds=0.5), "waiting"),
        (
            PermanentError("gave up after 3 attempts: waiting on finance: no sale"),
            "waiting-finance",
        ),
    ],
)
def test_error_classes(error: Exception, klass: str) -> None:
    assert error_class(error) == klass  # type: ignore[arg-type]
    assert message_class("HTTP 404 from x") == "http-404"


def test_times_people_type_in_either_calendar_and_digits() -> None:
    gregorian = parse_time("2024-03-20 14:30", TEHRAN)
    assert gregorian == datetime(2024, 3, 20, 11, 0, tzinfo=UTC)
    assert parse_time("۱۴۰۳/۰۱/۰۱ ۱۴:۳۰", TEHRAN) == gregorian
    assert parse_time("1403-01-01T14:30+03:30", TEHRAN) == gregorian
    for bad in ("yesterday", "1403/13/01", "2024-02-30"):
        with pytest.raises(FilterError):
            parse_time(bad, TEHRAN)


def test_a_filter_takes_a_kind_by_its_url_name_or_its_type_and_lists_the_valid_ones() -> None:
    assert DeliveryFilter.parse({"kind": "customers"}, TEHRAN).kind == "customer"
    assert DeliveryFilter.parse({"kind": "customer"}, TEHRAN).kind == "customer"
    with pytest.raises(FilterError) as refused:
        DeliveryFilter.parse({"kind": "nonsense"}, TEHRAN)
    assert refused.value.field == "kind"
    listed = "unknown kind 'nonsense'; one of agents, cases, contacts, customers"
    assert listed in refused.value.message


def test_a_filter_round_trips_through_json() -> None:
    criteria = DeliveryFilter.parse(
        {"list": "retry", "plugin": "finance", "error": "  tax ", "since": "1403/01/01"}, TEHRAN
    )
    assert criteria.error == "tax"
    assert DeliveryFilter.from_dict(criteria.to_dict()) == criteria


def test_the_audit_refuses_changes_on_the_database_itself(console_runtime: SyncRuntime) -> None:
    engine = console_runtime.engine
    with engine.begin() as connection:
        record(connection, Actor("ops", "admin", "cli", "host"), "retry", rows=3, reason="x")
    for statement in ("UPDATE audit_log SET rows = 0", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    [entry] = entries(engine)
    assert (entry.actor, entry.rows, entry.reason) == ("ops", 3, "x")
