"""What admins do to deliveries and inbound events, and who may: retry, purge, resolve, pause.

Each function changes the rows and appends its audit entry in one transaction. Actions
on everything a filter matches go through :mod:`core.admin.jobs` (count first, then a
background job); the functions here act on one item or a selection of them.

- retry: a dead, purged or resolved item is pending again with a fresh attempt count; a
  retrying one is due now (its attempts kept).
- purge: a dead or retrying item is given up (``discarded``); the binding is kept and the
  record's next change queues it again.
- resolve: a dead or retrying item was settled by hand (``resolved``); likewise queued
  again by the record's next change.
A row a worker holds the lease on is left alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, or_, tuple_, update

from core.admin.audit import Actor, record
from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import DEAD, DISCARDED, FAILED, PENDING, RESOLVED, SyncState
from core.db.types import utcnow
from core.settings import Role
from core.sync.engine import Ref
from core.sync.pause import pause_in, resume_in

RETRY = "retry"
PURGE = "purge"
RESOLVE = "resolve"
PAUSE = "pause"
RESUME = "resume"
RESYNC = "resync"
VIEW = "view"
SETTINGS = "settings"

#: The least role each action needs (core.api.auth.allows decides who has it).
NEEDS: dict[str, Role] = {
    VIEW: "reader",
    RETRY: "operator",
    PAUSE: "operator",
    RESUME: "operator",
    RESYNC: "operator",
    RESOLVE: "admin",
    PURGE: "admin",
    SETTINGS: "admin",
}
#: The states each action changes, for deliveries and for inbound events.
DELIVERY_FROM: dict[str, tuple[str, ...]] = {
    RETRY: (DEAD, FAILED, DISCARDED, RESOLVED),
    PURGE: (DEAD, FAILED),
    RESOLVE: (DEAD, FAILED),
}
INBOX_FROM: dict[str, tuple[str, ...]] = {RETRY: (DEAD, FAILED, DISCARDED), PURGE: (DEAD, FAILED)}
#: Most items one selection may name (larger sets go through a filter and a job).
MAX_SELECTION = 1000

Dispatch = Callable[[str, Sequence[Any]], Any]
Key = tuple[str, str, str]


def unleased(table: Any, now: datetime) -> ColumnElement[bool]:
    """Rows no worker holds a lease on."""
    return or_(table.lease_until.is_(None), table.lease_until < now)


def delivery_values(action: str, now: datetime, enqueued: datetime | None) -> dict[str, Any]:
    """The SET clause of ``action`` on ``sync_state`` rows."""
    if action == RETRY:
        revived = SyncState.state != FAILED
        return {
            "state": case((revived, PENDING), else_=SyncState.state),
            "attempts": case((revived, 0), else_=SyncState.attempts),
            "due_at": now,
            "enqueued_at": enqueued,
            "updated_at": now,
        }
    if action in (PURGE, RESOLVE):
        return {"state": DISCARDED if action == PURGE else RESOLVED, "updated_at": now}
    raise ValueError(f"no such action on deliveries: {action!r}")


def inbox_values(action: str, now: datetime, enqueued: datetime | None) -> dict[str, Any]:
    """The SET clause of ``action`` on ``inbox`` rows."""
    if action == RETRY:
        revived = InboxEvent.state != FAILED
        return {
            "state": case((revived, PENDING), else_=InboxEvent.state),
            "attempts": case((revived, 0), else_=InboxEvent.attempts),
            "due_at": now,
            "enqueued_at": enqueued,
        }
    if action == PURGE:
        return {"state": DISCARDED}
    raise ValueError(f"no such action on inbound events: {action!r}")


def dispatch_refs(dispatch: Dispatch | None, rows: Sequence[Any]) -> None:
    """Enqueue changed deliveries (rows with plugin, kind, record_id) per plugin."""
    if dispatch is None:
        return
    by_plugin: dict[str, list[Ref]] = defaultdict(list)
    for row in rows:
        by_plugin[row.plugin].append((row.kind, row.record_id))
    for plugin, refs in by_plugin.items():
        dispatch(plugin, refs)


def act_on_deliveries(
    engine: Engine,
    action: str,
    keys: Sequence[Key],
    actor: Actor,
    *,
    reason: str | None = None,
    dispatch: Dispatch | None = None,
    now: datetime | None = None,
) -> int:
    """Apply ``action`` to the deliveries named by ``(plugin, kind, record_id)``; return how many.

    Keys in a state the action does not change are skipped. ``dispatch`` enqueues
    retried deliveries at once; without it the sweeper sends them.
    """
    if not keys:
        return 0
    if len(keys) > MAX_SELECTION:
        raise ValueError(f"at most {MAX_SELECTION} deliveries at once; use a filter")
    now = now or utcnow()
    enqueued = now if dispatch is not None and action == RETRY else None
    key = tuple_(SyncState.plugin, SyncState.kind, SyncState.record_id)
    statement = (
        update(SyncState)
        .where(
            key.in_([tuple(k) for k in keys]),
            SyncState.state.in_(DELIVERY_FROM[action]),
            unleased(SyncState, now),
        )
        .values(**delivery_values(action, now, enqueued))
        .returning(SyncState.plugin, SyncState.kind, SyncState.record_id)
    )
    with engine.begin() as connection:
        changed = connection.execute(statement).all()
        target = "/".join(keys[0]) if len(keys) == 1 else None
        selection = None if target else {"selection": ["/".join(k) for k in keys]}
        record(
            connection,
            actor,
            action,
            target=target,
            filter=selection,
            rows=len(changed),
            reason=reason,
            now=now,
        )
    if action == RETRY:
        dispatch_refs(dispatch, changed)
    return len(changed)


def act_on_inbox(
    engine: Engine,
    action: str,
    ids: Sequence[int],
    actor: Actor,
    *,
    reason: str | None = None,
    dispatch: Dispatch | None = None,
    now: datetime | None = None,
) -> int:
    """Apply ``action`` to the inbound events with these ids; return how many changed."""
    if not ids:
        return 0
    if len(ids) > MAX_SELECTION:
        raise ValueError(f"at most {MAX_SELECTION} events at once; use a filter")
    now = now or utcnow()
    enqueued = now if dispatch is not None and action == RETRY else None
    statement = (
        update(InboxEvent)
        .where(
            InboxEvent.id.in_(list(ids)),
            InboxEvent.state.in_(INBOX_FROM[action]),
            unleased(InboxEvent, now),
        )
        .values(**inbox_values(action, now, enqueued))
        .returning(InboxEvent.plugin, InboxEvent.id)
    )
    with engine.begin() as connection:
        changed = connection.execute(statement).all()
        target = f"inbox/{ids[0]}" if len(ids) == 1 else None
        selection = None if target else {"selection": [f"inbox/{i}" for i in ids]}
        record(
            connection,
            actor,
            f"inbox.{action}",
            target=target,
            filter=selection,
            rows=len(changed),
            reason=reason,
            now=now,
        )
    if action == RETRY and dispatch is not None:
        by_plugin: dict[str, list[int]] = defaultdict(list)
        for row in changed:
            by_plugin[row.plugin].append(int(row.id))
        for plugin, plugin_ids in by_plugin.items():
            dispatch(plugin, plugin_ids)
    return len(changed)


def pause(engine: Engine, plugin: str, actor: Actor, *, reason: str) -> bool:
    """Pause ``plugin``'s sending, audited; False (and no entry) if it was already paused."""
    with engine.begin() as connection:
        paused = pause_in(connection, plugin, by=actor.name, reason=reason)
        if paused:
            record(connection, actor, PAUSE, target=plugin, reason=reason)
    return paused


def resume(engine: Engine, plugin: str, actor: Actor, *, reason: str | None = None) -> bool:
    """Resume ``plugin``'s sending, audited; False (and no entry) if it was not paused."""
    with engine.begin() as connection:
        resumed = resume_in(connection, plugin)
        if resumed:
            record(connection, actor, RESUME, target=plugin, reason=reason)
    return resumed
