"""Working minutes computed by the database agree with the Python clock, on SQLite and PostgreSQL.

Random spans over holidays, Thursdays and Fridays, in Tehran (UTC+03:30) and in Tokyo
(UTC+09:00, where office hours cross UTC midnight, so a UTC day meets two working
intervals); the mean and median per group are checked against
:class:`kpis.working_time.WorkingClock` and :mod:`statistics`.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, insert, select

from core.db.engine import create_db_engine
from core.db.types import UTCDateTime
from kpis.working_sql import working_days, working_durations
from kpis.working_time import WorkingClock
from lead_scoring.assignment.rules import CalendarRules
from tests.kpis.conftest import database, tehran

CALENDAR = CalendarRules(
    hours="08:00-17:00", thursday="08:00-13:00", holidays=["1404-07-05", "1404-01-01"]
).build()
SPANS = Table(
    "spans",
    MetaData(),
    Column("group_key", String(8)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with a table of spans."""
    with database(request.param, tmp_path) as url:
        built = create_db_engine(url)
        SPANS.create(built)
        yield built
        built.dispose()


def spans(seed: int) -> list[dict[str, object]]:
    """Random spans of up to a month, some unanswered, some answered before they start."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for n in range(400):
        start = tehran(3, 1) + timedelta(seconds=rng.randrange(0, 400 * 86_400))
        stop: datetime | None = start + timedelta(
            seconds=rng.choice([300, 5_400, 36_000, 180_000, 2_400_000]) * rng.random()
        )
        if n % 17 == 0:
            stop = None
        elif n % 23 == 0:
            stop = start - timedelta(hours=3)
        rows.append({"group_key": f"g{n % 3}", "started_at": start, "stopped_at": stop})
    return rows


@pytest.mark.parametrize("zone", ["Asia/Tehran", "Asia/Tokyo"])
def test_the_database_agrees_with_the_clock(engine: Engine, zone: str) -> None:
    rows = spans(11)
    with engine.begin() as connection:
        connection.execute(insert(SPANS), rows)
    clock = WorkingClock(CALENDAR, zone)
    expected: dict[str, list[float]] = {}
    unanswered: dict[str, int] = {}
    for row in rows:
        group, start, stop = row["group_key"], row["started_at"], row["stopped_at"]
        assert isinstance(group, str) and isinstance(start, datetime)
        expected.setdefault(group, [])
        unanswered[group] = unanswered.get(group, 0) + (stop is None)
        if isinstance(stop, datetime):
            expected[group].append(clock.minutes(start, stop))
    with engine.connect() as connection:
        stops = [row["stopped_at"] for row in rows if isinstance(row["stopped_at"], datetime)]
        between = (min(r["started_at"] for r in rows), max(stops))  # type: ignore[type-var]
        found = working_durations(connection, select(SPANS).subquery(), CALENDAR, zone, between)
    assert {group for group, *_ in found} == set(expected)
    for group, mean, median, answered, missing in found:
        assert mean == pytest.approx(statistics.fmean(expected[group]), abs=1e-6)
        assert median == pytest.approx(statistics.median(expected[group]), abs=1e-6)
        assert (answered, missing) == (len(expected[group]), unanswered[group])


def test_nothing_to_measure_is_no_rows(engine: Engine) -> None:
    with engine.connect() as connection:
        subquery, between = select(SPANS).subquery(), (tehran(3, 1), tehran(4, 1))
        assert working_durations(connection, subquery, CALENDAR, "Asia/Tehran", between) == []


def test_a_utc_day_in_tokyo_holds_the_end_of_one_working_day_and_the_start_of_the_next() -> None:
    # Tokyo's 08:00-17:00 is 23:00-08:00 UTC: UTC day 20,000 holds 00:00-08:00 and 23:00-24:00.
    every_day = ["saturday", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday"]
    calendar = CalendarRules(hours="08:00-17:00", workdays=every_day).build()
    ((day, before, a1, b1, a2, b2),) = working_days(calendar, "Asia/Tokyo", 20_000, 20_000)
    start = 20_000 * 86_400
    assert (day, before) == (20_000, 0)
    assert (a1 - start, b1 - start, a2 - start, b2 - start) == (0, 8 * 3600, 23 * 3600, 86_400)
