"""Business hours: whether an agent is at work, and deadlines counted in working time.

An Iranian office week runs Saturday to Wednesday, with Thursday often a half day and
Friday off; public holidays follow the Jalali calendar. Deadlines ("answer within 15
minutes") only count time inside working hours in the agent's own time zone, so a lead
arriving on Thursday evening is due early on Saturday, not at 18:15 on Thursday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: How far ahead a deadline is searched for before the calendar is declared closed.
MAX_DAYS = 400


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday (Monday = 0) and the holidays, all in local time."""

    hours: dict[int, tuple[time, time]]
    holidays: frozenset[date]

    def interval(self, day: date) -> tuple[time, time] | None:
        """The working hours of ``day``, or None when it is a day off or a holiday."""
        if day in self.holidays:
            return None
        return self.hours.get(day.weekday())

    def is_open(self, at: datetime, time_zone: str) -> bool:
        """Whether ``at`` falls inside working hours in ``time_zone``."""
        local = at.astimezone(ZoneInfo(time_zone))
        hours = self.interval(local.date())
        return hours is not None and hours[0] <= local.time().replace(tzinfo=None) < hours[1]

    def add(self, start: datetime, minutes: float, time_zone: str) -> datetime:
        """The moment ``minutes`` of working time after ``start`` in ``time_zone`` (in UTC).

        Time outside working hours does not count: a clock started after closing
        begins at the next opening. Raises ValueError when no working time exists in
        the next ``MAX_DAYS`` days (a calendar with every day off).
        """
        zone = ZoneInfo(time_zone)
        remaining = timedelta(minutes=minutes)
        local = start.astimezone(zone)
        day = local.date()
        for _ in range(MAX_DAYS):
            hours = self.interval(day)
            if hours is not None:
                opens = datetime.combine(day, hours[0], zone)
                closes = datetime.combine(day, hours[1], zone)
                begin = max(local, opens)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return (begin.astimezone(UTC) + remaining).astimezone(UTC)
                    remaining -= available
            day += timedelta(days=1)
        raise ValueError(f"no working hours in the next {MAX_DAYS} days")


__all__ = ["BusinessCalendar"]
