"""The records facade plugins use to read and change canonical records.

Inbound events (an invoice number, a payment, a shipment, a new promise date) end up
here: ``update`` merges fields into a record with a version check (retrying when the
API changed the record meanwhile), queues the new version for every subscriber but the
plugin it came from, and ``emit`` publishes an event on the record's timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy import inspect as sa_inspect

from core.db.engine import reading
from core.db.sync_tables import SyncState
from core.db.types import utcnow
from core.errors import PermanentError
from core.kinds import KINDS_BY_TYPE, Kind
from core.locale import normalize_phone
from core.plugin_types import Contacted, Reservation, SyncRecord
from core.schemas.base import CanonicalModel
from core.store import (
    ConcurrentUpdate,
    RecordUpdate,
    bind_in,
    canonical_document,
    get_record,
    list_records,
    update_records_queued_in,
    write_record,
    write_record_in,
)
from core.sync.contacts import last_inbound, note_inbound
from core.sync.rate import reserve, reserve_many

if TYPE_CHECKING:
    from core.plugins import PluginHost

#: Sends messages for refs of one plugin: (plugin, [(type, id), ...]).
Dispatch = Callable[[str, Sequence[tuple[str, str]]], object]
#: Plugins subscribed to a document type (or ``event.<type>``).
Subscribers = Callable[[str], list[str]]

#: How often ``update`` re-reads and retries when the record changed under it.
UPDATE_RETRIES = 5
#: Most records ``find`` returns.
FIND_LIMIT = 1000
#: The ``field`` of ``find`` that matches a phone number in any spelling.
PHONE_LOOKUP = "phone"


def _phones(values: Sequence[Any]) -> set[str]:
    """The E.164 forms of the stored phones that normalise (all do: the schema checked them)."""
    found = set()
    for value in values:
        try:
            found.add(normalize_phone(str(value)))
        except ValueError:
            continue
    return found


def _kind(type_: str) -> Kind:
    kind = KINDS_BY_TYPE.get(type_)
    if kind is None:
        raise PermanentError(f"unknown record type {type_!r}")
    return kind


class RecordAccess:
    """Implements ``core.plugin_types.Records`` for one plugin."""

    def __init__(
        self,
        engine: Engine,
        plugin: str,
        subscribers: Subscribers,
        dispatch: Dispatch,
        *,
        host: PluginHost | None = None,
    ) -> None:
        self.engine = engine
        self.plugin = plugin
        self.subscribers = subscribers
        self.dispatch = dispatch
        self.host = host

    def get(self, type_: str, record_id: str) -> SyncRecord | None:
        """The latest version of a record with this plugin's external id; None if unknown."""
        stored = get_record(self.engine, _kind(type_), record_id)
        if stored is None:
            return None
        return SyncRecord(
            type=type_,
            id=record_id,
            version=stored.version,
            data=stored.model(),
            updated_at=stored.updated_at,
            external_id=self.external_id(type_, record_id),
        )

    def external_id(self, type_: str, record_id: str) -> str | None:
        """The external id this plugin's target gave a record, if any."""
        statement = select(SyncState.external_id).where(
            SyncState.plugin == self.plugin,
            SyncState.kind == type_,
            SyncState.record_id == record_id,
        )
        with reading(self.engine) as connection:
            return connection.execute(statement).scalar()

    def find_by_external_id(self, type_: str, external_id: str) -> str | None:
        """The id of the record this plugin bound to ``external_id``, if any."""
        statement = select(SyncState.record_id).where(
            SyncState.plugin == self.plugin,
            SyncState.kind == type_,
            SyncState.external_id == external_id,
        )
        with reading(self.engine) as connection:
            return connection.execute(statement).scalar()

    def find(self, type_: str, field: str, value: str) -> list[SyncRecord]:
        """The records of ``type_`` whose lookup column ``field`` equals ``value``, by id.

        Only the kind's indexed lookup columns can be searched (``order_id`` of
        production statuses, ``customer_id`` of orders...): an unknown column is a
        PermanentError. ``field="phone"`` finds the customers, contacts or leads that
        list a phone number, written any way ``normalize_phone`` reads. At most
        ``FIND_LIMIT`` records are returned.
        """
        kind = _kind(type_)
        if field == PHONE_LOOKUP:
            return self._find_by_phone(kind, value)
        column = sa_inspect(kind.table).columns.get(field)
        if column is None or field in ("id", "version", "digest", "data", "search"):
            raise PermanentError(f"{type_} records cannot be looked up by {field!r}")
        stored = list_records(
            self.engine, kind, after=None, limit=FIND_LIMIT, filters=[column == value]
        )
        return self._records(type_, stored)

    def _find_by_phone(self, kind: Kind, phone: str) -> list[SyncRecord]:
        """The records of ``kind`` that list ``phone`` (any spelling) among their ``phones``.

        Customers, contacts and leads keep their phones in E.164 in ``search``: that
        narrows the rows, then each candidate's phones are compared exactly, so
        ``+98912...`` never matches a longer number that merely contains it.
        """
        search = sa_inspect(kind.table).columns.get("search")
        if search is None:
            raise PermanentError(f"{kind.type} records cannot be looked up by phone")
        try:
            wanted = normalize_phone(phone)
        except ValueError as error:
            raise PermanentError(f"cannot look up {kind.type} records by phone: {error}") from None
        stored = list_records(
            self.engine, kind, after=None, limit=FIND_LIMIT, filters=[search.contains(wanted)]
        )
        return self._records(
            kind.type,
            [row for row in stored if wanted in _phones(row.data.get("phones") or [])],
        )

    def get_many(self, type_: str, record_ids: Sequence[str]) -> dict[str, SyncRecord]:
        """The latest version of each record of ``record_ids`` that exists, by id.

        Two reads whatever the number of ids: the records, then this plugin's external
        ids of them.
        """
        kind = _kind(type_)
        wanted = sorted(set(record_ids))
        if not wanted:
            return {}
        stored = list_records(
            self.engine, kind, after=None, limit=len(wanted), filters=[kind.table.id.in_(wanted)]
        )
        return {record.id: record for record in self._records(type_, stored)}

    def _external_ids(self, type_: str, record_ids: Sequence[str]) -> dict[str, str]:
        """The external ids this plugin's target gave the records ``record_ids`` (those it did)."""
        if not record_ids:
            return {}
        statement = select(SyncState.record_id, SyncState.external_id).where(
            SyncState.plugin == self.plugin,
            SyncState.kind == type_,
            SyncState.record_id.in_(record_ids),
            SyncState.external_id.is_not(None),
        )
        with reading(self.engine) as connection:
            return {row.record_id: row.external_id for row in connection.execute(statement)}

    def _records(self, type_: str, stored: Sequence[Any]) -> list[SyncRecord]:
        """Stored rows as the records plugins see, with this plugin's external ids."""
        external = self._external_ids(type_, [row.id for row in stored])
        return [
            SyncRecord(
                type=type_,
                id=row.id,
                version=row.version,
                data=row.model(),
                updated_at=row.updated_at,
                external_id=external.get(row.id),
            )
            for row in stored
        ]

    def update(
        self,
        type_: str,
        record_id: str,
        changes: dict[str, Any],
        *,
        event: str | None = None,
        create: bool = False,
    ) -> int:
        """Merge ``changes`` (top-level fields) into a record; return the resulting version.

        The merged document is validated by the kind's schema, and changed custom
        attributes by their declarations (a bad value is a PermanentError naming it).
        Identical values change nothing. With ``event``, an event of that type carrying
        the changes is published when the record changed. With ``create``, a missing
        record is created from ``changes`` alone.
        """
        kind = _kind(type_)
        for _ in range(UPDATE_RETRIES):
            stored = get_record(self.engine, kind, record_id)
            if stored is None and not create:
                raise PermanentError(f"there is no {type_} with id {record_id!r}")
            current = stored.data if stored is not None else {}
            model = self._merged(kind, record_id, current, changes)
            try:
                result = write_record(
                    self.engine,
                    kind,
                    record_id,
                    model,
                    subscribers=self.subscribers(type_),
                    origin=self.plugin,
                    expected_version=stored.version if stored is not None else 0,
                )
            except ConcurrentUpdate:
                continue
            for plugin in result.subscribers:
                if plugin != self.plugin:
                    self.dispatch(plugin, [(type_, record_id)])
            if result.changed and event is not None:
                self.emit(
                    event,
                    type_,
                    record_id,
                    {
                        "changes": model.model_dump(
                            mode="json", include=set(changes), exclude_computed_fields=True
                        )
                    },
                )
            return result.record.version
        raise ConcurrentUpdate(f"{type_} {record_id} kept changing; try again later")

    def _merged(
        self, kind: Kind, record_id: str, current: dict[str, Any], changes: dict[str, Any]
    ) -> CanonicalModel:
        """``changes`` merged into a stored document and validated, as ``update`` writes it.

        The kind's schema checks the whole document and the declarations check changed
        custom attributes; a bad value is a PermanentError naming the record.
        """
        try:
            model = kind.schema.model_validate({**current, **changes})
            if self.host is not None and "attributes" in changes:
                self.host.settings.attributes.check(kind.type, getattr(model, "attributes", {}))
        except ValueError as error:
            raise PermanentError(f"{kind.type} {record_id}: {error}") from None
        return model

    def update_many(self, type_: str, changes: Mapping[str, dict[str, Any]]) -> dict[str, int]:
        """Merge each record's ``changes`` into it, all in one write; return each version.

        ``changes`` maps record ids to their top-level fields. Every merged document is
        validated first: a record that does not exist or a bad value is a
        PermanentError naming it, and nothing is written. Then one transaction writes
        them all, a few statements whatever their number (``core.store.update_records_in``),
        queues them as ``update`` does and, after its commit, dispatches one message per
        plugin. A record that changed meanwhile is read and merged again. Identical
        values change nothing (the answer has the current version).
        """
        kind = _kind(type_)
        versions: dict[str, int] = {}
        left = dict(changes)
        for _ in range(UPDATE_RETRIES):
            if not left:
                return versions
            stored = {
                row.id: row
                for row in list_records(
                    self.engine,
                    kind,
                    after=None,
                    limit=len(left),
                    filters=[kind.table.id.in_(sorted(left))],
                )
            }
            items = []
            for record_id, fields in left.items():
                current = stored.get(record_id)
                if current is None:
                    raise PermanentError(f"there is no {type_} with id {record_id!r}")
                model = self._merged(kind, record_id, current.data, fields)
                if canonical_document(model)[0] == current.data:
                    versions[record_id] = current.version
                    continue
                items.append(RecordUpdate(record_id, model, current.version, None))
            subscribers = self.subscribers(type_)
            with self.engine.begin() as connection:
                written, back = update_records_queued_in(
                    connection, kind, items, subscribers=subscribers, origin=self.plugin,
                    now=utcnow(),
                )  # fmt: skip
            versions.update(written)
            for plugin in subscribers:
                refs = [(type_, item.id) for item in items if item.id in written]
                if plugin == self.plugin:
                    refs = [(type_, record_id) for record_id in back]
                if refs:
                    self.dispatch(plugin, refs)
            left = {record_id: left[record_id] for record_id in left if record_id not in versions}
        if left:
            raise ConcurrentUpdate(f"{type_} {', '.join(sorted(left))} kept changing; try again")
        return versions

    def bind(self, type_: str, record_id: str, external_id: str, version: int) -> None:
        """Record that this plugin's target holds ``version`` of a record as ``external_id``.

        Used when a push creates a dependency (the customer of a pro-forma) in the
        target: its external id is kept at once, and the dependency is not pushed again
        unless it changes.
        """
        with self.engine.begin() as connection:
            bind_in(connection, self.plugin, type_, record_id, external_id, version, utcnow())

    def emit(self, type_: str, subject_type: str, subject_id: str, payload: dict[str, Any]) -> str:
        """Publish an event about a record: on its timeline and to ``event.<type>`` subscribers."""
        return emit_event(
            self.engine,
            type_,
            subject_type,
            subject_id,
            payload,
            source=self.plugin,
            subscribers=self.subscribers,
            dispatch=self.dispatch,
        )

    def reserve(self, limits: Sequence[tuple[str, float]], *, max_wait: float = 0.0) -> Reservation:
        """Take one moment of each rate limit, in the database (see ``core.sync.rate``).

        The keys are put under this plugin's name, so two plugins' limits never meet.
        """
        owned = [(f"{self.plugin}:{key}", interval) for key, interval in limits]
        return reserve(self.engine, owned, max_wait=max_wait)

    def reserve_many(
        self, sends: Sequence[Sequence[tuple[str, float]]], *, max_wait: float = 0.0
    ) -> list[Reservation]:
        """``reserve`` for several sends at once, in one transaction (``core.sync.rate``)."""
        owned = [
            [(f"{self.plugin}:{key}", interval) for key, interval in limits] for limits in sends
        ]
        return reserve_many(self.engine, owned, max_wait=max_wait)

    def note_inbound(
        self, owner_type: str, owner_id: str, at: datetime, sender: str | None = None
    ) -> None:
        """Keep ``at`` as the owner's last inbound moment here (see core.sync.contacts)."""
        note_inbound(self.engine, self.plugin, owner_type, owner_id, at, sender)

    def last_inbound(self, owner_type: str, owner_id: str) -> Contacted | None:
        """When the owner last wrote to this plugin and from where; None if never noted."""
        return last_inbound(self.engine, self.plugin, owner_type, owner_id)


def emit_event(
    engine: Engine,
    type_: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
    *,
    source: str,
    subscribers: Subscribers,
    dispatch: Dispatch,
) -> str:
    """Store an event and queue it for the plugins subscribed to ``event.<type>``."""
    with engine.begin() as connection:
        event_id, plugins = emit_event_in(
            connection, type_, subject_type, subject_id, payload, source=source,
            subscribers=subscribers, now=utcnow(),
        )  # fmt: skip
    for plugin in plugins:
        dispatch(plugin, [("event", event_id)])
    return event_id


def emit_event_in(
    connection: Connection,
    type_: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
    *,
    source: str,
    subscribers: Subscribers,
    now: datetime,
    event_id: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    """``emit_event`` in the transaction ``connection`` holds: (event id, plugins to send to).

    The caller dispatches a message to each plugin after its commit. A fixed
    ``event_id`` makes publishing twice store the event once (then no plugin is named).
    """
    kind = KINDS_BY_TYPE["event"]
    event_id = event_id or uuid.uuid4().hex
    model = kind.schema.model_validate(
        {
            "type": type_,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "source": source,
            "occurred_at": now,
            "payload": payload,
        }
    )
    plugins = [plugin for plugin in subscribers(f"event.{type_}") if plugin != source]
    result = write_record_in(connection, kind, event_id, model, subscribers=plugins, now=now)
    return event_id, result.subscribers if result.changed else ()


__all__ = ["RecordAccess", "emit_event", "emit_event_in"]
