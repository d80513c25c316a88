"""Record writes inside a transaction lead scoring already holds.

``core.store.write_record`` opens its own transaction for each record. Assignment
writes the owner and the timeline event of a decision in the transaction that takes
the rotation turn (one commit instead of four), and ``score --all`` writes a whole
chunk of changed leads in one transaction. Both go through :func:`write_in`, which
does exactly what ``write_record`` does (upsert with the version check, outbox rows
for the subscribers, the origin marked as holding the version it wrote) on the
connection it is given. Dispatching the queued messages is the caller's job, after
the commit, so no worker is told of a version that might still be rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, case, or_, select

from core.db.engine import upsert
from core.db.sync_tables import SYNCED, SyncState
from core.kinds import Kind
from core.schemas.base import CanonicalModel
from core.store import (
    ConcurrentUpdate,
    StoredRecord,
    WriteResult,
    _mark_origin,
    _queue,
    canonical_document,
)


def write_in(
    connection: Connection,
    kind: Kind,
    record_id: str,
    model: CanonicalModel,
    *,
    subscribers: Sequence[str],
    now: datetime,
    origin: str | None = None,
    expected_version: int | None = None,
) -> WriteResult:
    """Insert or update a record and queue it for ``subscribers`` in ``connection``'s transaction.

    Same rules as ``core.store.write_record``: an identical document changes nothing;
    with ``expected_version`` the write applies only on top of that version, else
    ConcurrentUpdate is raised (nothing was written, the transaction stays usable).
    """
    data, digest = canonical_document(model)
    table = kind.table
    columns = kind.index(model)
    insert = upsert(connection.engine, table).values(
        id=record_id, version=1, digest=digest, data=data, created_at=now, updated_at=now, **columns
    )
    statement = insert.on_conflict_do_update(
        index_elements=[table.id],
        set_={
            "version": table.version + 1,
            "digest": digest,
            "data": data,
            "updated_at": now,
            **columns,
        },
        where=table.digest != digest
        if expected_version is None
        else and_(table.digest != digest, table.version == expected_version),
    ).returning(table.version, table.created_at)
    row = connection.execute(statement).first()
    if row is None:
        current = connection.execute(
            select(table.version, table.created_at, table.updated_at, table.digest).where(
                table.id == record_id
            )
        ).one()
        if current.digest != digest:
            raise ConcurrentUpdate(
                f"{kind.type} {record_id} is at version {current.version}, not {expected_version}"
            )
        record = StoredRecord(
            kind, record_id, current.version, data, current.created_at, current.updated_at
        )
        return WriteResult(record, created=False, changed=False, subscribers=())
    version = int(row.version)
    if subscribers:
        _queue(connection.engine, connection, kind.type, record_id, version, subscribers, now)
        if origin is not None and origin in subscribers:
            _mark_origin(connection, origin, kind.type, record_id, version)
    record = StoredRecord(kind, record_id, version, data, row.created_at, now)
    return WriteResult(record, created=version == 1, changed=True, subscribers=tuple(subscribers))


def bind_in(
    connection: Connection,
    plugin: str,
    type_: str,
    record_id: str,
    external_id: str,
    version: int,
    now: datetime,
) -> None:
    """``RecordAccess.bind`` in ``connection``'s transaction: the target holds ``version``."""
    insert = upsert(connection.engine, SyncState).values(
        plugin=plugin,
        kind=type_,
        record_id=record_id,
        state=SYNCED,
        wanted_version=version,
        synced_version=version,
        external_id=external_id,
        attempts=0,
        due_at=now,
        updated_at=now,
    )
    behind = or_(SyncState.synced_version.is_(None), SyncState.synced_version < version)
    statement = insert.on_conflict_do_update(
        index_elements=[SyncState.plugin, SyncState.kind, SyncState.record_id],
        set_={
            "external_id": external_id,
            "synced_version": case((behind, version), else_=SyncState.synced_version),
            "state": case(
                (
                    and_(SyncState.wanted_version <= version, SyncState.lease_owner.is_(None)),
                    SYNCED,
                ),
                else_=SyncState.state,
            ),
            "updated_at": now,
        },
    )
    connection.execute(statement)


__all__ = ["bind_in", "write_in"]
