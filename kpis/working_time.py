"""Working minutes between two instants, on the business calendar the SLA already uses.

Response-time KPIs count only time inside working hours (lead_scoring's calendar:
Saturday to Wednesday, Thursday's own hours if set, Jalali holidays), so a lead that
arrives on Thursday evening and is answered first thing on Saturday waited a few
working minutes, not a weekend. Time is cut in the calendar's time zone.

:class:`WorkingClock` keeps, per local day, the working minutes of every day before
it (a running sum), so each span costs two look-ups however many days it covers: a
report measures hundreds of thousands of spans.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from lead_scoring.assignment.calendar import BusinessCalendar


class WorkingClock:
    """Working minutes of one calendar in one time zone, with running sums per day."""

    def __init__(self, calendar: BusinessCalendar, time_zone: str) -> None:
        self.calendar = calendar
        self.zone = ZoneInfo(time_zone)
        self._first: date | None = None
        self._before: list[float] = []  # working minutes from _first to each day's start
        self._hours: list[tuple[datetime, datetime] | None] = []

    def _day_hours(self, day: date) -> tuple[datetime, datetime] | None:
        hours = self.calendar.interval(day)
        if hours is None:
            return None
        opens = datetime.combine(day, hours[0], self.zone).astimezone(UTC)
        return opens, datetime.combine(day, hours[1], self.zone).astimezone(UTC)

    def _cover(self, day: date) -> int:
        """Extend the running sums to ``day``; its index."""
        if self._first is None:
            self._first = day
        if day < self._first:
            added = [
                self._day_hours(day + timedelta(days=i)) for i in range((self._first - day).days)
            ]
            sums, total = [], 0.0
            for hours in added:
                sums.append(total)
                total += (hours[1] - hours[0]).total_seconds() / 60 if hours else 0.0
            self._before = sums + [value + total for value in self._before]
            self._hours = added + self._hours
            self._first = day
        while (day - self._first).days >= len(self._before):
            index = len(self._before)
            current = self._first + timedelta(days=index)
            if index == 0:
                self._before.append(0.0)
            else:
                previous = self._hours[index - 1]
                length = (previous[1] - previous[0]).total_seconds() / 60 if previous else 0.0
                self._before.append(self._before[index - 1] + length)
            self._hours.append(self._day_hours(current))
        return (day - self._first).days

    def offset(self, at: datetime) -> float:
        """Working minutes from the first day covered to ``at``."""
        index = self._cover(at.astimezone(self.zone).date())
        total = self._before[index]
        hours = self._hours[index]
        if hours is not None:
            inside = min(max(at, hours[0]), hours[1]) - hours[0]
            total += inside.total_seconds() / 60
        return total

    def minutes(self, start: datetime, stop: datetime) -> float:
        """Working minutes in ``[start, stop)``; 0 when ``stop`` is not after ``start``."""
        if stop <= start:
            return 0.0
        self._cover(start.astimezone(self.zone).date())
        return self.offset(stop) - self.offset(start)


def working_minutes(
    calendar: BusinessCalendar, start: datetime, stop: datetime, time_zone: str
) -> float:
    """Minutes of working time in ``[start, stop)``; 0 when ``stop`` is not after ``start``."""
    return WorkingClock(calendar, time_zone).minutes(start, stop)


__all__ = ["WorkingClock", "working_minutes"]
