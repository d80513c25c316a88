"""Record lists (leads, opportunities) as rows for the CSV and XLSX exports.

Every instant is written in ISO 8601 (UTC) with its Jalali date (in the KPI time
zone) in the column beside it; amounts stay numbers. The list filters are the
record's ``status`` and ``owner_id``. Rows come from the database in batches of
1,000 through a server-side cursor on PostgreSQL, so a million leads export with
flat memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from core.locale import format_jalali
from kpis.queries import leads, opportunities

ListKind = Literal["leads", "opportunities"]
LIST_KINDS: tuple[ListKind, ...] = ("leads", "opportunities")
#: (header, column name or ``data.<key>``, how it is written: plain, instant or day).
Field = tuple[str, str, Literal["plain", "instant", "day"]]
FIELDS: dict[ListKind, tuple[Field, ...]] = {
    "leads": (
        ("id", "id", "plain"),
        ("status", "status", "plain"),
        ("source", "source", "plain"),
        ("owner_id", "owner_id", "plain"),
        ("contact_name", "data.contact_name", "plain"),
        ("company_name", "data.company_name", "plain"),
        ("email", "email", "plain"),
        ("phone", "phone_e164", "plain"),
        ("score", "score", "plain"),
        ("grade", "grade", "plain"),
        ("created_at", "created_at", "instant"),
        ("qualified_at", "qualified_at", "instant"),
        ("converted_at", "converted_at", "instant"),
    ),
    "opportunities": (
        ("id", "id", "plain"),
        ("title", "data.title", "plain"),
        ("stage", "stage", "plain"),
        ("status", "status", "plain"),
        ("customer_id", "customer_id", "plain"),
        ("lead_id", "lead_id", "plain"),
        ("owner_id", "owner_id", "plain"),
        ("amount_rials", "amount", "plain"),
        ("probability", "probability", "plain"),
        ("expected_close", "expected_close_date", "day"),
        ("product_line", "product_line", "plain"),
        ("lost_reason", "data.lost_reason", "plain"),
        ("opened_at", "opened_at", "instant"),
        ("closed_at", "closed_at", "instant"),
    ),
}


def _jalali(day: date) -> str | None:
    try:
        return format_jalali(day)
    except ValueError:
        return None


def header(kind: ListKind) -> tuple[str, ...]:
    """The column names of a list: each date column followed by its Jalali twin."""
    names: list[str] = []
    for name, _, how in FIELDS[kind]:
        names.append(name)
        if how != "plain":
            names.append(f"{name}_jalali")
    return tuple(names)


def _writer(source: str, how: str, zone: ZoneInfo) -> Callable[[Any], list[Any]]:
    """How one field of a row becomes its cell (or cells, for dates)."""
    key = source.removeprefix("data.")
    from_data = source.startswith("data.")

    def cells(row: Any) -> list[Any]:
        value = row.data.get(key) if from_data else getattr(row, source)
        if how == "plain":
            return [value]
        if value is None:
            return [None, None]
        if how == "day":
            return [value.isoformat(), _jalali(value)]
        assert isinstance(value, datetime)
        return [value.isoformat().replace("+00:00", "Z"), _jalali(value.astimezone(zone).date())]

    return cells


def record_rows(
    engine: Engine,
    kind: ListKind,
    *,
    status: str | None = None,
    owner: str | None = None,
    time_zone: str = "Asia/Tehran",
) -> Iterator[tuple[Any, ...]]:
    """The header, then every record of ``kind`` matching the filters, oldest first."""
    table = leads if kind == "leads" else opportunities
    writers = [_writer(source, how, ZoneInfo(time_zone)) for _, source, how in FIELDS[kind]]
    filters = []
    if status is not None:
        filters.append(table.c.status == status)
    if owner is not None:
        filters.append(table.c.owner_id == owner)
    statement = select(table).where(*filters).order_by(table.c.created_at, table.c.id)
    yield header(kind)
    with engine.connect() as connection, connection.begin():
        result = connection.execution_options(stream_results=True).execute(statement)
        for row in result.yield_per(1000):
            yield tuple(cell for write in writers for cell in write(row))


__all__ = ["FIELDS", "LIST_KINDS", "ListKind", "header", "record_rows"]
