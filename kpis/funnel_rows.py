"""The funnel as export rows: one a stage, the whole period's first, then each source's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.locale import format_jalali
from kpis.funnel import Funnel
from kpis.periods import Period

FUNNEL_HEADER = (
    "period",
    "start",
    "start_jalali",
    "by",
    "group",
    "stage",
    "leads",
    "drop_off_percent",
    "median_days",
    "timed",
)


def funnel_rows(
    period: Period, whole: Funnel, groups: list[Funnel], by: str | None
) -> Iterator[tuple[Any, ...]]:
    """The header, then every stage of the whole funnel and of each group; no data empty."""
    head = (
        period.label,
        period.start.isoformat().replace("+00:00", "Z"),
        format_jalali(period.first_day),
    )
    yield FUNNEL_HEADER
    for found, dimension in [(whole, None), *((group, by) for group in groups)]:
        for stage in found.stages:
            yield (
                *head,
                dimension,
                found.key,
                stage.name,
                stage.count,
                stage.drop_off,
                stage.median_days,
                stage.timed,
            )


__all__ = ["FUNNEL_HEADER", "funnel_rows"]
