"""What admins do with the queues: counts, the dead list, retry, purge and resync.

The CLI and the admin API call these same functions, so both behave alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, inspect, literal, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from core.admin.audit import Actor, record
from core.admin.state_counts import state_counts
from core.db.admin_tables import OUT
from core.db.engine import reading, upsert
from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import DEAD, DISCARDED, FAILED, PENDING, SyncState
from core.db.types import UTCDateTime, utcnow
from core.kinds import Kind
from core.sync.engine import Ref
from core.sync.statistics import analyze, grew_fourfold, refresh_stale_statistics


@dataclass(frozen=True)
class QueueCount:
    """How many deliveries of one plugin are in one state, and the oldest due time."""

    plugin: str
    state: str
    count: int
    oldest_due: datetime | None


@dataclass(frozen=True)
class Selection:
    """Which deliveries an admin command acts on; all None means every one."""

    plugin: str | None = None
    kind: str | None = None
    record_id: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The selection as the audit records it."""
        named = {"plugin": self.plugin, "kind": self.kind, "record_id": self.record_id}
        return {key: value for key, value in named.items() if value is not None} or {"all": "true"}

    def condition(self) -> ColumnElement[bool]:
        """The SQL condition for this selection."""
        parts: list[ColumnElement[bool]] = [SyncState.state.is_not(None)]
        if self.plugin is not None:
            parts.append(SyncState.plugin == self.plugin)
        if self.kind is not None:
            parts.append(SyncState.kind == self.kind)
        if self.record_id is not None:
            parts.append(SyncState.record_id == self.record_id)
        return and_(*parts)


@dataclass(frozen=True)
class Delivery:
    """One row of the dead list as admins see it."""

    plugin: str
    kind: str
    record_id: str
    state: str
    wanted_version: int
    synced_version: int | None
    attempts: int
    last_error: str | None
    last_attempt_at: datetime | None


def queue_counts(engine: Engine) -> list[QueueCount]:
    """Deliveries per plugin and state, with the oldest due time of each.

    The counts come from the kept ``state_counts`` table and each oldest due time from
    one probe of the (plugin, state, due_at) index, so neither the console's queue list
    nor a metrics scrape scans the queue, however long it is.
    """
    with reading(engine) as connection:
        counts = state_counts(connection, OUT)
        oldest = (
            select(func.min(SyncState.due_at))
            .where(
                SyncState.plugin == bindparam("plugin"),
                SyncState.state == bindparam("state"),
            )
            .scalar_subquery()
        )
        return [
            QueueCount(
                plugin,
                state,
                count,
                connection.execute(select(oldest), {"plugin": plugin, "state": state}).scalar_one(),
            )
            for plugin, states in sorted(counts.items())
            for state, count in sorted(states.items())
        ]


def list_dead(engine: Engine, selection: Selection, *, limit: int = 1000) -> list[Delivery]:
    """Dead deliveries matching ``selection``, most recent attempt first."""
    statement = (
        select(
            SyncState.plugin,
            SyncState.kind,
            SyncState.record_id,
            SyncState.state,
            SyncState.wanted_version,
            SyncState.synced_version,
            SyncState.attempts,
            SyncState.last_error,
            SyncState.last_attempt_at,
        )
        .where(SyncState.state == DEAD, selection.condition())
        .order_by(SyncState.last_attempt_at.desc())
        .limit(limit)
    )
    with reading(engine) as connection:
        return [Delivery(*row) for row in connection.execute(statement)]


def retry_dead(
    engine: Engine,
    selection: Selection,
    *,
    now: datetime | None = None,
    actor: Actor | None = None,
    reason: str | None = None,
) -> dict[str, list[Ref]]:
    """Make matching dead deliveries pending again with a fresh attempt count.

    Returns the refs per plugin so the caller can enqueue them at once; the sweeper
    sends them too, since they are due and not marked as enqueued. With ``actor`` the
    action is audited in the same transaction.
    """
    now = now or utcnow()
    statement = (
        update(SyncState)
        .where(SyncState.state == DEAD, selection.condition())
        .values(state=PENDING, attempts=0, due_at=now, enqueued_at=None, updated_at=now)
        .returning(SyncState.plugin, SyncState.kind, SyncState.record_id)
    )
    refs: dict[str, list[Ref]] = {}
    with engine.begin() as connection:
        for row in connection.execute(statement):
            refs.setdefault(row.plugin, []).append((row.kind, row.record_id))
        if actor is not None:
            rows = sum(len(plugin_refs) for plugin_refs in refs.values())
            record(connection, actor, "retry", filter=selection.to_dict(), rows=rows, reason=reason)
    return refs


def purge_dead(
    engine: Engine,
    selection: Selection,
    *,
    now: datetime | None = None,
    actor: Actor | None = None,
    reason: str | None = None,
) -> int:
    """Give matching dead deliveries up (state ``discarded``); return how many.

    The binding (external id, synced version) is kept, and the record's next change
    queues it again.
    """
    now = now or utcnow()
    statement = (
        update(SyncState)
        .where(SyncState.state == DEAD, selection.condition())
        .values(state=DISCARDED, updated_at=now)
    )
    with engine.begin() as connection:
        purged = int(connection.execute(statement).rowcount)
        if actor is not None:
            record(
                connection, actor, "purge", filter=selection.to_dict(), rows=purged, reason=reason
            )
    return purged


def resync(
    engine: Engine,
    plugin: str,
    kinds: list[Kind],
    *,
    chunk: int = 2000,
    largest_chunk: int = 10_000,
    progress: Callable[[int], None] | None = None,
    mark_enqueued: bool = True,
    now: datetime | None = None,
) -> Iterator[list[Ref]]:
    """Queue every record of ``kinds`` for ``plugin`` again, even ones the target has.

    Yields the refs of each committed chunk so the caller can enqueue them. The first
    chunk of each kind has ``chunk`` records, so workers start early; on PostgreSQL each
    next one is twice as large, up to ``largest_chunk``, since every chunk costs its
    statements and commit whatever its size (SQLite keeps ``chunk``: a chunk holds its
    one writer lock, which the API's writes wait for). The synced
    version is forgotten (so nothing is skipped) but the external id is kept, so the
    target updates what it has instead of creating it twice. With ``mark_enqueued``
    false the rows are left for the sweeper to send (when this process has no broker).
    On PostgreSQL the records' statistics are refreshed first if stale, and those of
    ``sync_state`` after the first chunk, again each time the rows queued have grown
    fourfold, and at the end: workers push while the rest is queued, and a planner that
    still believes the table empty reads every row of the plugin for each batch it
    claims instead of looking its rows up by key.
    """
    now = now or utcnow()
    largest = max(chunk, largest_chunk) if engine.dialect.name == "postgresql" else chunk
    # Pages are read by key range: a planner whose statistics predate a bulk import of
    # the records reads the whole table for every page.
    refresh_stale_statistics(engine, [record_table(kind) for kind in kinds])
    queued = 0
    for kind in kinds:
        after: str | None = None
        size = chunk
        first_load = not has_deliveries(engine, plugin, kind)
        while True:
            try:
                ids, after_page = resync_page(
                    engine,
                    plugin,
                    kind,
                    after,
                    chunk=size,
                    mark_enqueued=mark_enqueued,
                    now=now,
                    first_load=first_load,
                )
            except IntegrityError:
                if not first_load:
                    raise
                # A record's own change queued it meanwhile: this chunk and the rest
                # take the general path, which keeps that row and queues it again.
                first_load = False
                continue
            after = after_page
            size = min(size * 2, largest)
            if ids:
                if grew_fourfold(queued, queued + len(ids)):
                    analyze(engine)
                queued += len(ids)
                if progress is not None:
                    progress(len(ids))
                yield [(kind.type, record_id) for record_id in ids]
            if after is None:
                break
    analyze(engine)


def resync_page(
    engine: Engine,
    plugin: str,
    kind: Kind,
    after: str | None,
    *,
    chunk: int = 2000,
    mark_enqueued: bool = True,
    now: datetime | None = None,
    first_load: bool = False,
) -> tuple[list[str], str | None]:
    """Queue the next ``chunk`` records of ``kind`` after id ``after`` for ``plugin`` again.

    Returns the ids queued and the id to continue after (None when the kind is done),
    so a caller can stop between pages and resume later. With ``first_load`` (no row
    of the plugin and kind exists yet) the rows are inserted without the conflict
    handling of the general path; a row that exists after all fails the chunk with
    IntegrityError and changes nothing, so the caller can take the general path.
    """
    now = now or utcnow()
    enqueued = now if mark_enqueued else None
    table = kind.table
    # The page's last id, found by the database so paging follows its collation.
    last = connection_scalar(
        engine,
        select(table.id)
        .where(table.id > after if after is not None else true())
        .order_by(table.id)
        .limit(1)
        .offset(chunk - 1),
    )
    page = (
        select(
            literal(plugin),
            literal(kind.type),
            table.id,
            literal(PENDING),
            table.version,
            literal(0),
            literal(now, UTCDateTime),
            literal(enqueued, UTCDateTime),
            literal(now, UTCDateTime),
        )
        .where(table.id > after if after is not None else true())
        .where(table.id <= last if last is not None else true())
    )
    insert = upsert(engine, SyncState).from_select(
        [
            "plugin",
            "kind",
            "record_id",
            "state",
            "wanted_version",
            "attempts",
            "due_at",
            "enqueued_at",
            "updated_at",
        ],
        page,
    )
    if first_load:
        with engine.begin() as connection:
            ids = list(connection.execute(insert.returning(SyncState.record_id)).scalars())
        return ids, last
    statement = insert.on_conflict_do_update(
        index_elements=[SyncState.plugin, SyncState.kind, SyncState.record_id],
        set_={
            "state": PENDING,
            "wanted_version": insert.excluded.wanted_version,
            "synced_version": None,
            "attempts": 0,
            "due_at": now,
            "enqueued_at": enqueued,
            "updated_at": now,
        },
    ).returning(SyncState.record_id)
    with engine.begin() as connection:
        ids = list(connection.execute(statement).scalars())
    return ids, last


def has_deliveries(engine: Engine, plugin: str, kind: Kind) -> bool:
    """Whether any delivery of ``kind`` to ``plugin`` exists (else a resync is a first load)."""
    statement = (
        select(literal(1)).where(SyncState.plugin == plugin, SyncState.kind == kind.type).limit(1)
    )
    return connection_scalar(engine, statement) is not None


def record_table(kind: Kind) -> str:
    """The name of the table that stores the records of ``kind``."""
    return str(inspect(kind.table).tables[0].name)


def connection_scalar(engine: Engine, statement: Any) -> Any:
    """Run a one-value query on its own connection."""
    with reading(engine) as connection:
        return connection.execute(statement).scalar()


def outstanding(engine: Engine, plugin: str) -> int:
    """Deliveries of ``plugin`` still pending or failed."""
    statement = select(func.count()).where(
        SyncState.plugin == plugin, SyncState.state.in_((PENDING, FAILED))
    )
    with reading(engine) as connection:
        return int(connection.execute(statement).scalar_one())


@dataclass(frozen=True)
class InboundRow:
    """One stored inbound event as admins see it."""

    id: int
    plugin: str
    event_id: str
    type: str
    state: str
    attempts: int
    last_error: str | None
    received_at: datetime
    applied_at: datetime | None


def list_inbox(
    engine: Engine, *, plugin: str | None = None, state: str | None = None, limit: int = 1000
) -> list[InboundRow]:
    """Stored inbound events, newest first, optionally of one plugin and one state."""
    statement = select(
        InboxEvent.id,
        InboxEvent.plugin,
        InboxEvent.event_id,
        InboxEvent.type,
        InboxEvent.state,
        InboxEvent.attempts,
        InboxEvent.last_error,
        InboxEvent.received_at,
        InboxEvent.applied_at,
    )
    if plugin is not None:
        statement = statement.where(InboxEvent.plugin == plugin)
    if state is not None:
        statement = statement.where(InboxEvent.state == state)
    statement = statement.order_by(InboxEvent.id.desc()).limit(limit)
    with reading(engine) as connection:
        return [InboundRow(*row) for row in connection.execute(statement)]


def retry_inbox(
    engine: Engine,
    *,
    plugin: str | None = None,
    event_id: str | None = None,
    now: datetime | None = None,
    actor: Actor | None = None,
    reason: str | None = None,
) -> dict[str, list[int]]:
    """Make dead inbound events pending again; return their ids per plugin to enqueue."""
    now = now or utcnow()
    statement = update(InboxEvent).where(InboxEvent.state == DEAD)
    if plugin is not None:
        statement = statement.where(InboxEvent.plugin == plugin)
    if event_id is not None:
        statement = statement.where(InboxEvent.event_id == event_id)
    statement = statement.values(state=PENDING, attempts=0, due_at=now, enqueued_at=None).returning(
        InboxEvent.plugin, InboxEvent.id
    )
    ids: dict[str, list[int]] = {}
    with engine.begin() as connection:
        for row in connection.execute(statement):
            ids.setdefault(row.plugin, []).append(int(row.id))
        if actor is not None:
            named = {"plugin": plugin, "event_id": event_id}
            chosen = {key: value for key, value in named.items() if value} or {"all": "true"}
            rows = sum(len(plugin_ids) for plugin_ids in ids.values())
            record(connection, actor, "inbox.retry", filter=chosen, rows=rows, reason=reason)
    return ids
