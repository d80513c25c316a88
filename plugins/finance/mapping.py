"""Mapping of canonical records to the finance system's documents."""

from __future__ import annotations

from typing import Any

from core.errors import MappingError
from core.locale import normalize_phone
from core.plugin_types import SyncRecord


def customer_document(record: SyncRecord) -> dict[str, Any]:
    """The finance view of a customer: the canonical fields plus phones in E.164.

    Phones are sent both as written and normalised, so the finance system can match a
    customer whichever spelling it holds.
    """
    data: dict[str, Any] = record.data.model_dump(mode="json")
    phones = data.get("phones") or []
    try:
        data["phones_e164"] = [normalize_phone(phone) for phone in phones]
    except ValueError as error:
        raise MappingError(f"customer {record.id}: {error}") from None
    return data


MAPPERS = {"customer": customer_document}


def map_record(record: SyncRecord) -> dict[str, Any]:
    """Map any record the finance plugin subscribes to."""
    mapper = MAPPERS.get(record.type)
    if mapper is None:
        raise MappingError(f"the finance plugin does not map {record.type} records")
    return mapper(record)
