"""Customer turns kept in ``kpi_customer_turns`` as interactions are written.

Each interaction write (through :func:`core.store.write_record_in` and
:func:`core.store.update_records_in`) that changes a column turns are built from
(``core.store.TURN_COLUMNS``) recomputes the turns of the timelines it touches, the one
it was on and the one it is on now, in the same transaction; so
response times (the average response time KPI) read stored pairs (message, first
reply) instead of walking every timeline. On PostgreSQL a transaction-scoped advisory
lock per timeline makes concurrent writes to one timeline recompute it one after the
other, each seeing the other's committed rows; SQLite has one writer at a time.
:func:`rebuild_turns` recomputes the whole table (the migration and bulk loads).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.db.records import InteractionRow
from core.db.turn_tables import CustomerTurn

interactions = InteractionRow.__table__
#: Channels that are no contact with the customer: an internal note answers nobody.
NOT_CONTACT = ("note",)
turns = CustomerTurn.__table__
#: A timeline: the customer's id, else (customer None) the lead's.
Timeline = tuple[str | None, str | None]
_COLUMNS = ("interaction_id", "customer_id", "lead_id", "channel", "started_at", "replied_at")


def timeline_of(customer_id: str | None, lead_id: str | None) -> Timeline:
    """The timeline an interaction is on: its customer's, else its lead's."""
    return (customer_id, None) if customer_id is not None else (None, lead_id)


def written_timeline(model: object) -> Timeline:
    """The timeline a validated interaction is written onto (read off the document)."""
    return timeline_of(getattr(model, "customer_id", None), getattr(model, "lead_id", None))


def _on(table: Any, timeline: Timeline) -> ColumnElement[bool]:
    """The rows of ``table`` (interactions or turns) on ``timeline``."""
    customer, lead = timeline
    condition: ColumnElement[bool]
    if customer is not None:
        condition = table.c.customer_id == customer
    else:
        condition = and_(table.c.customer_id.is_(None), table.c.lead_id == lead)
    return condition


def turn_select(where: Sequence[ColumnElement[bool]]) -> Any:
    """The turns of the interactions ``where`` selects, with each one's first reply."""
    i = interactions.c
    timeline = (i.customer_id, case((i.customer_id.is_(None), i.lead_id), else_=None))
    walked = (
        select(
            i.id,
            i.customer_id,
            i.lead_id,
            i.channel,
            i.direction,
            i.occurred_at,
            func.lag(i.direction)
            .over(partition_by=timeline, order_by=(i.occurred_at, i.id))
            .label("before"),
        )
        .where(i.channel.not_in(NOT_CONTACT), *where)
        .subquery()
    )
    replies = interactions.alias("reply")

    def first_reply(same_timeline: ColumnElement[bool]) -> Any:
        return (
            select(func.min(replies.c.occurred_at))
            .where(
                same_timeline,
                replies.c.direction == "outbound",
                replies.c.channel.not_in(NOT_CONTACT),
                replies.c.occurred_at >= walked.c.occurred_at,
            )
            .scalar_subquery()
        )

    reply_at = case(
        (
            walked.c.customer_id.is_not(None),
            first_reply(replies.c.customer_id == walked.c.customer_id),
        ),
        else_=first_reply(
            and_(replies.c.lead_id == walked.c.lead_id, replies.c.customer_id.is_(None))
        ),
    )
    return select(
        walked.c.id,
        walked.c.customer_id,
        walked.c.lead_id,
        walked.c.channel,
        walked.c.occurred_at.label("started_at"),
        reply_at.label("replied_at"),
    ).where(
        walked.c.direction == "inbound",
        or_(walked.c.before.is_(None), walked.c.before != "inbound"),
    )


def _lock(connection: Connection, timeline: Timeline) -> None:
    """Serialise the recomputation of one timeline on PostgreSQL (until the commit)."""
    if connection.dialect.name == "postgresql":
        key = f"kpi-turns:{timeline[0] or ''}:{timeline[1] or ''}"
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def refresh_timelines(connection: Connection, timelines: Iterable[Timeline]) -> None:
    """Recompute the turns of ``timelines`` from their interactions, in this transaction."""
    # Every timeline's old turns go first: a message that moved from one timeline to
    # another keeps its id, and its old turn must be gone before the new one is written.
    chosen = sorted(set(timelines), key=lambda t: (t[0] or "", t[1] or ""))
    for timeline in chosen:
        _lock(connection, timeline)
        connection.execute(delete(CustomerTurn).where(_on(turns, timeline)))
    for timeline in chosen:
        connection.execute(
            insert(CustomerTurn).from_select(_COLUMNS, turn_select([_on(interactions, timeline)]))
        )


def rebuild_turns(connection: Connection) -> None:
    """Recompute the whole table from every interaction (after a migration or a bulk load)."""
    connection.execute(delete(CustomerTurn))
    connection.execute(insert(CustomerTurn).from_select(_COLUMNS, turn_select([])))


__all__ = [
    "NOT_CONTACT",
    "Timeline",
    "rebuild_turns",
    "refresh_timelines",
    "timeline_of",
    "turn_select",
    "turns",
    "written_timeline",
]
