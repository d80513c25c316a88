"""The KPI queries: counts, sums and means computed by the database, per group.

Every function takes a read connection, the period's bounds as UTC instants
``[start, end)`` and the dimension to group by (None for the whole organisation), and
returns one row per group. The same SQLAlchemy statements run on SQLite and
PostgreSQL; only the length of a time span in days differs (``julianday`` against
``EXTRACT(EPOCH ...)``). docs/kpis.md states what each one counts and why.

Response times need working minutes, which depend on the business calendar: for
them these queries select the pairs of instants (a lead's creation and its first
answer; a customer's message and the reply) and :mod:`kpis.working_sql` has the
database turn them into working minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from core.db.records import AgentRow, InteractionRow, LeadRow, OpportunityRow, TaskRow
from core.first_responses import first_responses as core_first_responses
from core.turns import NOT_CONTACT

#: What a figure can be broken down by.
Dimension = Literal["agent", "team", "source", "channel", "product_line"]
DIMENSIONS: tuple[Dimension, ...] = ("agent", "team", "source", "channel", "product_line")

leads = LeadRow.__table__
opportunities = OpportunityRow.__table__
interactions = InteractionRow.__table__
tasks = TaskRow.__table__
agents = AgentRow.__table__

WON, LOST, OPEN = "won", "lost", "open"


class UnsupportedDimension(ValueError):
    """A KPI asked to be broken down by a dimension it has no meaning for."""


@dataclass(frozen=True)
class Bounds:
    """The instants a period runs between, ``[start, end)``, in UTC."""

    start: datetime
    end: datetime


def _within(column: Any, bounds: Bounds) -> ColumnElement[bool]:
    return and_(column >= bounds.start, column < bounds.end)


def _days(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """The span from ``earlier`` to ``later`` in (fractional) days, in the database."""
    if dialect == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return extract("epoch", later - earlier) / 86400.0


class _Grouping:
    """How one KPI names its groups: which column is the agent, the source, and so on."""

    def __init__(
        self, kpi: str, owner: ColumnElement[Any] | None = None, **columns: ColumnElement[Any]
    ) -> None:
        self.kpi = kpi
        self.owner = owner
        self.columns = columns

    def key(self, by: Dimension | None, team: ColumnElement[Any]) -> ColumnElement[Any]:
        if by is None:
            return literal(None).label("group_key")
        if by == "agent" and self.owner is not None:
            return self.owner.label("group_key")
        if by == "team" and self.owner is not None:
            return team.label("group_key")
        if by in self.columns:
            return self.columns[by].label("group_key")
        raise UnsupportedDimension(f"{self.kpi} cannot be broken down by {by}")

    def dimensions(self) -> tuple[Dimension, ...]:
        names = set(self.columns) | ({"agent", "team"} if self.owner is not None else set())
        return tuple(d for d in DIMENSIONS if d in names)


def _grouped(statement: Select[Any], key: ColumnElement[Any], by: Dimension | None) -> Any:
    return statement.group_by(key) if by is not None else statement


def _with_team(statement: Select[Any], owner: Any, by: Dimension | None) -> Select[Any]:
    """Join the owner's agent record when the figure is grouped by team."""
    if by != "team":
        return statement
    return statement.outerjoin(agents, agents.c.id == owner)


LEAD_TO_OPPORTUNITY = _Grouping(
    "lead_to_opportunity", owner=leads.c.owner_id, source=leads.c.source
)


def lead_to_opportunity(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> dict[Any, tuple[int, int]]:
    """Per group: (opportunities opened from leads, leads qualified) in the period."""
    key = LEAD_TO_OPPORTUNITY.key(by, agents.c.team)
    opened = func.coalesce(opportunities.c.opened_at, opportunities.c.created_at)
    made = select(key, func.count()).select_from(
        opportunities.outerjoin(leads, leads.c.id == opportunities.c.lead_id)
    )
    made = _with_team(made, leads.c.owner_id, by).where(
        opportunities.c.lead_id.is_not(None), _within(opened, bounds)
    )
    qualified = select(key, func.count()).select_from(leads)
    qualified = _with_team(qualified, leads.c.owner_id, by).where(
        _within(leads.c.qualified_at, bounds)
    )
    numerators = dict(connection.execute(_grouped(made, key, by)).all())
    denominators = dict(connection.execute(_grouped(qualified, key, by)).all())
    return {
        group: (int(numerators.get(group, 0)), int(denominators.get(group, 0)))
        for group in numerators.keys() | denominators.keys()
    }


CLOSED = _Grouping(
    "closed opportunities",
    owner=opportunities.c.owner_id,
    source=leads.c.source,
    product_line=opportunities.c.product_line,
)


def _closed_at() -> ColumnElement[Any]:
    """When an opportunity closed: its ``closed_at``, else when it was last changed."""
    return func.coalesce(opportunities.c.closed_at, opportunities.c.updated_at)


def _opened_at() -> ColumnElement[Any]:
    return func.coalesce(opportunities.c.opened_at, opportunities.c.created_at)


@dataclass(frozen=True)
class ClosedFigures:
    """What the opportunities closed in a period add up to, for one group."""

    won: int
    closed: int
    won_amount: float
    closed_amount: float
    won_cycle_days: float | None
    won_with_amount: int


def closed_opportunities(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> dict[Any, ClosedFigures]:
    """Per group: won and closed counts and amounts, and the won deals' mean cycle in days."""
    key = CLOSED.key(by, agents.c.team)
    won = opportunities.c.status == WON
    amount = func.coalesce(opportunities.c.amount, 0.0)
    cycle = _days(connection.dialect.name, _closed_at(), _opened_at())
    statement = select(
        key,
        func.sum(case((won, 1), else_=0)),
        func.count(),
        func.sum(case((won, amount), else_=0.0)),
        func.sum(amount),
        func.avg(case((won, cycle), else_=None)),
        func.sum(case((and_(won, opportunities.c.amount.is_not(None)), 1), else_=0)),
    ).select_from(opportunities.outerjoin(leads, leads.c.id == opportunities.c.lead_id))
    statement = _with_team(statement, opportunities.c.owner_id, by).where(
        opportunities.c.status.in_((WON, LOST)), _within(_closed_at(), bounds)
    )
    result: dict[Any, ClosedFigures] = {}
    for group, n_won, n_closed, won_amount, closed_amount, days, priced in connection.execute(
        _grouped(statement, key, by)
    ):
        result[group] = ClosedFigures(
            won=int(n_won or 0),
            closed=int(n_closed or 0),
            won_amount=float(won_amount or 0),
            closed_amount=float(closed_amount or 0),
            won_cycle_days=float(days) if days is not None else None,
            won_with_amount=int(priced or 0),
        )
    return result


def open_at_end(connection: Connection, bounds: Bounds, by: Dimension | None) -> dict[Any, int]:
    """Per group: opportunities opened before the period's end and still open at it."""
    key = CLOSED.key(by, agents.c.team)
    still_open = or_(
        opportunities.c.status == OPEN,
        and_(opportunities.c.status.in_((WON, LOST)), _closed_at() >= bounds.end),
    )
    statement = select(key, func.count()).select_from(
        opportunities.outerjoin(leads, leads.c.id == opportunities.c.lead_id)
    )
    statement = _with_team(statement, opportunities.c.owner_id, by).where(
        _opened_at() < bounds.end, still_open
    )
    return {g: int(n) for g, n in connection.execute(_grouped(statement, key, by))}


def lost_reasons(connection: Connection, bounds: Bounds, limit: int = 20) -> list[tuple[str, int]]:
    """The reasons of the opportunities lost in the period, most frequent first."""
    statement = (
        select(opportunities.c.lost_reason, func.count().label("n"))
        .where(opportunities.c.status == LOST, _within(_closed_at(), bounds))
        .group_by(opportunities.c.lost_reason)
        .order_by(literal_column("n").desc(), opportunities.c.lost_reason)
        .limit(limit)
    )
    return [(reason or "", int(n)) for reason, n in connection.execute(statement)]


FIRST_RESPONSE = _Grouping("first_response_time", owner=leads.c.owner_id, source=leads.c.source)


def first_responses(bounds: Bounds, by: Dimension | None) -> Subquery:
    """Per lead created in the period: (group_key, started_at, stopped_at: first answer or None).

    Read from the stored first responses (:mod:`core.first_responses`), one per lead.
    """
    key = FIRST_RESPONSE.key(by, agents.c.team)
    stored = core_first_responses.c
    statement = select(key, stored.started_at, stored.answered_at.label("stopped_at")).select_from(
        core_first_responses.join(leads, leads.c.id == stored.lead_id)
    )
    statement = _with_team(statement, leads.c.owner_id, by)
    return statement.where(_within(stored.started_at, bounds)).subquery()


def latest_first_response(connection: Connection) -> datetime | None:
    """The latest first answer stored (an index look-up): how far the working days must reach."""
    answered = core_first_responses.c.answered_at
    latest: datetime | None = connection.execute(select(func.max(answered))).scalar_one()
    return latest


RESPONSE = _Grouping("average_response_time", channel=interactions.c.channel)

FOLLOW_UP = _Grouping("on_time_follow_up", owner=tasks.c.owner_id)


def follow_ups(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> dict[Any, tuple[int, int]]:
    """Per group: (tasks done by their deadline, tasks due) in the period; cancelled left out."""
    key = FOLLOW_UP.key(by, agents.c.team)
    done_at = func.coalesce(tasks.c.done_at, tasks.c.updated_at)
    on_time = and_(tasks.c.status == "done", done_at <= tasks.c.due_at)
    statement = select(key, func.sum(case((on_time, 1), else_=0)), func.count()).select_from(tasks)
    statement = _with_team(statement, tasks.c.owner_id, by).where(
        tasks.c.status != "cancelled", _within(tasks.c.due_at, bounds)
    )
    return {
        group: (int(done or 0), int(due))
        for group, done, due in connection.execute(_grouped(statement, key, by))
    }


TOUCHPOINTS = _Grouping("touchpoints_to_conversion", owner=leads.c.owner_id, source=leads.c.source)


def touchpoints(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> dict[Any, tuple[float | None, int]]:
    """Per group: (mean contacts before conversion, leads converted) in the period."""
    key = TOUCHPOINTS.key(by, agents.c.team)
    contacts = (
        select(func.count())
        .where(
            interactions.c.lead_id == leads.c.id,
            interactions.c.channel.not_in(NOT_CONTACT),
            interactions.c.occurred_at <= leads.c.converted_at,
        )
        .scalar_subquery()
    )
    per_lead = select(key, contacts.label("contacts")).select_from(leads)
    per_lead = _with_team(per_lead, leads.c.owner_id, by).where(
        _within(leads.c.converted_at, bounds)
    )
    inner = per_lead.subquery()
    statement = select(
        inner.c.group_key, func.avg(cast(inner.c.contacts, Float)), func.count()
    ).group_by(inner.c.group_key)
    return {
        group: (float(mean) if mean is not None else None, int(n))
        for group, mean, n in connection.execute(statement)
    }


#: The dimensions each query can group by.
SUPPORTED: dict[str, tuple[Dimension, ...]] = {
    "lead_to_opportunity": LEAD_TO_OPPORTUNITY.dimensions(),
    "closed": CLOSED.dimensions(),
    "first_response": FIRST_RESPONSE.dimensions(),
    "response": ("channel",),
    "follow_up": FOLLOW_UP.dimensions(),
    "touchpoints": TOUCHPOINTS.dimensions(),
}

__all__ = [
    "DIMENSIONS",
    "SUPPORTED",
    "Bounds",
    "ClosedFigures",
    "Dimension",
    "UnsupportedDimension",
    "closed_opportunities",
    "first_responses",
    "follow_ups",
    "latest_first_response",
    "lead_to_opportunity",
    "lost_reasons",
    "open_at_end",
    "touchpoints",
]
