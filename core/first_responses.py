"""First responses kept in ``kpi_first_responses`` as leads and interactions are written.

A lead's first-response clock starts when its record is created (when it reached
crm-sync, as the SLA's clock does) and stops at the earliest outbound interaction on
the lead's timeline (its ``lead_id``), on any channel but a note. Creating a lead
and every interaction write that changes a column turns are built from (through
:func:`core.store.write_record_in` and :func:`core.store.update_records_in`, see
``core.store.TURN_COLUMNS``) recompute the rows of the leads they touch,
the one an interaction was on and the one it is on now, in the same transaction; so
the first response time reads one stored pair per lead instead of searching the
interactions. On PostgreSQL a transaction-scoped advisory lock per lead makes two
writes about one lead recompute it one after the other, each seeing the other's
committed rows. :func:`rebuild_first_responses` recomputes the whole table (bulk
loads that bypass the write path).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.sql.elements import ColumnElement

from core.db.first_response_tables import FirstResponse
from core.db.records import InteractionRow, LeadRow
from core.turns import NOT_CONTACT

first_responses = FirstResponse.__table__
leads = LeadRow.__table__
interactions = InteractionRow.__table__
_COLUMNS = ("lead_id", "started_at", "answered_at")


def first_response_select(where: Sequence[ColumnElement[bool]]) -> Any:
    """Per lead ``where`` selects: (id, its creation, its first outbound contact or None)."""
    answer = (
        select(func.min(interactions.c.occurred_at))
        .where(
            interactions.c.lead_id == leads.c.id,
            interactions.c.direction == "outbound",
            interactions.c.channel.not_in(NOT_CONTACT),
        )
        .scalar_subquery()
    )
    return select(leads.c.id, leads.c.created_at, answer).where(*where)


def _lock(connection: Connection, lead_id: str) -> None:
    """Serialise the recomputation of one lead's row on PostgreSQL (until the commit)."""
    if connection.dialect.name == "postgresql":
        key = f"kpi-first-response:{lead_id}"
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def refresh_first_responses(connection: Connection, lead_ids: Iterable[str | None]) -> None:
    """Recompute the first responses of ``lead_ids`` (None ignored), in this transaction."""
    chosen = sorted({lead for lead in lead_ids if lead is not None})
    if not chosen:
        return
    for lead_id in chosen:
        _lock(connection, lead_id)
    connection.execute(delete(FirstResponse).where(first_responses.c.lead_id.in_(chosen)))
    connection.execute(
        insert(FirstResponse).from_select(_COLUMNS, first_response_select([leads.c.id.in_(chosen)]))
    )


def written_lead(model: object) -> str | None:
    """The lead a validated interaction is written onto (read off the document)."""
    lead = getattr(model, "lead_id", None)
    return None if lead is None else str(lead)


def rebuild_first_responses(connection: Connection) -> None:
    """Recompute the whole table from every lead and interaction (after a bulk load)."""
    connection.execute(delete(FirstResponse))
    connection.execute(insert(FirstResponse).from_select(_COLUMNS, first_response_select([])))


__all__ = [
    "first_response_select",
    "first_responses",
    "rebuild_first_responses",
    "refresh_first_responses",
    "written_lead",
]
