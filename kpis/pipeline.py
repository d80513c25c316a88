"""The pipeline board: open opportunities per stage, and the weighted forecast per month.

Per stage the database counts the open opportunities and sums their value and their
weighted value (amount x probability / 100, Odoo's prorated revenue); an opportunity
without a probability adds to the value but not to the weighted value, and is counted
apart. Each stage lists its cards (probability, value in Rials, expected close, owner),
soonest expected close first, at most ``limit`` per stage. The forecast sums the
weighted value by expected close date in the database and by month (Jalali or
Gregorian) here; opportunities with no expected close are the ``undated`` bucket.
:func:`card_rows` gives every open opportunity as rows for the CSV and XLSX exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, case, func, select

from core.db.engine import reading
from core.locale import format_jalali, to_jalali
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


CARD_HEADER = (
    "stage",
    "id",
    "title",
    "customer_id",
    "owner_id",
    "amount_rials",
    "probability",
    "weighted_rials",
    "expected_close",
    "expected_close_jalali",
    "product_line",
)


def _jalali(day: date | None) -> str | None:
    """``day`` in Jalali, or None when there is none or it is before the calendar's range."""
    if day is None:
        return None
    try:
        return format_jalali(day)
    except ValueError:
        return None


def card_rows(engine: Engine, *, owner: str | None = None) -> Iterator[tuple[Any, ...]]:
    """The header, then every open opportunity, stage by stage, for the exports.

    Read from the database in batches as the export consumes them; no ``limit``: the
    export is the whole board.
    """
    o = opportunities.c
    weighted = o.amount * o.probability / 100.0
    statement = (
        select(
            o.stage,
            o.id,
            o.data,
            o.customer_id,
            o.owner_id,
            o.amount,
            o.probability,
            weighted,
            o.expected_close_date,
            o.product_line,
        )
        .where(o.status == OPEN, *([o.owner_id == owner] if owner else []))
        .order_by(o.stage, o.expected_close_date.is_(None), o.expected_close_date, o.id)
    )
    yield CARD_HEADER
    # A transaction, not the autocommit of ``reading``: PostgreSQL's server-side cursor,
    # which keeps memory flat on a large board, only lives inside one.
    with engine.connect() as connection, connection.begin():
        result = connection.execution_options(stream_results=True).execute(statement)
        for row in result.yield_per(1000):
            stage, oid, data, customer, who, amount, probability, value, day, line = row
            yield (
                stage,
                oid,
                str(data.get("title", "")),
                customer,
                who,
                amount,
                probability,
                value,
                day.isoformat() if day else None,
                _jalali(day),
                line,
            )


__all__ = ["CARD_HEADER", "Board", "Card", "Stage", "board", "card_rows", "month_label"]
