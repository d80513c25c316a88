"""The service KPI queries: first contact resolution, CSAT and NPS, per group, in the database.

Like :mod:`kpis.queries`, every function takes a read connection, the period's bounds
and the dimension to group by, and returns one row per group. docs/kpis.md states what
each one counts and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from core.db.records import ServiceCaseRow, SurveyAnswerRow
from core.turns import NOT_CONTACT
from kpis.queries import (
    Bounds,
    Dimension,
    _grouped,
    _Grouping,
    _with_team,
    _within,
    agents,
    interactions,
)

cases = ServiceCaseRow.__table__
surveys = SurveyAnswerRow.__table__

RESOLUTION = _Grouping(
    "first_contact_resolution",
    owner=cases.c.owner_id,
    channel=cases.c.channel,
    product_line=cases.c.product_line,
)
SATISFACTION = _Grouping("satisfaction", owner=surveys.c.agent_id, channel=surveys.c.channel)


@dataclass(frozen=True)
class Resolutions:
    """The cases resolved in a period, for one group, by how they were resolved.

    ``first_contact`` took one agent interaction and were never reopened;
    ``with_agent`` took at least one; ``reopened`` were reopened before their last
    resolution; ``untouched`` took none.
    """

    first_contact: int
    with_agent: int
    reopened: int
    untouched: int


def resolutions(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> dict[Any, Resolutions]:
    """Per group: how the cases resolved in the period were resolved (see Resolutions).

    The agent interactions are the case's ``agent_interactions`` when the CRM sent
    it, else its outbound interactions (``case_id``) on any channel but notes.
    """
    key = RESOLUTION.key(by, agents.c.team)
    counted = (
        select(func.count())
        .where(
            interactions.c.case_id == cases.c.id,
            interactions.c.direction == "outbound",
            interactions.c.channel.not_in(NOT_CONTACT),
        )
        .scalar_subquery()
    )
    touches = func.coalesce(cases.c.agent_interactions, counted)
    per_case = select(
        key,
        touches.label("touches"),
        case((cases.c.reopened_at.is_not(None), 1), else_=0).label("reopened"),
    ).select_from(cases)
    per_case = _with_team(per_case, cases.c.owner_id, by).where(
        cases.c.status == "resolved", _within(cases.c.resolved_at, bounds)
    )
    inner: Any = per_case.cte("per_case")
    if connection.dialect.name == "postgresql":
        # Counted once per case: inlined, each use of ``touches`` below ran its own count.
        inner = inner.prefix_with("MATERIALIZED")
    first = and_(inner.c.touches == 1, inner.c.reopened == 0)
    statement = select(
        inner.c.group_key,
        func.sum(case((first, 1), else_=0)),
        func.sum(case((inner.c.touches >= 1, 1), else_=0)),
        func.sum(inner.c.reopened),
        func.sum(case((inner.c.touches == 0, 1), else_=0)),
    ).group_by(inner.c.group_key)
    return {
        group: Resolutions(int(a or 0), int(b or 0), int(c or 0), int(d or 0))
        for group, a, b, c, d in connection.execute(statement)
    }


@dataclass(frozen=True)
class Ratings:
    """The survey answers of one scale given in a period, for one group."""

    answers: int
    mean: float | None
    high: int
    low: int


#: Per scale: the lowest rating that counts as high (satisfied, promoter) and the
#: highest that counts as low (detractor; CSAT has no low count).
THRESHOLDS = {"csat": (4, -1), "nps": (9, 6)}


def ratings(
    connection: Connection, bounds: Bounds, by: Dimension | None, scale: str
) -> dict[Any, Ratings]:
    """Per group: answers on ``scale`` given in the period, their mean and high and low counts."""
    key = SATISFACTION.key(by, agents.c.team)
    high, low = THRESHOLDS[scale]
    statement = select(
        key,
        func.count(),
        func.avg(surveys.c.rating * 1.0),
        func.sum(case((surveys.c.rating >= high, 1), else_=0)),
        func.sum(case((surveys.c.rating <= low, 1), else_=0)),
    ).select_from(surveys)
    statement = _with_team(statement, surveys.c.agent_id, by).where(
        surveys.c.scale == scale, _within(surveys.c.answered_at, bounds)
    )
    return {
        group: Ratings(int(n), float(mean) if mean is not None else None, int(h or 0), int(lo or 0))
        for group, n, mean, h, lo in connection.execute(_grouped(statement, key, by))
    }


#: The dimensions each query can group by.
SUPPORTED: dict[str, tuple[Dimension, ...]] = {
    "resolution": RESOLUTION.dimensions(),
    "satisfaction": SATISFACTION.dimensions(),
}

__all__ = ["SUPPORTED", "THRESHOLDS", "Ratings", "Resolutions", "ratings", "resolutions"]
