"""Reads and writes of canonical records, with their outbox rows in the same transaction."""

# Longer than 600 lines: reads, single writes and the bulk write-back share one set of
# private helpers (document digest, index columns, outbox rows); apart, each would reach
# into the others.

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.sql.elements import ColumnElement

from core.db.engine import reading, upsert
from core.db.records import EventRow
from core.db.sync_tables import PENDING, SYNCED, SyncState
from core.db.types import utcnow
from core.first_responses import refresh_first_responses, written_lead
from core.kinds import KINDS_BY_TYPE, Kind
from core.locale import normalize_phone, normalize_text
from core.schemas.attributes import AttributeCatalog
from core.schemas.base import CanonicalModel
from core.turns import (
    Timeline,
    refresh_timelines,
    timeline_of,
    written_timeline,
)


class ConcurrentUpdate(RuntimeError):
    """The record changed between a read and a write that expected the version read."""


@dataclass(frozen=True)
class StoredRecord:
    """A canonical record as stored: its document and bookkeeping."""

    kind: Kind
    id: str
    version: int
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def model(self) -> CanonicalModel:
        """Validate the stored document back into its schema."""
        return self.kind.schema.model_validate(self.data)


#: The kind whose writes keep the KPIs' customer turns (core/turns.py) and first responses.
INTERACTION = "interaction"
#: The kind whose creation starts a first-response clock (core/first_responses.py).
LEAD = "lead"


@dataclass(frozen=True)
class WriteResult:
    """What a write did: ``changed`` is False when the body equalled the stored record."""

    record: StoredRecord
    created: bool
    changed: bool
    subscribers: tuple[str, ...]


def canonical_document(model: CanonicalModel) -> tuple[dict[str, Any], str]:
    """Return the document to store for ``model`` and its SHA-256 digest.

    Computed fields are left out (they are derived again on load); the digest is taken
    over sorted-key JSON so equal documents always have equal digests.
    """
    data = model.model_dump(mode="json", exclude_computed_fields=True)
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return data, hashlib.sha256(encoded.encode()).hexdigest()


def write_record(
    engine: Engine,
    kind: Kind,
    record_id: str,
    model: CanonicalModel,
    *,
    subscribers: Sequence[str],
    origin: str | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> WriteResult:
    """Insert or update a record and queue it for ``subscribers``, in one transaction.

    The version grows by one only when the document differs from the stored one; an
    identical write changes nothing and queues nothing. The outbox rows keep the
    highest wanted version, so concurrent writes can never make a target go backwards.
    ``origin`` names the plugin the change came from: its target already holds it, so
    it is not echoed back (unless the target was behind anyway), nor queued back to it
    while it is pushing the record (see ``_origin_holds``). With
    ``expected_version`` the write only applies on top of that version, else it raises
    ConcurrentUpdate (read-modify-write by plugins).
    """
    now = now or utcnow()
    with engine.begin() as connection:
        return write_record_in(
            connection,
            kind,
            record_id,
            model,
            subscribers=subscribers,
            now=now,
            origin=origin,
            expected_version=expected_version,
        )


def write_record_in(
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
    """``write_record`` in the transaction ``connection`` holds.

    For callers that write several things at once (a decision and the owner it sets, an
    event beside the change it reports): one commit instead of several. Dispatching messages for
    the queued rows is the caller's job, after its commit. ConcurrentUpdate leaves
    nothing written and the transaction usable.
    """
    data, digest = canonical_document(model)
    table = kind.table
    params = {
        "id": record_id,
        "version": 1,
        "digest": digest,
        "data": data,
        "created_at": now,
        "updated_at": now,
        **kind.index(model),
    }
    if expected_version is not None:
        params["expected_version"] = expected_version
    engine = connection.engine
    statement = _record_upsert(engine, kind, expected_version is not None)
    moved, leads = (
        _turns_moved(connection, kind, [(record_id, model)])
        if kind.type == INTERACTION
        else ([], [])
    )
    row = connection.execute(statement, params).first()
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
    if moved:
        refresh_timelines(connection, moved)
        refresh_first_responses(connection, leads)
    elif kind.type == LEAD and version == 1:
        refresh_first_responses(connection, [record_id])
    queued = list(subscribers)
    own = origin is not None and origin in subscribers and version > 1
    if own and _origin_holds(connection, str(origin), kind.type, record_id, version, now):
        queued.remove(str(origin))
    if queued:
        rows = _outbox_rows(kind.type, record_id, version, queued, now)
        connection.execute(_outbox_upsert(engine), rows[0] if len(rows) == 1 else rows)
        if origin is not None and origin in queued:
            _mark_origin(connection, origin, kind.type, record_id, version)
    record = StoredRecord(kind, record_id, version, data, row.created_at, now)
    return WriteResult(record, created=version == 1, changed=True, subscribers=tuple(queued))


def _origin_holds(
    connection: Connection, origin: str, kind_type: str, record_id: str, version: int, now: datetime
) -> bool:
    """Whether a plugin's own write needs no delivery back to it (and bind it if so).

    Two cases: the plugin is pushing this record right now (its lease is live: it writes
    what it learns while sending, and the push's own outcome settles the delivery; a
    retry sends the latest version anyway), or its target holds everything wanted so
    far (the delivery is synced: the new version, the plugin's own, is bound to it).
    Otherwise the delivery is queued as any subscriber's and marked as before. One
    statement: it matches only in those two cases, and binds only a synced row.
    """
    synced = SyncState.state == SYNCED
    bound = connection.execute(
        update(SyncState)
        .where(
            SyncState.plugin == origin,
            SyncState.kind == kind_type,
            SyncState.record_id == record_id,
            or_(synced, SyncState.lease_until > now),
        )
        .values(
            synced_version=case((synced, version), else_=SyncState.synced_version),
            wanted_version=case(
                (and_(synced, SyncState.wanted_version < version), version),
                else_=SyncState.wanted_version,
            ),
            updated_at=case((synced, now), else_=SyncState.updated_at),
        )
    )
    return bool(bound.rowcount)


def bind_in(
    connection: Connection,
    plugin: str,
    type_: str,
    record_id: str,
    external_id: str,
    version: int,
    now: datetime,
) -> None:
    """Record that ``plugin``'s target holds ``version`` of a record as ``external_id``.

    Runs in ``connection``'s transaction. The row becomes synced unless a newer version
    is wanted or a worker is pushing it right now; it wants at least ``version``.
    """
    params = {
        "p_plugin": plugin,
        "p_kind": type_,
        "p_record": record_id,
        "p_external": external_id,
        "p_version": version,
        "p_now": now,
    }
    connection.execute(_bind_upsert(connection.engine), params)


def _bind_upsert(engine: Engine) -> Any:
    """The upsert of ``bind_in`` with bound parameters, built once per dialect.

    Its update refers only to the row it would have inserted (``excluded``), so one
    statement can bind many rows at once (``bind_many_in``).
    """
    key = (engine.dialect.name, "bind")
    statement = _STATEMENTS.get(key)
    if statement is None:
        version = bindparam("p_version", type_=Integer)
        columns = SyncState.__table__.c
        now = bindparam("p_now", type_=columns.due_at.type)
        insert = upsert(engine, SyncState).values(
            plugin=bindparam("p_plugin"),
            kind=bindparam("p_kind"),
            record_id=bindparam("p_record"),
            state=SYNCED,
            wanted_version=version,
            synced_version=version,
            external_id=bindparam("p_external", type_=columns.external_id.type),
            attempts=0,
            due_at=now,
            updated_at=now,
        )
        held = insert.excluded.synced_version
        behind = or_(SyncState.synced_version.is_(None), SyncState.synced_version < held)
        idle = and_(SyncState.wanted_version <= held, SyncState.lease_owner.is_(None))
        statement = insert.on_conflict_do_update(
            index_elements=[SyncState.plugin, SyncState.kind, SyncState.record_id],
            set_={
                "external_id": insert.excluded.external_id,
                "wanted_version": case(
                    (SyncState.wanted_version < held, held), else_=SyncState.wanted_version
                ),
                "synced_version": case((behind, held), else_=SyncState.synced_version),
                "state": case((idle, SYNCED), else_=SyncState.state),
                "updated_at": insert.excluded.updated_at,
            },
        )
        _STATEMENTS[key] = statement
    return statement


@dataclass(frozen=True)
class RecordUpdate:
    """One stored record to write back on top of the version that was read.

    ``external_id``: the origin's target holds exactly the version this makes, under
    that id (a plugin writing back what it computed from ``expected_version``). None:
    the origin's row is treated as for a plugin's own ``write_record`` (nothing queued
    back to it while it pushes the record or when its delivery is synced).
    """

    id: str
    model: CanonicalModel
    expected_version: int
    external_id: str | None


def update_records_in(
    connection: Connection,
    kind: Kind,
    updates: Sequence[RecordUpdate],
    *,
    subscribers: Sequence[str],
    origin: str,
    now: datetime,
) -> dict[str, int]:
    """Write many stored records back in ``connection``'s transaction, one statement each step.

    For a plugin writing back what it computed for many records (a rescoring): a record
    still at its expected version gets the new document as version + 1; one that moved
    on or was deleted meanwhile is left out of the answer, untouched. ``origin``'s row is
    bound to the new version (not queued) and every other subscriber gets an outbox row.
    Returns the new version of each record written, by id; the caller dispatches
    messages to the other subscribers after its commit (and to ``origin`` for the items
    without an external id whose delivery it queued back, see ``RecordUpdate``; the
    answer of ``update_records_queued_in`` names them). Documents must differ from the
    stored ones.
    """
    return update_records_queued_in(
        connection, kind, updates, subscribers=subscribers, origin=origin, now=now
    )[0]


def update_records_queued_in(
    connection: Connection,
    kind: Kind,
    updates: Sequence[RecordUpdate],
    *,
    subscribers: Sequence[str],
    origin: str,
    now: datetime,
) -> tuple[dict[str, int], list[str]]:
    """``update_records_in``, and the records whose delivery it queued back to ``origin``."""
    if not updates:
        return {}, []
    table = kind.table
    params = []
    digests: dict[str, str] = {}
    for item in updates:
        data, digest = canonical_document(item.model)
        digests[item.id] = digest
        params.append(
            {"p_id": item.id, "p_expected": item.expected_version, "p_digest": digest,
             "p_data": data, "p_now": now, **_lookup_params(kind, item.model)}
        )  # fmt: skip
    ids = [item.id for item in updates]
    moved, leads = (
        _turns_moved(connection, kind, [(item.id, item.model) for item in updates])
        if kind.type == INTERACTION
        else ([], [])
    )
    result = connection.execute(_record_update(kind), params)
    if moved:
        refresh_timelines(connection, moved)
        refresh_first_responses(connection, leads)
    if result.rowcount == len(updates):
        versions = {item.id: item.expected_version + 1 for item in updates}
    else:
        rows = connection.execute(
            select(table.id, table.version, table.digest).where(table.id.in_(ids))
        ).all()
        expected = {item.id: item.expected_version + 1 for item in updates}
        versions = {
            row.id: row.version
            for row in rows
            if row.version == expected[row.id] and row.digest == digests[row.id]
        }
    written = [item for item in updates if item.id in versions]
    others = [plugin for plugin in subscribers if plugin != origin]
    binds = [
        {"p_plugin": origin, "p_kind": kind.type, "p_record": item.id,
         "p_external": item.external_id, "p_version": versions[item.id], "p_now": now}
        for item in written if item.external_id is not None
    ]  # fmt: skip
    if binds:
        connection.execute(_bind_upsert(connection.engine), binds)
    unbound = [item.id for item in written if item.external_id is None]
    back = []
    if unbound and origin in subscribers:
        held = _origin_holds_many(connection, origin, kind.type, unbound, versions, now)
        back = [record_id for record_id in unbound if record_id not in held]
    queued = [
        row
        for item in written
        for row in _outbox_rows(
            kind.type,
            item.id,
            versions[item.id],
            [*others, origin] if item.id in back else others,
            now,
        )
    ]
    if queued:
        connection.execute(_outbox_upsert(connection.engine), queued)
    for record_id in back:
        _mark_origin(connection, origin, kind.type, record_id, versions[record_id])
    return versions, back


#: The interaction columns a customer turn is computed from (core/turns.py).
TURN_COLUMNS = ("customer_id", "lead_id", "channel", "direction", "occurred_at")


def _turns_moved(
    connection: Connection, kind: Kind, writes: Sequence[tuple[str, CanonicalModel]]
) -> tuple[list[Timeline], list[str | None]]:
    """The timelines and leads whose turns or first responses ``writes`` change.

    ``writes`` are (id, validated document) pairs of interactions about to be written;
    read before the write, in one statement. Both are listed before and after the
    write. Only a write that changes one of :data:`TURN_COLUMNS` can change a turn or a
    first response (they are built from the same columns); one that changes other
    fields (a delivery status, a note's text) leaves them as they are, so it recomputes
    none. A new interaction changes the timeline and lead it is written onto.
    """
    table = kind.table
    columns = [getattr(table, name) for name in TURN_COLUMNS]
    stored = {
        row.id: row
        for row in connection.execute(
            select(table.id, *columns).where(table.id.in_([record_id for record_id, _ in writes]))
        )
    }
    moved: list[Timeline] = []
    leads: list[str | None] = []
    for record_id, model in writes:
        row = stored.get(record_id)
        if row is not None:
            index = kind.index(model)
            if all(getattr(row, name) == index[name] for name in TURN_COLUMNS):
                continue
            moved.append(timeline_of(row.customer_id, row.lead_id))
            leads.append(row.lead_id)
        moved.append(written_timeline(model))
        leads.append(written_lead(model))
    return moved, leads


def _origin_holds_many(
    connection: Connection,
    origin: str,
    kind_type: str,
    ids: Sequence[str],
    versions: dict[str, int],
    now: datetime,
) -> set[str]:
    """The records of ``ids`` that need no delivery back to ``origin`` (see ``_origin_holds``).

    One read of the origin's rows (locked on PostgreSQL until the commit) finds those it
    is pushing (a live lease: nothing to write) and those that are synced, which are
    bound to their new version as ``_origin_holds`` binds one.
    """
    rows = connection.execute(
        select(SyncState.record_id, SyncState.state, SyncState.lease_until)
        .where(
            SyncState.plugin == origin,
            SyncState.kind == kind_type,
            SyncState.record_id.in_(ids),
        )
        .with_for_update()
    ).all()
    held = {row.record_id for row in rows if row.lease_until is not None and row.lease_until > now}
    for row in rows:
        if row.record_id in held or row.state != SYNCED:
            continue
        if _origin_holds(
            connection, origin, kind_type, row.record_id, versions[row.record_id], now
        ):
            held.add(row.record_id)
    return held


def _lookup_params(kind: Kind, model: CanonicalModel) -> dict[str, Any]:
    """The lookup columns of a record, as ``_record_update``'s parameters (``p_<column>``)."""
    return {f"p_{name}": value for name, value in kind.index(model).items()}


def _record_update(kind: Kind) -> Any:
    """The UPDATE of ``update_records_in``: on top of the expected version, new document only."""
    key = ("any", "record update", kind.type)
    statement = _STATEMENTS.get(key)
    if statement is None:
        table = kind.table
        columns = sa_inspect(table).columns
        lookups = [
            name
            for name, _ in columns.items()
            if name not in ("id", "version", "digest", "data", "created_at", "updated_at")
        ]
        digest = bindparam("p_digest", type_=columns["digest"].type)
        statement = (
            update(table)
            .where(
                table.id == bindparam("p_id"),
                table.version == bindparam("p_expected", type_=Integer),
                table.digest != digest,
            )
            .values(
                version=table.version + 1,
                digest=digest,
                data=bindparam("p_data", type_=columns["data"].type),
                updated_at=bindparam("p_now", type_=columns["updated_at"].type),
                **{name: bindparam(f"p_{name}", type_=columns[name].type) for name in lookups},
            )
        )
        _STATEMENTS[key] = statement
    return statement


#: Statements of the write path, built once per (dialect, purpose): building a
#: SQLAlchemy statement costs more CPU than running it, and every API write runs these.
_STATEMENTS: dict[tuple[str, ...], Any] = {}


def _record_upsert(engine: Engine, kind: Kind, expected: bool) -> Any:
    """The upsert of one record of ``kind`` that bumps the version only on a real change."""
    key = (engine.dialect.name, "record", kind.type, str(expected))
    statement = _STATEMENTS.get(key)
    if statement is None:
        table = kind.table
        insert = upsert(engine, table)
        excluded = insert.excluded
        lookups = {
            name: excluded[name]
            for name, _ in sa_inspect(table).columns.items()
            if name not in ("id", "version", "digest", "data", "created_at", "updated_at")
        }
        changed = table.digest != excluded.digest
        where = (
            and_(changed, table.version == bindparam("expected_version")) if expected else changed
        )
        statement = insert.on_conflict_do_update(
            index_elements=[table.id],
            set_={
                "version": table.version + 1,
                "digest": excluded.digest,
                "data": excluded.data,
                "updated_at": excluded.updated_at,
                **lookups,
            },
            where=where,
        ).returning(table.version, table.created_at)
        _STATEMENTS[key] = statement
    return statement


def _outbox_upsert(engine: Engine) -> Any:
    """The upsert of one outbox row that keeps the highest wanted version."""
    key = (engine.dialect.name, "outbox")
    statement = _STATEMENTS.get(key)
    if statement is None:
        insert = upsert(engine, SyncState)
        wanted = insert.excluded.wanted_version
        statement = insert.on_conflict_do_update(
            index_elements=[SyncState.plugin, SyncState.kind, SyncState.record_id],
            set_={
                "wanted_version": case(
                    (wanted > SyncState.wanted_version, wanted), else_=SyncState.wanted_version
                ),
                "state": PENDING,
                "attempts": 0,
                "due_at": insert.excluded.due_at,
                "enqueued_at": insert.excluded.enqueued_at,
                "updated_at": insert.excluded.updated_at,
            },
        )
        _STATEMENTS[key] = statement
    return statement


def _outbox_rows(
    kind_type: str, record_id: str, version: int, plugins: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """The outbox rows that queue one record version for each plugin."""
    return [
        {
            "plugin": plugin,
            "kind": kind_type,
            "record_id": record_id,
            "state": PENDING,
            "wanted_version": version,
            "attempts": 0,
            "due_at": now,
            "enqueued_at": now,
            "updated_at": now,
        }
        for plugin in plugins
    ]


def _origin_update(created: bool) -> Any:
    """The update that marks the originating plugin's target as holding a version."""
    key = ("any", "origin", str(created))
    statement = _STATEMENTS.get(key)
    if statement is None:
        version = bindparam("b_version", type_=Integer)
        caught_up = (
            SyncState.synced_version.is_(None)
            if created
            else SyncState.synced_version == version - 1
        )
        statement = (
            update(SyncState)
            .where(
                SyncState.plugin == bindparam("b_plugin"),
                SyncState.kind == bindparam("b_kind"),
                SyncState.record_id == bindparam("b_record"),
            )
            .values(
                synced_version=case((caught_up, version), else_=SyncState.synced_version),
                state=case((caught_up, SYNCED), else_=PENDING),
            )
        )
        _STATEMENTS[key] = statement
    return statement


def _mark_origin(
    connection: Any, plugin: str, kind_type: str, record_id: str, version: int
) -> None:
    """Mark the originating plugin's target as holding ``version`` if it held the one before.

    A record the plugin created (version 1) is held by its target by definition.
    """
    connection.execute(
        _origin_update(version == 1),
        {"b_plugin": plugin, "b_kind": kind_type, "b_record": record_id, "b_version": version},
    )


def _stored(kind: Kind, row: Row[Any]) -> StoredRecord:
    return StoredRecord(kind, row.id, row.version, row.data, row.created_at, row.updated_at)


def get_record(engine: Engine, kind: Kind, record_id: str) -> StoredRecord | None:
    """Return one record, or None when there is none with that id."""
    table = kind.table
    statement = select(
        table.id, table.version, table.data, table.created_at, table.updated_at
    ).where(table.id == record_id)
    with reading(engine) as connection:
        row = connection.execute(statement).first()
    return _stored(kind, row) if row is not None else None


def list_records(
    engine: Engine,
    kind: Kind,
    *,
    after: str | None,
    limit: int,
    filters: Sequence[ColumnElement[bool]] = (),
) -> list[StoredRecord]:
    """Return up to ``limit`` records ordered by id, starting after id ``after`` (keyset paging)."""
    table = kind.table
    statement = select(table.id, table.version, table.data, table.created_at, table.updated_at)
    if after is not None:
        statement = statement.where(table.id > after)
    for condition in filters:
        statement = statement.where(condition)
    statement = statement.order_by(table.id).limit(limit)
    with reading(engine) as connection:
        return [_stored(kind, row) for row in connection.execute(statement)]


def count_records(engine: Engine, kind: Kind) -> int:
    """Return how many records of ``kind`` are stored."""
    with reading(engine) as connection:
        return int(connection.execute(select(func.count()).select_from(kind.table)).scalar_one())


def sync_rows(engine: Engine, kind_type: str, record_id: str) -> list[SyncState]:
    """Return the delivery state of one record for every plugin that has one."""
    statement = (
        select(SyncState)
        .where(SyncState.kind == kind_type, SyncState.record_id == record_id)
        .order_by(SyncState.plugin)
    )
    with reading(engine) as connection:
        return [SyncState(**row._mapping) for row in connection.execute(statement)]


def timeline(
    engine: Engine, kind_type: str, record_id: str, *, limit: int = 100
) -> list[StoredRecord]:
    """The events about one record, oldest first."""
    kind = KINDS_BY_TYPE["event"]
    statement = (
        select(
            EventRow.id, EventRow.version, EventRow.data, EventRow.created_at, EventRow.updated_at
        )
        .where(EventRow.subject_type == kind_type, EventRow.subject_id == record_id)
        .order_by(EventRow.occurred_at, EventRow.id)
        .limit(limit)
    )
    with reading(engine) as connection:
        return [_stored(kind, row) for row in connection.execute(statement)]


def searchable(kind: Kind) -> bool:
    """Whether records of ``kind`` have a normalised ``search`` column."""
    return "search" in sa_inspect(kind.table).columns


def search_filters(kind: Kind, query: str) -> list[ColumnElement[bool]]:
    """Conditions matching records whose search text holds every word of ``query``.

    Words are normalised like the stored text (Persian and Arabic-Indic digits, Arabic
    ی and ک, case), and a word that is a phone number in any spelling matches its E.164
    form, so "۰۹۱۲ ۱۲۳ ۴۵۶۷" finds a customer saved with "+98 912 123 4567".
    """
    column = sa_inspect(kind.table).columns["search"]
    conditions: list[ColumnElement[bool]] = []
    words = normalize_text(query).split()
    try:
        phone: str | None = normalize_phone(query)
    except ValueError:
        phone = None
    if phone is not None:
        words = [phone]
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(column.like(f"%{escaped}%", escape="\\"))
    return conditions


def write_from_caller(
    engine: Engine,
    kind: Kind,
    record_id: str,
    model: CanonicalModel,
    *,
    subscribers: Sequence[str],
    attributes: AttributeCatalog | None = None,
) -> WriteResult:
    """Write a record the CRM sent whole, keeping the system fields it left out.

    With ``attributes``, the record's custom attributes are checked against their
    declarations first: AttributesRefused names each undeclared one and each wrong value,
    and nothing is written.

    Fields other systems write back (``kind.schema.system_fields``) keep their stored
    value when the body does not name them, so a CRM update does not erase an invoice
    number or a score. Applied on top of the version read, retried if it changed.
    """
    if attributes is not None:
        attributes.check(kind.type, getattr(model, "attributes", {}))
    keep = [name for name in kind.schema.system_fields if name not in model.model_fields_set]
    if not keep:
        return write_record(engine, kind, record_id, model, subscribers=subscribers)
    body = model.model_dump(mode="json", exclude_computed_fields=True)
    for _ in range(20):
        stored = get_record(engine, kind, record_id)
        kept = {}
        if stored is not None:
            kept = {name: stored.data[name] for name in keep if stored.data.get(name) is not None}
        merged = kind.schema.model_validate({**body, **kept}) if kept else model
        try:
            # Even with nothing to keep, only on top of the version read: a system field
            # written in between would otherwise be erased by this body.
            return write_record(
                engine,
                kind,
                record_id,
                merged,
                subscribers=subscribers,
                expected_version=stored.version if stored is not None else 0,
            )
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"{kind.type} {record_id} kept changing; try again")
