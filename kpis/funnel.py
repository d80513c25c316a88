"""The sales funnel of a period: how many of its leads reached each stage, and how fast.

The funnel follows a cohort: the leads created in the period. Each lead counts in
every stage it reached, whenever it reached it (so a lead of Mehr that was won in
Aban counts as won in Mehr's funnel):

- ``lead``: created in the period;
- ``mql``: marketing qualified, at its ``mql_at``, or at its ``qualified_at`` when
  sales qualified it without a marketing qualification (zero days spent as an MQL);
- ``qualified``: sales qualified (SQL), has a ``qualified_at``;
- ``opportunity``: an opportunity was opened from it (``lead_id``);
- ``won``: one of its opportunities was won.

The drop-off between two stages is the share of the earlier stage's leads that did
not reach the next one (no data when the earlier stage is empty). The time spent in
a stage is the median, in days, from entering it to entering the next, over the
leads that did: created to MQL, MQL to qualified, qualified to the first opportunity
opened, the
first opportunity opened to the first one won. A CRM may carry a qualification dated
before the lead's creation (an imported lead): such a span counts as zero days. The
database gives one row per lead of the cohort with its five instants; the medians
are taken here. ``by`` splits the funnel by the lead's source or channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any, Literal

from sqlalchemy import Engine, case, func, select

from core.db.engine import reading
from kpis.queries import WON, Bounds, leads, opportunities

STAGES = ("lead", "mql", "qualified", "opportunity", "won")
FunnelDimension = Literal["source", "channel"]


@dataclass(frozen=True)
class FunnelStage:
    """One stage: the leads that reached it, the drop-off to the next, days spent in it."""

    name: str
    count: int
    drop_off: float | None
    median_days: float | None
    timed: int


@dataclass(frozen=True)
class Funnel:
    """The stages of one cohort (the whole period, or one source of it)."""

    key: str | None
    stages: list[FunnelStage]


def _days(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max((later - earlier).total_seconds() / 86400.0, 0.0)


def _funnel(key: str | None, rows: list[tuple[Any, ...]]) -> Funnel:
    """The stages of ``rows`` (created, MQL, qualified, opened, won per lead)."""
    counts = [sum(1 for row in rows if row[i] is not None) for i in range(len(STAGES))]
    stages = []
    for i, name in enumerate(STAGES):
        last = i == len(STAGES) - 1
        drop_off = None
        if not last and counts[i]:
            drop_off = round((counts[i] - counts[i + 1]) * 100 / counts[i], 1)
        spans = [] if last else [_days(row[i + 1], row[i]) for row in rows]
        timed = [span for span in spans if span is not None]
        stages.append(
            FunnelStage(
                name=name,
                count=counts[i],
                drop_off=drop_off,
                median_days=round(median(timed), 2) if timed else None,
                timed=len(timed),
            )
        )
    return Funnel(key=key, stages=stages)


def funnel(
    engine: Engine, bounds: Bounds, by: FunnelDimension | None = None
) -> tuple[Funnel, list[Funnel]]:
    """The funnel of the leads created in ``bounds``, and per source or channel if ``by`` asks."""
    opened = func.coalesce(opportunities.c.opened_at, opportunities.c.created_at)
    closed = func.coalesce(opportunities.c.closed_at, opportunities.c.updated_at)
    first = (
        select(
            opportunities.c.lead_id.label("lead_id"),
            func.min(opened).label("opened"),
            func.min(case((opportunities.c.status == WON, closed))).label("won"),
        )
        .where(opportunities.c.lead_id.is_not(None))
        .group_by(opportunities.c.lead_id)
        .subquery()
    )
    statement = (
        select(
            leads.c.created_at,
            func.coalesce(leads.c.mql_at, leads.c.qualified_at),
            leads.c.qualified_at,
            first.c.opened,
            first.c.won,
            leads.c.source if by != "channel" else leads.c.channel,
        )
        .select_from(leads.outerjoin(first, first.c.lead_id == leads.c.id))
        .where(leads.c.created_at >= bounds.start, leads.c.created_at < bounds.end)
    )
    with reading(engine) as connection:
        rows = [tuple(row) for row in connection.execute(statement)]
    whole = _funnel(None, [row[:5] for row in rows])
    groups: list[Funnel] = []
    if by is not None:
        keys = sorted({row[5] or "" for row in rows})
        groups = [_funnel(key, [row[:5] for row in rows if (row[5] or "") == key]) for key in keys]
    return whole, groups


__all__ = ["STAGES", "Funnel", "FunnelDimension", "FunnelStage", "funnel"]
