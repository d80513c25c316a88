"""How values travel between crm-sync and Odoo: Odoo's ``false``, many2ones, dates, numbers.

Odoo answers an empty field as ``false`` (also for char, date and many2one fields); a
many2one reads as ``[id, "display name"]`` and is written as ``id``; datetimes are UTC
strings ``"YYYY-MM-DD HH:MM:SS"`` (whole seconds), dates ``"YYYY-MM-DD"``; monetary and
float fields are JSON numbers. :func:`write_changes` writes only what differs, so an
unchanged document costs one read and no write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from erp.odoo.client import OdooClient

__all__ = [
    "ODOO_DATETIME_FORMAT",
    "format_datetime",
    "json_default",
    "many2one_id",
    "odoo_value",
    "odoo_values",
    "parse_date",
    "parse_datetime",
    "quantities",
    "same_value",
    "to_decimal",
    "write_changes",
]

#: How Odoo writes a datetime on the wire (UTC, no time zone, whole seconds).
ODOO_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def json_default(value: Any) -> Any:
    """Encode what :mod:`json` cannot: exact decimals, dates and datetimes as Odoo reads them."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} to Odoo")


def odoo_value(value: Any) -> Any:
    """Return ``value`` with ``false`` (Odoo's "empty") turned into None; other values unchanged."""
    return None if value is False else value


def many2one_id(value: Any) -> int | None:
    """Return the id of a many2one as Odoo reads it (``[id, "name"]`` or ``false``)."""
    if isinstance(value, list | tuple) and value:
        return int(value[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def to_decimal(value: Any) -> Decimal:
    """Return an Odoo number as the Decimal of its shortest spelling (``false`` is 0)."""
    if value is False or value is None:
        return Decimal(0)
    return Decimal(str(value))


def parse_datetime(value: Any) -> dt.datetime | None:
    """Parse Odoo's ``"YYYY-MM-DD HH:MM:SS"`` (UTC) into an aware datetime; ``false`` is None."""
    if not value:
        return None
    return dt.datetime.strptime(str(value), ODOO_DATETIME_FORMAT).replace(tzinfo=dt.UTC)


def parse_date(value: Any) -> dt.date | None:
    """Parse Odoo's ``"YYYY-MM-DD"`` into a date; ``false`` is None."""
    if not value:
        return None
    return dt.date.fromisoformat(str(value)[:10])


def format_datetime(value: dt.datetime) -> str:
    """Write a datetime the way Odoo expects it: UTC, no time zone, whole seconds."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime(ODOO_DATETIME_FORMAT)


def write_changes(
    client: OdooClient, model: str, current: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Write the members of ``values`` that differ from the ``current`` row, if any."""
    changes = {
        key: value
        for key, value in values.items()
        if not same_value(current.get(key, False), value)
    }
    if changes:
        client.write(model, [int(current["id"])], odoo_values(changes))


def odoo_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``values`` with None spelled as Odoo's empty value ``false``."""
    return {key: False if value is None else value for key, value in values.items()}


def same_value(current: Any, wanted: Any) -> bool:
    """Tell whether a value read from Odoo already equals the one we would write.

    A many2one reads as ``[id, name]`` and is written as ``id``; an x2many command list
    ``[(6, 0, ids)]`` equals a read list of the same ids; ``false`` equals None; numbers
    compare exactly as decimals.
    """
    if wanted is None or wanted is False:
        return current is False or current is None or current == []
    if _is_set_command(wanted):
        return isinstance(current, list) and sorted(current) == sorted(wanted[0][2])
    if isinstance(current, list) and len(current) == 2 and isinstance(wanted, int):
        return bool(current[0] == wanted)
    if isinstance(wanted, bool) or isinstance(current, bool):
        return bool(current is wanted)
    if isinstance(wanted, int | float | Decimal) and isinstance(current, int | float):
        return to_decimal(current) == to_decimal(wanted)
    return bool(current == wanted)


def _is_set_command(value: Any) -> bool:
    """Tell whether ``value`` is an x2many "replace by these ids" command list ``[(6, 0, ids)]``."""
    return (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], list | tuple)
        and len(value[0]) == 3
        and value[0][0] == 6
    )


def quantities(pairs: Iterable[tuple[int | None, Decimal]]) -> dict[int | None, Decimal]:
    """Add up quantities per product."""
    totals: dict[int | None, Decimal] = {}
    for product_id, quantity in pairs:
        totals[product_id] = totals.get(product_id, Decimal(0)) + quantity
    return totals
