"""Reporting periods: a Jalali or Gregorian month, quarter or year, cut at local midnight.

A period is written the way people say it: ``1404-07`` (Mehr 1404), ``1404-Q3``,
``1404``, or in the Gregorian calendar ``2025-10``, ``2025-Q4``, ``2025``. A year below
1700 is Jalali. Persian digits are accepted. Days start at midnight in the reporting
time zone (Asia/Tehran by default), so a lead created at 23:50 Tehran time on the last
day of Shahrivar (20:20 UTC) belongs to Shahrivar, whatever UTC says. The bounds are
instants: ``[start, end)`` in UTC, which every query compares with UTC columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from core.locale import from_jalali, normalize_digits, to_jalali

Calendar = Literal["jalali", "gregorian"]
Unit = Literal["month", "quarter", "year"]

#: The zone periods are cut in unless the caller names another.
DEFAULT_TIME_ZONE = "Asia/Tehran"
_PATTERN = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|[Qq]([1-4])))?$")
#: Years below this are Jalali.
_JALALI_BELOW = 1700


class PeriodError(ValueError):
    """A period that cannot be read, or that does not exist."""


def _first_day(calendar: Calendar, year: int, month: int) -> date:
    """The Gregorian date of the first day of ``year``-``month`` in ``calendar``."""
    if calendar == "jalali":
        return from_jalali(year, month, 1)
    return date(year, month, 1)


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    """``year``-``month`` moved by ``months`` (negative moves back)."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class Period:
    """One reporting period: its calendar, unit, first month and time zone."""

    calendar: Calendar
    unit: Unit
    year: int
    month: int
    time_zone: str = DEFAULT_TIME_ZONE

    @property
    def months(self) -> int:
        """How many months the period spans."""
        return {"month": 1, "quarter": 3, "year": 12}[self.unit]

    @property
    def label(self) -> str:
        """The period written as it is parsed: ``1404-07``, ``1404-Q3``, ``1404``."""
        if self.unit == "year":
            return f"{self.year:04d}"
        if self.unit == "quarter":
            return f"{self.year:04d}-Q{(self.month - 1) // 3 + 1}"
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        """The period's first day (Gregorian date)."""
        return _first_day(self.calendar, self.year, self.month)

    @property
    def end_day(self) -> date:
        """The day after the period's last day (Gregorian date)."""
        year, month = _shift(self.year, self.month, self.months)
        return _first_day(self.calendar, year, month)

    def _instant(self, day: date) -> datetime:
        return datetime.combine(day, time(0), ZoneInfo(self.time_zone)).astimezone(UTC)

    @property
    def start(self) -> datetime:
        """The first instant of the period, in UTC."""
        return self._instant(self.first_day)

    @property
    def end(self) -> datetime:
        """The first instant after the period, in UTC."""
        return self._instant(self.end_day)

    def previous(self) -> Period:
        """The period of the same unit just before this one (Mehr -> Shahrivar)."""
        year, month = _shift(self.year, self.month, -self.months)
        return Period(self.calendar, self.unit, year, month, self.time_zone)

    def trend(self, count: int) -> list[Period]:
        """The period and the ``count - 1`` before it, oldest first (for sparklines)."""
        periods = [self]
        for _ in range(count - 1):
            periods.append(periods[-1].previous())
        return periods[::-1]

    def month_periods(self) -> list[Period]:
        """The months the period is made of, in order."""
        return [
            Period(self.calendar, "month", *_shift(self.year, self.month, i), self.time_zone)
            for i in range(self.months)
        ]


def parse_period(text: str, *, time_zone: str = DEFAULT_TIME_ZONE) -> Period:
    """Read ``1404-07``, ``1404-Q3``, ``1404``, ``2025-10``...; PeriodError when impossible."""
    written = normalize_digits(text.strip())
    match = _PATTERN.match(written)
    if match is None:
        raise PeriodError(
            f"period {text!r} must look like 1404-07 (a month), 1404-Q3 (a quarter) or 1404 "
            "(a year); a year below 1700 is Jalali"
        )
    year = int(match.group(1))
    calendar: Calendar = "jalali" if year < _JALALI_BELOW else "gregorian"
    unit: Unit
    if match.group(2) is not None:
        unit, month = "month", int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: month {month} does not exist (1 to 12)")
    elif match.group(3) is not None:
        unit, month = "quarter", (int(match.group(3)) - 1) * 3 + 1
    else:
        unit, month = "year", 1
    try:
        ZoneInfo(time_zone)
        period = Period(calendar, unit, year, month, time_zone)
        period.first_day  # noqa: B018  (checks the year is within the calendar's range)
        period.end_day  # noqa: B018
    except (ValueError, KeyError) as error:
        raise PeriodError(f"period {text!r}: {error}") from None
    return period


def current_period(
    now: datetime,
    *,
    calendar: Calendar = "jalali",
    unit: Unit = "month",
    time_zone: str = "Asia/Tehran",
) -> Period:
    """The ``unit`` of ``calendar`` that holds the instant ``now`` in ``time_zone``."""
    local = now.astimezone(ZoneInfo(time_zone)).date()
    year, month = to_jalali(local)[:2] if calendar == "jalali" else (local.year, local.month)
    if unit == "quarter":
        month = (month - 1) // 3 * 3 + 1
    elif unit == "year":
        month = 1
    return Period(calendar, unit, year, month, time_zone)


__all__ = ["DEFAULT_TIME_ZONE", "Period", "PeriodError", "current_period", "parse_period"]
