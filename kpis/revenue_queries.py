"""The recurring-revenue queries: MRR, customers kept and lost, per group, in the database.

A subscription runs on a day when it started on or before that day and its
``end_date`` (the first day it no longer runs) is after it. The state at the start
of a period is what ran on the day before its first day; at its end, what runs on
its last day. Both come from one statement per period (docs/kpis.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.db.records import SubscriptionRow
from kpis.queries import Dimension, _Grouping, _with_team, agents

subscriptions = SubscriptionRow.__table__

REVENUE = _Grouping(
    "recurring revenue", owner=subscriptions.c.owner_id, product_line=subscriptions.c.product_line
)


@dataclass(frozen=True)
class Revenue:
    """Recurring revenue of one group at the start and at the end of a period.

    ``opening_*`` is what ran on the day before the period, ``closing_*`` what runs on
    its last day; ``lost_*`` are the customers who had a subscription running at the
    start and none at the end, and the monthly revenue they brought at the start.
    """

    opening_customers: int
    opening_mrr: float
    closing_customers: int
    closing_mrr: float
    lost_customers: int
    lost_mrr: float


def _runs_before(day: date) -> ColumnElement[bool]:
    """Whether a subscription runs on the day before ``day`` (started before it, not ended)."""
    return and_(
        subscriptions.c.start_date < day,
        or_(subscriptions.c.end_date.is_(None), subscriptions.c.end_date >= day),
    )


def revenue(
    connection: Connection, first_day: date, end_day: date, by: Dimension | None
) -> dict[Any, Revenue]:
    """Per group: customers and MRR at the start of ``[first_day, end_day)`` and at its end."""
    key = REVENUE.key(by, agents.c.team)
    at_start = _runs_before(first_day)
    at_end = _runs_before(end_day)
    monthly = subscriptions.c.monthly_amount
    per_customer = select(
        key,
        func.max(case((at_start, 1), else_=0)).label("was"),
        func.max(case((at_end, 1), else_=0)).label("is_"),
        func.sum(case((at_start, monthly), else_=0.0)).label("opening"),
        func.sum(case((at_end, monthly), else_=0.0)).label("closing"),
    ).select_from(subscriptions)
    per_customer = (
        _with_team(per_customer, subscriptions.c.owner_id, by)
        .where(or_(at_start, at_end))
        .group_by(*([key] if by is not None else []), subscriptions.c.customer_id)
    )
    inner = per_customer.subquery()
    lost = and_(inner.c.was == 1, inner.c.is_ == 0)
    statement = select(
        inner.c.group_key,
        func.sum(inner.c.was),
        func.sum(inner.c.opening),
        func.sum(inner.c.is_),
        func.sum(inner.c.closing),
        func.sum(case((lost, 1), else_=0)),
        func.sum(case((lost, inner.c.opening), else_=0.0)),
    ).group_by(inner.c.group_key)
    return {
        group: Revenue(int(a or 0), float(b or 0), int(c or 0), float(d or 0), int(e or 0),
                       float(f or 0))
        for group, a, b, c, d, e, f in connection.execute(statement)
    }  # fmt: skip


#: The dimensions the revenue query can group by.
SUPPORTED: tuple[Dimension, ...] = REVENUE.dimensions()

__all__ = ["SUPPORTED", "Revenue", "revenue"]
