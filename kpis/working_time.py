"""Working minutes between two instants, on the business calendar the SLA already uses.

Response-time KPIs count only time inside working hours (lead_scoring's calendar:
Saturday to Wednesday, Thursday's own hours if set, Jalali holidays), so a lead that
arrives on Thursday evening and is answered first thing on Saturday waited a few
working minutes, not a weekend. Time is cut in the calendar's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from lead_scoring.assignment.calendar import BusinessCalendar


def working_minutes(
    calendar: BusinessCalendar, start: datetime, stop: datetime, time_zone: str
) -> float:
    """Minutes of working time in ``[start, stop)``; 0 when ``stop`` is not after ``start``."""
    if stop <= start:
        return 0.0
    zone = ZoneInfo(time_zone)
    local_start, local_stop = start.astimezone(zone), stop.astimezone(zone)
    total = timedelta()
    day = local_start.date()
    while day <= local_stop.date():
        hours = calendar.interval(day)
        if hours is not None:
            opens = datetime.combine(day, hours[0], zone)
            closes = datetime.combine(day, hours[1], zone)
            begin, end = max(opens, local_start), min(closes, local_stop)
            if end > begin:
                total += end.astimezone(UTC) - begin.astimezone(UTC)
        day += timedelta(days=1)
    return total.total_seconds() / 60


__all__ = ["working_minutes"]
