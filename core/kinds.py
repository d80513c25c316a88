"""The registry of canonical record kinds: URL name, document type, schema, table.

Everything that is generic over records (the API routes, the store, the sync engine,
the CLI) looks a kind up here instead of naming customers or leads itself.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.db.base import RecordMixin
from core.schemas.base import CanonicalModel


@dataclass(frozen=True)
class Kind:
    """One kind of canonical record.

    ``name`` is the plural URL segment (``customers``); ``type`` is the singular name
    used in documents, subscriptions and sync bookkeeping (``customer``); ``schema`` is
    the pydantic model of the request body; ``table`` is the ORM class that stores it;
    ``index`` extracts the typed lookup columns of ``table`` from a validated record;
    ``writable`` is False for kinds only core and plugins write (events).
    """

    name: str
    type: str
    schema: builtins.type[CanonicalModel]
    table: builtins.type[RecordMixin]
    index: Callable[[CanonicalModel], dict[str, Any]]
    writable: bool = True


def _build() -> dict[str, Kind]:
    from core.schemas.registry import KIND_LIST

    return {kind.name: kind for kind in KIND_LIST}


KINDS: Mapping[str, Kind] = _build()
KINDS_BY_TYPE: Mapping[str, Kind] = {kind.type: kind for kind in KINDS.values()}


def kind_by_name(name: str) -> Kind | None:
    """Return the kind whose URL segment is ``name``, or None."""
    return KINDS.get(name)


def kind_named(value: str) -> Kind | None:
    """Return the kind ``value`` names, as its URL name (``customers``) or type (``customer``).

    People type either: the README lists the URL names, documents and the sync
    bookkeeping use the types. None when ``value`` is neither.
    """
    return KINDS.get(value) or KINDS_BY_TYPE.get(value)


def kind_by_type(type_: str) -> Kind:
    """Return the kind whose document type is ``type_``; KeyError if there is none."""
    return KINDS_BY_TYPE[type_]
