"""How values travel between crm-sync and Tryton: exact decimals, references, inactive records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["INACTIVE_TOO", "optional_decimal", "origin_id", "to_decimal"]

#: The context that makes a search or read see deactivated records too.
INACTIVE_TOO = {"active_test": False}


def to_decimal(value: Any) -> Decimal:
    """A Tryton number as an exact Decimal; None is 0."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def optional_decimal(value: Any) -> Decimal | None:
    """A Tryton number as a Decimal, None kept."""
    return None if value is None else to_decimal(value)


def origin_id(origin: Any, model: str) -> int | None:
    """The id in a reference ``model,id`` when it names ``model``, else None."""
    if isinstance(origin, str) and origin.startswith(model + ","):
        return int(origin.split(",", 1)[1])
    return None
