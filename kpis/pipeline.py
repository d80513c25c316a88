"""The pipeline board: open opportunities per stage, and the weighted forecast per month.

Per stage the database counts the open opportunities and sums their value and their
weighted value (amount x probability / 100, Odoo's prorated revenue); an opportunity
without a probability adds to the value but not to the weighted value, and is counted
apart. Each stage lists its cards (probability, value in Rials, expected close, owner),
soonest expected close first, at most ``limit`` per stage. The forecast sums the
weighted value by expected close date in the database and by month (Jalali or
Gregorian) here; opportunities with no expected close are the ``undated`` bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, case, func, select

from core.db.engine import reading
from core.locale import to_jalali
from kpis.periods import Calendar
from kpis.queries import OPEN, opportunities


@dataclass(frozen=True)
class Card:
    """One opportunity on the board."""

    id: str
    title: str
    customer_id: str
    owner_id: str | None
    amount: float | None
    probability: int | None
    expected_close_date: date | None
    product_line: str | None


@dataclass
class Stage:
    """One column of the board."""

    name: str
    count: int
    value: float
    weighted_value: float
    without_probability: int
    cards: list[Card] = field(default_factory=list)


@dataclass(frozen=True)
class Board:
    """The board's stages (most valuable first) and the forecast per month."""

    stages: list[Stage]
    forecast: list[tuple[str, float]]
    undated_weighted_value: float


def month_label(day: date, calendar: Calendar) -> str:
    """``1404-08`` or ``2025-11``: the month ``day`` falls in."""
    year, month = to_jalali(day)[:2] if calendar == "jalali" else (day.year, day.month)
    return f"{year:04d}-{month:02d}"


def board(
    engine: Engine, *, calendar: Calendar = "jalali", owner: str | None = None, limit: int = 50
) -> Board:
    """The open pipeline, optionally of one owner."""
    o = opportunities.c
    is_open = [o.status == OPEN] + ([o.owner_id == owner] if owner else [])
    weighted = o.amount * o.probability / 100.0
    totals = (
        select(
            o.stage,
            func.count(),
            func.coalesce(func.sum(o.amount), 0.0),
            func.coalesce(func.sum(weighted), 0.0),
            func.sum(case((o.probability.is_(None), 1), else_=0)),
        )
        .where(*is_open)
        .group_by(o.stage)
    )
    by_day = (
        select(o.expected_close_date, func.coalesce(func.sum(weighted), 0.0))
        .where(*is_open)
        .group_by(o.expected_close_date)
    )
    cards = (
        select(
            o.stage,
            o.id,
            o.data,
            o.customer_id,
            o.owner_id,
            o.amount,
            o.probability,
            o.expected_close_date,
            o.product_line,
            func.row_number()
            .over(
                partition_by=o.stage,
                order_by=(o.expected_close_date.is_(None), o.expected_close_date, o.id),
            )
            .label("place"),
        )
        .where(*is_open)
        .subquery()
    )
    with reading(engine) as connection:
        stages = {
            name: Stage(name, int(n), float(value), float(wv), int(unknown or 0))
            for name, n, value, wv, unknown in connection.execute(totals)
        }
        months: dict[str, float] = {}
        undated = 0.0
        for day, value in connection.execute(by_day):
            if day is None:
                undated += float(value)
            else:
                label = month_label(day, calendar)
                months[label] = months.get(label, 0.0) + float(value)
        rows: Any = connection.execute(
            select(cards).where(cards.c.place <= limit).order_by(cards.c.stage, cards.c.place)
        )
        for row in rows:
            stages[row.stage].cards.append(
                Card(
                    row.id,
                    str(row.data.get("title", "")),
                    row.customer_id,
                    row.owner_id,
                    row.amount,
                    row.probability,
                    row.expected_close_date,
                    row.product_line,
                )
            )
    ordered = sorted(stages.values(), key=lambda s: (-s.value, s.name))
    return Board(ordered, sorted(months.items()), undated)


__all__ = ["Board", "Card", "Stage", "board", "month_label"]
