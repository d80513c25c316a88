"""The sweeper: re-sends every due delivery whose message was lost or is overdue.

The database, not the broker, is the record of what still has to be sent. After a
crash between commit and enqueue, a broker restart, a flushed Redis or a worker killed
mid-push (its lease runs out), the sweeper finds the rows that are due, not leased and
not enqueued recently, and sends them again in batches. One process sweeps at a time
(a database lease), whichever of ``serve`` and ``worker`` holds it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update

from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import FAILED, PENDING, SyncState
from core.db.types import utcnow
from core.sync.engine import Ref
from core.sync.leased_loop import LeasedLoop
from core.sync.pause import claimable_now
from core.sync.runtime import SyncRuntime
from core.sync.statistics import refresh_stale_statistics

log = logging.getLogger(__name__)

LEASE_NAME = "sweeper"

#: Most rows one sweep re-sends; the next sweep takes the rest.
SWEEP_LIMIT = 20_000


def sweep_once(runtime: SyncRuntime, *, now: datetime | None = None) -> int:
    """Re-send due, unleased deliveries not enqueued within ``requeue_after``; return how many."""
    now = now or utcnow()
    settings = runtime.settings.sync
    cutoff = now - timedelta(seconds=settings.requeue_after_seconds)
    active = [plugin for plugin in runtime.host.active() if not _backlogged(runtime, plugin)]
    if not active:
        return 0
    due = (
        select(SyncState.plugin, SyncState.kind, SyncState.record_id)
        .where(
            SyncState.plugin.in_(active),
            SyncState.state.in_((PENDING, FAILED)),
            SyncState.due_at <= now,
            or_(SyncState.enqueued_at.is_(None), SyncState.enqueued_at <= cutoff),
            or_(SyncState.lease_until.is_(None), SyncState.lease_until < now),
            claimable_now(SyncState.plugin),
        )
        .order_by(SyncState.due_at)
        .limit(SWEEP_LIMIT)
        .with_for_update(skip_locked=True)
    )
    by_plugin: dict[str, list[Ref]] = defaultdict(list)
    with runtime.engine.begin() as connection:
        rows = connection.execute(due).all()
        if not rows:
            return 0
        connection.execute(
            update(SyncState)
            .where(
                SyncState.plugin == bindparam("p"),
                SyncState.kind == bindparam("k"),
                SyncState.record_id == bindparam("r"),
            )
            .values(enqueued_at=now),
            [{"p": row.plugin, "k": row.kind, "r": row.record_id} for row in rows],
        )
    for row in rows:
        by_plugin[row.plugin].append((row.kind, row.record_id))
    for plugin, refs in by_plugin.items():
        runtime.dispatch(plugin, refs)
    log.info("sweeper re-sent %d due deliveries", len(rows))
    return len(rows)


def sweep_inbox(runtime: SyncRuntime, *, now: datetime | None = None) -> int:
    """Re-send due, unleased inbound events not enqueued within ``requeue_after``."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=runtime.settings.sync.requeue_after_seconds)
    due = (
        select(InboxEvent.plugin, InboxEvent.id)
        .where(
            InboxEvent.plugin.in_(runtime.host.active()),
            InboxEvent.state.in_((PENDING, FAILED)),
            InboxEvent.due_at <= now,
            or_(InboxEvent.enqueued_at.is_(None), InboxEvent.enqueued_at <= cutoff),
            or_(InboxEvent.lease_until.is_(None), InboxEvent.lease_until < now),
        )
        .order_by(InboxEvent.id)
        .limit(SWEEP_LIMIT)
    )
    by_plugin: dict[str, list[int]] = defaultdict(list)
    with runtime.engine.begin() as connection:
        rows = connection.execute(due).all()
        if not rows:
            return 0
        connection.execute(
            update(InboxEvent)
            .where(InboxEvent.id.in_([row.id for row in rows]))
            .values(enqueued_at=now)
        )
    for row in rows:
        by_plugin[row.plugin].append(row.id)
    for plugin, ids in by_plugin.items():
        runtime.dispatch_inbound(plugin, ids)
    log.info("sweeper re-sent %d due inbound events", len(rows))
    return len(rows)


def _backlogged(runtime: SyncRuntime, plugin: str) -> bool:
    """True when ``plugin``'s queue already holds a full sweep's worth of messages.

    Re-sending then would only pile copies onto a queue that nobody is draining (all
    workers down); the rows stay due and are swept once the queue shrinks.
    """
    depth = runtime.queue_depth(plugin)
    return depth is not None and depth >= SWEEP_LIMIT


class Sweeper(LeasedLoop):
    """Sweeps deliveries and inbound events each interval, one process at a time."""

    def __init__(self, runtime: SyncRuntime) -> None:
        interval = runtime.settings.sync.sweep_interval_seconds
        super().__init__(runtime, lease=LEASE_NAME, interval=interval, ttl=max(10.0, interval * 5))

    def work_round(self) -> None:
        """Re-send what is due and not enqueued recently; keep the planner's statistics fresh."""
        sweep_once(self.runtime)
        sweep_inbox(self.runtime)
        refresh_stale_statistics(self.runtime.engine)
