"""The registry of canonical record kinds: URL name, document type, schema, table.

Everything that is generic over records (the API routes, the store, the sync engine,
the CLI) looks a kind up here instead of naming customers or leads itself. The kinds
themselves (and the :class:`Kind` type) are listed in :mod:`core.schemas.registry`,
which this module indexes: the import goes one way only.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.schemas.registry import KIND_LIST, Kind

__all__ = ["KINDS", "KINDS_BY_TYPE", "Kind", "kind_by_name", "kind_by_type", "kind_named"]


KINDS: Mapping[str, Kind] = {kind.name: kind for kind in KIND_LIST}
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
