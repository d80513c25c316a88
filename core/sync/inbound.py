"""Inbound events: store them once (deduplicated by the sender's id), then apply them.

Webhooks and polls both end here. ``store`` inserts the events (and, for a poll, the
new cursor) in one transaction, ignoring ids already stored; ``process`` leases stored
events and applies them in arrival order through the plugin's
``crm_sync_apply_inbound``, recording applied, retried (transient) or dead (permanent,
with the reason) just as deliveries are.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, or_, select, update

from core.connectors.http import classify_exception
from core.db.admin_tables import IN
from core.db.engine import reading, upsert
from core.db.inbound_tables import APPLIED, Cursor, InboxEvent
from core.db.sync_tables import DEAD, FAILED, PENDING
from core.db.types import utcnow
from core.errors import SyncError
from core.json_limits import FORBIDDEN_CHARACTERS, RefusedJSON, check
from core.plugin_types import InboundEvent
from core.plugins import PluginHost
from core.settings import SyncSettings
from core.sync.attempts import RETRY, attempt_row, record_attempts
from core.sync.backoff import exhausted, plan_retry
from core.sync.error_class import error_class
from core.sync.metrics import WORK

log = logging.getLogger(__name__)


#: Longest ``event_id`` and ``type`` the inbox stores (the widths of its columns).
MAX_EVENT_ID = 256
MAX_EVENT_TYPE = 64


class RefusedEvent(ValueError):
    """An inbound event that cannot be stored as it is; the message names the field."""


def check_events(events: Sequence[InboundEvent]) -> None:
    """Refuse events whose id, type or payload the inbox cannot store, on any database.

    A webhook's ``webhook-id`` becomes an event id and its body the payload, so this is
    where every header- and body-derived value is held to the inbox's widths and to
    core.json_limits, whatever the plugin checked before.
    """
    for index, event in enumerate(events):
        where = f"event {index}"
        for name, value, width in (
            ("event_id", event.event_id, MAX_EVENT_ID),
            ("type", event.type, MAX_EVENT_TYPE),
        ):
            if not isinstance(value, str) or not 1 <= len(value) <= width:
                raise RefusedEvent(f"{where}: {name} must be 1 to {width} characters")
            if FORBIDDEN_CHARACTERS.search(value):
                raise RefusedEvent(f"{where}: {name} holds NUL or an unpaired surrogate")
        if not isinstance(event.payload, dict):
            raise RefusedEvent(f"{where}: the payload is not an object")
        try:
            check(event.payload)
        except RefusedJSON as refused:
            field = "payload" if refused.field is None else f"payload.{refused.field}"
            raise RefusedEvent(f"{where}: {field}: {refused.message}") from None


@dataclass
class StoreResult:
    """Ids of the newly stored events and how many were already known."""

    ids: list[int] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class InboundOutcome:
    """What one ``process`` call did and which events to try again after ``retry_delay``."""

    applied: int = 0
    dead: int = 0
    retry: list[int] = field(default_factory=list)
    retry_delay: float = 0.0


def store_events(
    engine: Engine,
    plugin: str,
    events: Sequence[InboundEvent],
    *,
    cursor: str | None = None,
    save_cursor: bool = False,
    now: datetime | None = None,
) -> StoreResult:
    """Store new events (and the poll cursor) in one transaction; known event ids are skipped.

    Raises ``RefusedEvent`` (storing nothing) when an event breaks ``check_events``.
    """
    check_events(events)
    now = now or utcnow()
    result = StoreResult()
    rows = [
        {
            "plugin": plugin,
            "event_id": event.event_id,
            "type": event.type,
            "payload": event.payload,
            "occurred_at": event.occurred_at,
            "received_at": now,
            "state": PENDING,
            "attempts": 0,
            "due_at": now,
            "enqueued_at": now,
        }
        for event in events
    ]
    with engine.begin() as connection:
        if rows:
            # Many rows, one statement: SQLAlchemy sends them as one multi-row INSERT
            # (its "insertmanyvalues" batches), compiled once and cached. A repeat
            # (already stored, or twice in this call) inserts nothing and returns no
            # id, so the ids returned are the new events.
            store = (
                upsert(engine, InboxEvent)
                .on_conflict_do_nothing(index_elements=[InboxEvent.plugin, InboxEvent.event_id])
                .returning(InboxEvent.id)
            )
            inserted = connection.execute(store, rows)
            result.ids = sorted(int(row.id) for row in inserted)
            result.duplicates = len(rows) - len(result.ids)
        if save_cursor:
            insert = upsert(engine, Cursor).values(plugin=plugin, value=cursor, polled_at=now)
            connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[Cursor.plugin], set_={"value": cursor, "polled_at": now}
                )
            )
    WORK.inbound_events(plugin, "received", len(result.ids))
    WORK.inbound_events(plugin, "duplicate", result.duplicates)
    return result


def load_cursor(engine: Engine, plugin: str) -> str | None:
    """The cursor the last poll of ``plugin`` saved, or None before the first poll."""
    with reading(engine) as connection:
        return connection.execute(select(Cursor.value).where(Cursor.plugin == plugin)).scalar()


class InboundEngine:
    """Applies stored inbound events through their plugins."""

    def __init__(
        self, engine: Engine, host: PluginHost, settings: SyncSettings, *, log_attempts: bool = True
    ) -> None:
        self.engine = engine
        self.host = host
        self.settings = settings
        self.log_attempts = log_attempts

    def process(
        self, plugin: str, ids: Sequence[int], *, now: datetime | None = None
    ) -> InboundOutcome:
        """Lease the due events among ``ids``, apply them in arrival order, record outcomes."""
        now = now or utcnow()
        owner = uuid.uuid4().hex[:16]
        outcome = InboundOutcome()
        claimed = self._claim(plugin, ids, owner, now)
        delays = []
        attempts: list[dict[str, Any]] = []
        for row in claimed:
            event = InboundEvent(row.event_id, row.type, row.payload, row.occurred_at)
            error: SyncError | None = exhausted(row.attempts, self.settings, row.last_error)
            started = time.perf_counter()
            took: float | None = None
            if error is None:
                try:
                    self.host.apply_inbound(plugin, event)
                except Exception as failure:
                    error = classify_exception(failure)
                took = (time.perf_counter() - started) * 1000
            log_row = {
                "direction": IN,
                "plugin": plugin,
                "kind": row.type,
                "record_id": str(row.id),
                "version": None,
                "attempt": row.attempts,
                "started_at": now,
                "duration_ms": took,
            }
            if error is None:
                self._finish(row.id, owner, APPLIED, None, None, now)
                outcome.applied += 1
                attempts.append(attempt_row(**log_row, finished_at=utcnow(), outcome=APPLIED))
                continue
            plan = plan_retry(error, row.attempts, self.settings)
            kind_of = error_class(error)
            if plan.delay is not None:
                delays.append(plan.delay)
                self._finish(
                    row.id,
                    owner,
                    FAILED,
                    plan.message,
                    kind_of,
                    now + timedelta(seconds=plan.delay),
                )
                outcome.retry.append(row.id)
                state = RETRY
            else:
                log.warning("%s inbound event %s is dead: %s", plugin, row.event_id, plan.message)
                self._finish(row.id, owner, DEAD, plan.message, kind_of, now)
                outcome.dead += 1
                state = DEAD
            attempts.append(
                attempt_row(
                    **log_row,
                    finished_at=utcnow(),
                    outcome=state,
                    error_class=kind_of,
                    error=plan.message,
                )
            )
        if attempts and self.log_attempts:
            with self.engine.begin() as connection:
                record_attempts(connection, attempts)
        outcome.retry_delay = max(delays, default=0.0)
        WORK.inbound_events(plugin, "applied", outcome.applied)
        WORK.inbound_events(plugin, "retry", len(outcome.retry))
        WORK.inbound_events(plugin, "dead", outcome.dead)
        return outcome

    def _claim(self, plugin: str, ids: Sequence[int], owner: str, now: datetime) -> list[Any]:
        statement = (
            update(InboxEvent)
            .where(
                InboxEvent.plugin == plugin,
                InboxEvent.id.in_(list(ids)),
                InboxEvent.state.in_((PENDING, FAILED)),
                InboxEvent.due_at <= now,
                or_(InboxEvent.lease_until.is_(None), InboxEvent.lease_until < now),
            )
            .values(
                lease_owner=owner,
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                attempts=InboxEvent.attempts + 1,
            )
            .returning(
                InboxEvent.id,
                InboxEvent.event_id,
                InboxEvent.type,
                InboxEvent.payload,
                InboxEvent.occurred_at,
                InboxEvent.attempts,
                InboxEvent.last_error,
            )
        )
        with self.engine.begin() as connection:
            rows = list(connection.execute(statement))
        return sorted(rows, key=lambda row: row.id)

    def _finish(
        self,
        row_id: int,
        owner: str,
        state: str,
        error: str | None,
        kind_of: str | None,
        due: datetime,
    ) -> None:
        values: dict[str, Any] = {
            "state": state,
            "last_error": error,
            "error_class": kind_of,
            "due_at": due,
            "enqueued_at": due,
            "lease_owner": None,
            "lease_until": None,
        }
        if state == APPLIED:
            values["applied_at"] = utcnow()
        with self.engine.begin() as connection:
            connection.execute(
                update(InboxEvent)
                .where(and_(InboxEvent.id == bindparam("row"), InboxEvent.lease_owner == owner))
                .values(**values),
                {"row": row_id},
            )
