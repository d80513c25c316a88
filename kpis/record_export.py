"""Record lists of every kind as rows for the CSV and XLSX exports, with the list filters.

Leads, opportunities, customers, contacts, interactions and tasks have their own
columns; every other kind (products, orders, events...) exports its id, version,
instants and the document as JSON, so every list can be taken to a spreadsheet.
Every instant is written in ISO 8601 (UTC) with its Jalali date (in the KPI time
zone) in the column beside it; amounts stay numbers, lists of phones or emails are
joined with ``; ``. The filters are each kind's equality filters (``core.list_filters.FILTERS``)
and, for kinds with a search text, ``q`` as in ``GET /v1/<kind>?q=``. Rows come from
the database in batches of 1,000 through a server-side cursor on PostgreSQL, so a
million records export with flat memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, select
from sqlalchemy import inspect as sa_inspect

from core.kinds import KINDS
from core.list_filters import list_filters
from core.locale import format_jalali

#: How a field becomes cells: as it is, an instant or a day (with its Jalali twin),
#: a list joined with "; ", or the whole document as JSON.
How = Literal["plain", "instant", "day", "join", "json"]
#: (header, column name or ``data.<key>``, how it is written).
Field = tuple[str, str, How]
LIST_KINDS: tuple[str, ...] = tuple(KINDS)
FIELDS: dict[str, tuple[Field, ...]] = {
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
    "customers": (
        ("id", "id", "plain"),
        ("type", "data.type", "plain"),
        ("name", "name", "plain"),
        ("national_id", "national_id", "plain"),
        ("economic_code", "data.economic_code", "plain"),
        ("status", "status", "plain"),
        ("owner_id", "owner_id", "plain"),
        ("phones", "data.phones", "join"),
        ("emails", "data.emails", "join"),
        ("created_at", "created_at", "instant"),
        ("updated_at", "updated_at", "instant"),
    ),
    "contacts": (
        ("id", "id", "plain"),
        ("customer_id", "customer_id", "plain"),
        ("name", "name", "plain"),
        ("job_title", "data.job_title", "plain"),
        ("phones", "data.phones", "join"),
        ("emails", "data.emails", "join"),
        ("created_at", "created_at", "instant"),
        ("updated_at", "updated_at", "instant"),
    ),
    "interactions": (
        ("id", "id", "plain"),
        ("occurred_at", "occurred_at", "instant"),
        ("channel", "channel", "plain"),
        ("direction", "direction", "plain"),
        ("customer_id", "customer_id", "plain"),
        ("lead_id", "lead_id", "plain"),
        ("text", "data.text", "plain"),
        ("delivery_status", "data.delivery_status", "plain"),
        ("external_message_id", "external_message_id", "plain"),
    ),
    "tasks": (
        ("id", "id", "plain"),
        ("subject", "data.subject", "plain"),
        ("status", "status", "plain"),
        ("owner_id", "owner_id", "plain"),
        ("related_type", "data.related_type", "plain"),
        ("related_id", "data.related_id", "plain"),
        ("stage", "data.stage", "plain"),
        ("due_at", "due_at", "instant"),
        ("done_at", "done_at", "instant"),
        ("created_at", "created_at", "instant"),
    ),
}
#: The columns of a kind without its own: bookkeeping and the document.
GENERIC_FIELDS: tuple[Field, ...] = (
    ("id", "id", "plain"),
    ("version", "version", "plain"),
    ("created_at", "created_at", "instant"),
    ("updated_at", "updated_at", "instant"),
    ("data", "data", "json"),
)


def fields_of(kind: str) -> tuple[Field, ...]:
    """The columns a list exports."""
    return FIELDS.get(kind, GENERIC_FIELDS)


def _jalali(day: date) -> str | None:
    try:
        return format_jalali(day)
    except ValueError:
        return None


def header(kind: str) -> tuple[str, ...]:
    """The column names of a list: each date column followed by its Jalali twin."""
    names: list[str] = []
    for name, _, how in fields_of(kind):
        names.append(name)
        if how in ("instant", "day"):
            names.append(f"{name}_jalali")
    return tuple(names)


def _writer(source: str, how: How, zone: ZoneInfo) -> Callable[[Any], list[Any]]:
    """How one field of a row becomes its cell (or cells, for dates)."""
    key = source.removeprefix("data.")
    from_data = source.startswith("data.")

    def cells(row: Any) -> list[Any]:
        value = row.data.get(key) if from_data else getattr(row, source)
        if how == "plain":
            return [value]
        if how == "join":
            return ["; ".join(str(v) for v in value or ())]
        if how == "json":
            return [json.dumps(value, ensure_ascii=False, sort_keys=True)]
        if value is None:
            return [None, None]
        if how == "day":
            return [value.isoformat(), _jalali(value)]
        assert isinstance(value, datetime)
        return [value.isoformat().replace("+00:00", "Z"), _jalali(value.astimezone(zone).date())]

    return cells


def record_rows(
    engine: Engine,
    kind: str,
    *,
    filters: Mapping[str, str | None] | None = None,
    q: str | None = None,
    time_zone: str = "Asia/Tehran",
) -> Iterator[tuple[Any, ...]]:
    """The header, then every record of ``kind`` matching the filters, oldest first.

    The filters are checked before the first row is asked for, so bad ones raise
    ``core.list_filters.UnknownFilter`` (or KeyError for an unknown kind) at once.
    """
    found = KINDS[kind]
    table = sa_inspect(found.table).local_table
    assert isinstance(table, Table)
    conditions = list_filters(found, filters or {}, q)
    zone = ZoneInfo(time_zone)
    writers = [_writer(source, how, zone) for _, source, how in fields_of(kind)]
    statement = select(table).where(*conditions).order_by(table.c.created_at, table.c.id)
    return _rows(engine, statement, header(kind), writers)


def _rows(
    engine: Engine, statement: Any, head: tuple[str, ...], writers: list[Callable[[Any], list[Any]]]
) -> Iterator[tuple[Any, ...]]:
    yield head
    # A transaction, not the autocommit of ``reading``: PostgreSQL's server-side cursor,
    # which keeps memory flat on a long list, only lives inside one.
    with engine.connect() as connection, connection.begin():
        result = connection.execution_options(stream_results=True).execute(statement)
        for row in result.yield_per(1000):
            yield tuple(cell for write in writers for cell in write(row))


__all__ = [
    "FIELDS",
    "GENERIC_FIELDS",
    "LIST_KINDS",
    "fields_of",
    "header",
    "record_rows",
]
