"""The customer trend as export rows: one a period, its start in ISO 8601 and in Jalali."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.locale import format_jalali
from kpis.customers import CustomerCounts

TREND_HEADER = (
    "period",
    "start",
    "start_jalali",
    "new",
    "returning",
    "won_back",
    "lost",
    "active",
    "active_at_start",
    "lost_rate",
)


def trend_rows(trend: list[CustomerCounts]) -> Iterator[tuple[Any, ...]]:
    """The header, then each period of ``trend``; no data as an empty cell."""
    yield TREND_HEADER
    for c in trend:
        yield (
            c.period.label,
            c.period.start.isoformat().replace("+00:00", "Z"),
            format_jalali(c.period.first_day),
            c.new,
            c.returning,
            c.won_back,
            c.lost,
            c.active,
            c.active_at_start,
            c.lost_rate,
        )


__all__ = ["TREND_HEADER", "trend_rows"]
