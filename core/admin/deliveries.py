"""Searching deliveries and inbound events, grouping failures by class, one item's details.

Lists page by key (``due_at`` and the primary key for deliveries, the id for inbound
events), never by offset, so the thousandth page costs what the first does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, desc, func, select

from core.admin.audit import Entry, entries
from core.admin.filters import DeliveryCursor, DeliveryFilter, InboxFilter
from core.db.admin_tables import IN, OUT
from core.db.engine import reading
from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import SyncState
from core.kinds import kind_by_type
from core.plugin_types import SyncRecord
from core.plugins import PluginHost
from core.store import StoredRecord, get_record, timeline
from core.sync.attempts import AttemptView, attempts_of
from core.sync.idempotency import idempotency_key

#: Keys of a document whose values are never shown (any case, anywhere in the document).
SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|^auth(orization)?$|credential|private[_-]?key"
    r"|signature",
    re.I,
)
HIDDEN = "•••"

_COLUMNS = (
    SyncState.plugin,
    SyncState.kind,
    SyncState.record_id,
    SyncState.state,
    SyncState.wanted_version,
    SyncState.synced_version,
    SyncState.external_id,
    SyncState.attempts,
    SyncState.last_error,
    SyncState.error_class,
    SyncState.due_at,
    SyncState.last_attempt_at,
    SyncState.lease_until,
    SyncState.updated_at,
)


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery as a list shows it."""

    plugin: str
    kind: str
    record_id: str
    state: str
    wanted_version: int
    synced_version: int | None
    external_id: str | None
    attempts: int
    last_error: str | None
    error_class: str | None
    due_at: datetime
    last_attempt_at: datetime | None
    lease_until: datetime | None
    updated_at: datetime

    @property
    def key(self) -> str:
        """``plugin/kind/record_id``, how the audit names a delivery."""
        return f"{self.plugin}/{self.kind}/{self.record_id}"


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, the cursor of the next page (None at the end)."""

    rows: list[Any]
    next: str | None


@dataclass(frozen=True)
class ErrorGroup:
    """How many items of a list failed with one error class, and its most common message."""

    error_class: str | None
    count: int
    sample: str | None = None
    sample_count: int = 0


def search_deliveries(
    engine: Engine, criteria: DeliveryFilter, *, after: DeliveryCursor | None, limit: int = 50
) -> Page:
    """One page of deliveries matching ``criteria``, after ``after``."""
    dialect = engine.dialect.name
    statement = select(*_COLUMNS).where(criteria.condition(dialect))
    if after is not None:
        statement = statement.where(criteria.after(after))
    order = (SyncState.due_at, SyncState.plugin, SyncState.kind, SyncState.record_id)
    statement = statement.order_by(*(desc(c) if criteria.newest_first else c for c in order))
    with reading(engine) as connection:
        rows = [
            DeliveryRow(**row._mapping) for row in connection.execute(statement.limit(limit + 1))
        ]
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more:
        last = rows[-1]
        cursor = DeliveryCursor(last.due_at, last.plugin, last.kind, last.record_id).encode()
    return Page(rows, cursor)


@dataclass(frozen=True)
class Summary:
    """What a list's filter matches: how many, and the groups by error class."""

    total: int
    groups: list[ErrorGroup]


def delivery_summary(engine: Engine, criteria: DeliveryFilter, *, limit: int = 20) -> Summary:
    """The deliveries ``criteria`` matches: the total and its error classes, in one scan.

    The groups ignore the filter's own ``error_class`` (they offer the other classes);
    the total respects it.
    """
    condition = criteria.without("error_class").condition(engine.dialect.name)
    groups = _groups(engine, SyncState.error_class, SyncState.last_error, condition)
    return _summary(groups, criteria.error_class, limit)


def inbox_summary(engine: Engine, criteria: InboxFilter, *, limit: int = 20) -> Summary:
    """The inbound events ``criteria`` matches: the total and its error classes."""
    condition = criteria.without("error_class").condition(engine.dialect.name)
    groups = _groups(engine, InboxEvent.error_class, InboxEvent.last_error, condition)
    return _summary(groups, criteria.error_class, limit)


def _summary(groups: list[ErrorGroup], chosen: str | None, limit: int) -> Summary:
    if chosen is None:
        total = sum(group.count for group in groups)
    else:
        total = sum(group.count for group in groups if group.error_class == chosen)
    return Summary(total, groups[:limit])


def _groups(engine: Engine, klass: Any, message: Any, condition: Any) -> list[ErrorGroup]:
    """Counts per class, largest first, each with the message most of its rows share.

    One scan of the matching rows: counts per (class, message), then window functions
    over those groups give each class its total and its most common message.
    """
    count = func.count()
    per_message = (
        select(
            klass.label("klass"),
            message.label("message"),
            count.label("n"),
            func.sum(count).over(partition_by=klass).label("class_total"),
            func.row_number()
            .over(partition_by=klass, order_by=(desc(count), message))
            .label("rank"),
        )
        .where(condition)
        .group_by(klass, message)
        .subquery()
    )
    ranked = per_message.c
    statement = (
        select(ranked.klass, ranked.class_total, ranked.message, ranked.n)
        .where(ranked.rank == 1)
        .order_by(desc(ranked.class_total), ranked.klass)
    )
    with reading(engine) as connection:
        rows = connection.execute(statement).all()
    return [ErrorGroup(row[0], int(row[1]), row[2], int(row[3])) for row in rows]


@dataclass(frozen=True)
class InboxRow:
    """One inbound event as a list shows it."""

    id: int
    plugin: str
    event_id: str
    type: str
    state: str
    attempts: int
    last_error: str | None
    error_class: str | None
    received_at: datetime
    due_at: datetime
    applied_at: datetime | None


_INBOX_COLUMNS = (
    InboxEvent.id,
    InboxEvent.plugin,
    InboxEvent.event_id,
    InboxEvent.type,
    InboxEvent.state,
    InboxEvent.attempts,
    InboxEvent.last_error,
    InboxEvent.error_class,
    InboxEvent.received_at,
    InboxEvent.due_at,
    InboxEvent.applied_at,
)


def search_inbox(
    engine: Engine, criteria: InboxFilter, *, before: int | None, limit: int = 50
) -> Page:
    """One page of inbound events matching ``criteria``, newest first, below id ``before``."""
    statement = select(*_INBOX_COLUMNS).where(criteria.condition(engine.dialect.name))
    if before is not None:
        statement = statement.where(InboxEvent.id < before)
    statement = statement.order_by(InboxEvent.id.desc()).limit(limit + 1)
    with reading(engine) as connection:
        rows = [InboxRow(**row._mapping) for row in connection.execute(statement)]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more else None)


@dataclass(frozen=True)
class TimelineEntry:
    """Something that happened to a record or its delivery, for the delivery's page."""

    at: datetime
    what: str
    detail: str = ""


@dataclass
class DeliveryDetail:
    """Everything the console shows about one delivery."""

    row: DeliveryRow
    record: StoredRecord | None
    idempotency_key: str | None
    document: Any = None
    document_error: str | None = None
    attempts: list[AttemptView] = field(default_factory=list)
    audit: list[Entry] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)


def redact(value: Any) -> Any:
    """A copy of a document with the value of every secret-looking key hidden."""
    if isinstance(value, dict):
        return {
            key: HIDDEN if SECRET_KEY.search(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def delivery_detail(
    engine: Engine, host: PluginHost, plugin: str, kind: str, record_id: str
) -> DeliveryDetail | None:
    """One delivery's page: its row, record, document as the plugin maps it, attempts, timeline.

    The engine always pushes a record's latest version, so the document shown is the one
    the latest push carried (or the next one will), mapped again now; secrets are hidden.
    """
    statement = select(*_COLUMNS).where(
        SyncState.plugin == plugin, SyncState.kind == kind, SyncState.record_id == record_id
    )
    with reading(engine) as connection:
        found = connection.execute(statement).first()
    if found is None:
        return None
    row = DeliveryRow(**found._mapping)
    record = _record(engine, kind, record_id)
    detail = DeliveryDetail(
        row=row,
        record=record,
        idempotency_key=(
            idempotency_key(plugin, kind, record_id, record.version) if record else None
        ),
    )
    if record is not None:
        detail.document, detail.document_error = _document(host, plugin, record, row)
    detail.attempts = attempts_of(engine, OUT, plugin, kind, record_id)
    detail.audit = entries(engine, target=row.key, limit=100)
    detail.timeline = _timeline(engine, detail)
    return detail


def _record(engine: Engine, kind: str, record_id: str) -> StoredRecord | None:
    try:
        return get_record(engine, kind_by_type(kind), record_id)
    except KeyError:
        return None


def _document(
    host: PluginHost, plugin: str, record: StoredRecord, row: DeliveryRow
) -> tuple[Any, str | None]:
    """The plugin's document for the record's latest version, or why there is none."""
    if plugin not in host.active():
        return None, f"plugin {plugin!r} is not active in this process"
    try:
        model = record.model()
        payload = host.map_record(
            plugin,
            SyncRecord(
                type=row.kind,
                id=row.record_id,
                version=record.version,
                data=model,
                updated_at=record.updated_at,
                external_id=row.external_id,
                created_at=record.created_at,
            ),
        )
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"
    return redact(payload), None


def _timeline(engine: Engine, detail: DeliveryDetail) -> list[TimelineEntry]:
    """Record events, attempts and admins' actions on this delivery, newest first."""
    items: list[TimelineEntry] = []
    record = detail.record
    if record is not None:
        items.append(TimelineEntry(record.created_at, "record.created", "v1"))
        if record.version > 1:
            items.append(TimelineEntry(record.updated_at, "record.updated", f"v{record.version}"))
        for event in timeline(engine, detail.row.kind, detail.row.record_id):
            items.append(TimelineEntry(event.created_at, "event", str(event.data.get("type", ""))))
    for attempt in detail.attempts:
        items.append(
            TimelineEntry(
                attempt.finished_at,
                f"attempt.{attempt.outcome}",
                f"#{attempt.attempt} v{attempt.version}"
                if attempt.version
                else f"#{attempt.attempt}",
            )
        )
    for entry in detail.audit:
        items.append(TimelineEntry(entry.at, f"audit.{entry.action}", entry.actor))
    return sorted(items, key=lambda item: item.at, reverse=True)


@dataclass
class InboxDetail:
    """Everything the console shows about one inbound event."""

    row: InboxRow
    payload: Any
    attempts: list[AttemptView] = field(default_factory=list)
    audit: list[Entry] = field(default_factory=list)


def inbox_detail(engine: Engine, event: int) -> InboxDetail | None:
    """One inbound event's page: its row, its payload (secrets hidden), its attempts."""
    statement = select(*_INBOX_COLUMNS, InboxEvent.payload).where(InboxEvent.id == event)
    with reading(engine) as connection:
        found = connection.execute(statement).first()
    if found is None:
        return None
    values = dict(found._mapping)
    payload = values.pop("payload")
    row = InboxRow(**values)
    return InboxDetail(
        row=row,
        payload=redact(payload),
        attempts=attempts_of(engine, IN, row.plugin, None, str(row.id)),
        audit=entries(engine, target=f"inbox/{row.id}", limit=100),
    )
