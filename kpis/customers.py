"""Customers new, returning and lost per period, as a trend, counted by the database.

A purchase is a won opportunity, dated when it closed (its ``closed_at``, else its last
change, as for the other opportunity KPIs). Per period, with L the configured
``lost_after_days``:

- new: customers whose first purchase ever falls in the period;
- returning: customers who bought in the period and had bought before it; ``won_back``
  are those of them whose previous purchase was more than L days before (they had
  been lost);
- lost: customers whose purchase was followed by none for more than L days, counted
  in the period in which those L days run out (never after now), so each silence
  counts once;
- active at start: customers who bought in the L days before the period; the lost
  rate is lost / active at start x 100, no data when nobody was active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, distinct, extract, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.db.engine import reading
from core.db.types import utcnow
from kpis.periods import Period
from kpis.queries import WON, opportunities


@dataclass(frozen=True)
class CustomerCounts:
    """The customers of one period: new, returning (won back among them), lost."""

    period: Period
    new: int
    returning: int
    won_back: int
    lost: int
    active_at_start: int

    @property
    def active(self) -> int:
        """Customers who bought in the period: the new and the returning ones."""
        return self.new + self.returning

    @property
    def lost_rate(self) -> float | None:
        """Lost / active at the period's start x 100; None (no data) when none were active."""
        if not self.active_at_start:
            return None
        return self.lost * 100.0 / self.active_at_start


def _day_number(dialect: str, column: Any) -> ColumnElement[Any]:
    """An instant as a (fractional) day number, so two of them subtract to days."""
    if dialect == "sqlite":
        return func.julianday(column)
    return extract("epoch", column) / 86400.0


def _purchases() -> Any:
    """Every purchase with its customer's first one and the previous and next ones."""
    o = opportunities.c
    at = func.coalesce(o.closed_at, o.updated_at)
    bought = select(o.customer_id.label("customer"), at.label("at")).where(o.status == WON)
    p = bought.subquery().c
    return select(
        p.customer,
        p.at,
        func.min(p.at).over(partition_by=p.customer).label("first_at"),
        func.lag(p.at).over(partition_by=p.customer, order_by=p.at).label("prev_at"),
        func.lead(p.at).over(partition_by=p.customer, order_by=p.at).label("next_at"),
    ).subquery()


def customer_counts(
    connection: Any, purchases: Any, period: Period, *, lost_after_days: int, now: datetime
) -> CustomerCounts:
    """The counts of one period over the windowed ``purchases``."""
    w = purchases.c
    start, end = period.start, period.end
    span = timedelta(days=lost_after_days)
    day = _day_number(connection.dialect.name, w.at)
    bought = and_(w.at >= start, w.at < end)

    def customers(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.count(distinct(case((condition, w.customer))))

    gap_before = day - _day_number(connection.dialect.name, w.prev_at)
    gap_after = _day_number(connection.dialect.name, w.next_at) - day
    lost_by = min(end, now) - span
    row = connection.execute(
        select(
            customers(and_(bought, w.first_at >= start)),
            customers(and_(bought, w.first_at < start)),
            customers(and_(bought, w.first_at < start, gap_before > lost_after_days)),
            customers(
                and_(
                    w.at >= start - span,
                    w.at < lost_by,
                    or_(w.next_at.is_(None), gap_after > lost_after_days),
                )
            ),
            customers(and_(w.at >= start - span, w.at < start)),
        )
    ).one()
    new, returning, won_back, lost, active = (int(n or 0) for n in row)
    return CustomerCounts(period, new, returning, won_back, lost, active)


def customer_trend(
    engine: Engine,
    period: Period,
    *,
    periods: int,
    lost_after_days: int,
    now: datetime | None = None,
) -> list[CustomerCounts]:
    """The counts of ``period`` and the ``periods - 1`` before it, oldest first."""
    if periods < 1:
        raise ValueError("periods must be at least 1")
    if lost_after_days < 1:
        raise ValueError("lost_after_days must be at least 1")
    moment = now or utcnow()
    purchases = _purchases()
    with reading(engine) as connection:
        return [
            customer_counts(connection, purchases, one, lost_after_days=lost_after_days, now=moment)
            for one in period.trend(periods)
        ]


__all__ = ["CustomerCounts", "customer_counts", "customer_trend"]
