"""The equality filters of the record lists (``GET /v1/<kind>?status=...``), per kind.

The JSON list, the CSV and XLSX exports, the console's export page and ``crm-sync
export`` all filter through :func:`list_filters`, so a filter means the same
everywhere and one a list lacks is refused the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy import inspect as sa_inspect

from core.kinds import Kind
from core.store import search_filters, searchable

#: Each kind's equality filters: the filter's name and the column it compares.
FILTERS: dict[str, dict[str, str]] = {
    "leads": {"status": "status", "owner": "owner_id", "source": "source"},
    "opportunities": {
        "status": "status",
        "owner": "owner_id",
        "stage": "stage",
        "customer": "customer_id",
    },
    "customers": {"status": "status", "owner": "owner_id"},
    "contacts": {"customer": "customer_id"},
    "interactions": {
        "customer": "customer_id",
        "lead": "lead_id",
        "channel": "channel",
        "direction": "direction",
    },
    "tasks": {"status": "status", "owner": "owner_id"},
}
FILTER_NAMES: tuple[str, ...] = tuple(sorted({n for names in FILTERS.values() for n in names}))


class UnknownFilter(ValueError):
    """A filter the list does not have; ``problem`` names it for the API's answer."""

    problem = "unknown-filter"


class NotSearchable(UnknownFilter):
    """``q`` on a kind without search text."""

    problem = "not-searchable"


def list_filters(kind: Kind, filters: Mapping[str, str | None], q: str | None) -> list[Any]:
    """The conditions of the filters given (None values ignored); UnknownFilter for others."""
    allowed = FILTERS.get(kind.name, {})
    table = sa_inspect(kind.table).local_table
    assert isinstance(table, Table)
    conditions: list[Any] = []
    for name, value in filters.items():
        if value is None:
            continue
        if name not in allowed:
            raise UnknownFilter(f"{kind.name} cannot be filtered by {name}")
        conditions.append(table.c[allowed[name]] == value)
    if q is not None:
        if not searchable(kind):
            raise NotSearchable(f"{kind.name} cannot be searched with q")
        conditions.extend(search_filters(kind, q))
    return conditions


__all__ = ["FILTERS", "FILTER_NAMES", "NotSearchable", "UnknownFilter", "list_filters"]
