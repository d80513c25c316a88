"""Periods cut at Tehran midnight, in the Jalali or the Gregorian calendar, and working time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kpis.periods import PeriodError, current_period, parse_period
from kpis.working_time import WorkingClock, working_minutes
from lead_scoring.assignment.rules import CalendarRules
from tests.kpis.conftest import CALENDAR, tehran


def test_a_jalali_month_runs_between_tehran_midnights() -> None:
    mehr = parse_period("1404-07")
    assert (mehr.calendar, mehr.unit, mehr.label) == ("jalali", "month", "1404-07")
    assert mehr.start == datetime(2025, 9, 22, 20, 30, tzinfo=UTC)
    assert mehr.end == datetime(2025, 10, 22, 20, 30, tzinfo=UTC)
    assert mehr.previous().label == "1404-06"
    assert parse_period("1404-01").previous().label == "1403-12"


def test_esfand_of_a_leap_year_has_thirty_days() -> None:
    esfand = parse_period("1403-12")
    assert (esfand.end_day - esfand.first_day).days == 30
    assert (parse_period("1404-12").end_day - parse_period("1404-12").first_day).days == 29


def test_quarters_years_and_gregorian_periods() -> None:
    quarter = parse_period("۱۴۰۴-Q3")
    assert quarter.label == "1404-Q3"
    assert [m.label for m in quarter.month_periods()] == ["1404-07", "1404-08", "1404-09"]
    assert quarter.previous().label == "1404-Q2"
    assert parse_period("1404-q1").previous().label == "1403-Q4"
    year = parse_period("1404")
    assert year.first_day.isoformat() == "2025-03-21"
    assert year.previous().label == "1403"
    october = parse_period("2025-10")
    assert october.calendar == "gregorian"
    assert october.start == datetime(2025, 9, 30, 20, 30, tzinfo=UTC)
    assert parse_period("2025-10", time_zone="UTC").start == datetime(2025, 10, 1, tzinfo=UTC)
    assert [p.label for p in october.trend(3)] == ["2025-08", "2025-09", "2025-10"]


@pytest.mark.parametrize("text", ["", "1404-13", "1404-00", "1404-Q5", "14047", "mehr", "1404-7-1"])
def test_an_impossible_period_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(PeriodError, match="period"):
        parse_period(text)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(PeriodError, match="Mars/Olympus"):
        parse_period("1404-07", time_zone="Mars/Olympus")


def test_the_current_period_is_the_tehran_one() -> None:
    # 21:00 UTC on 22 September 2025 is 00:30 on 1 Mehr in Tehran.
    now = datetime(2025, 9, 22, 21, 0, tzinfo=UTC)
    assert current_period(now).label == "1404-07"
    assert current_period(now, calendar="gregorian").label == "2025-09"
    assert current_period(now, unit="quarter").label == "1404-Q3"
    assert current_period(now, unit="year", calendar="gregorian").label == "2025"


def test_working_minutes_skip_evenings_fridays_and_holidays() -> None:
    # Thursday 12:50 (closes 13:00) to Saturday 08:05: 10 + 5 minutes.
    assert (
        working_minutes(CALENDAR, tehran(9, 25, 12, 50), tehran(9, 27, 8, 5), "Asia/Tehran") == 15
    )
    # Wednesday 16:00 to Saturday 09:00: 60 + 300 (Thursday) + 60.
    assert working_minutes(CALENDAR, tehran(9, 24, 16), tehran(9, 27, 9), "Asia/Tehran") == 420
    holiday = CalendarRules(hours="08:00-17:00", holidays=["1404-07-05"]).build()
    # 5 Mehr 1404 is Saturday 27 September: the clock waits until Sunday.
    assert working_minutes(holiday, tehran(9, 25, 16), tehran(9, 28, 8, 30), "Asia/Tehran") == 30
    assert working_minutes(CALENDAR, tehran(9, 27, 9), tehran(9, 27, 8), "Asia/Tehran") == 0


def _day_by_day(calendar: Any, start: datetime, stop: datetime) -> float:
    """Working minutes counted one day at a time: the plain reading of the definition."""
    zone = ZoneInfo("Asia/Tehran")
    total, day = 0.0, start.astimezone(zone).date()
    while day <= stop.astimezone(zone).date():
        hours = calendar.interval(day)
        if hours is not None:
            opens = datetime.combine(day, hours[0], zone)
            closes = datetime.combine(day, hours[1], zone)
            begin, end = max(opens, start), min(closes, stop)
            if end > begin:
                total += (end - begin).total_seconds() / 60
        day += timedelta(days=1)
    return total


def test_the_running_sums_agree_with_counting_day_by_day() -> None:
    holidays = CalendarRules(thursday="08:00-13:00", holidays=["1404-07-05", "1404-01-01"]).build()
    clock = WorkingClock(holidays, "Asia/Tehran")
    rng = random.Random(7)
    origin = tehran(6, 1)
    for _ in range(500):
        start = origin + timedelta(minutes=rng.uniform(0, 400 * 24 * 60))
        stop = start + timedelta(minutes=rng.choice([5, 90, 600, 3000, 40000]) * rng.random())
        assert clock.minutes(start, stop) == pytest.approx(_day_by_day(holidays, start, stop))
