"""Queue history: a snapshot per plugin per minute, rolled up per hour and day, kept a while.

:func:`take_snapshot` runs outside the sync job, in the maintenance loop's own thread
and connections: the counts by state the database keeps (:mod:`core.admin.state_counts`),
small index ranges for what is in flight, waiting and due (lag), the minute's attempts,
and one small upsert per plugin and resolution, whatever the size of the queues. It never
locks a row a worker needs, so it does not slow the job (``bench/admin_bench.py``
measures it). Each minute row is rolled up into its hour and day rows as it is written:
the larger depth and lag, the sums of the counts, the latest states.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, delete, select, update

from core.admin.overview import MINUTE, attempt_counts, current_figures, floor_minute
from core.admin.state_counts import fold_state_counts
from core.db.admin_tables import IN, OUT, AdminJob, AdminJobItem, QueueSnapshot, WebSession
from core.db.engine import reading, upsert
from core.db.sync_tables import DEAD
from core.db.types import utcnow
from core.settings import ConsoleSettings
from core.sync.attempts import prune_attempts
from core.sync.leased_loop import LeasedLoop
from core.sync.runtime import SyncRuntime

log = logging.getLogger(__name__)

MINUTE_ROWS = "minute"
HOUR_ROWS = "hour"
DAY_ROWS = "day"
RESOLUTIONS = (MINUTE_ROWS, HOUR_ROWS, DAY_ROWS)
LEASE_NAME = "console-maintenance"
#: Counted bulk jobs nobody confirmed are dropped after this long.
UNCONFIRMED_FOR = timedelta(days=1)


def bucket_of(resolution: str, when: datetime) -> datetime:
    """The start of the bucket of ``resolution`` that ``when`` falls in (UTC)."""
    minute = floor_minute(when)
    if resolution == MINUTE_ROWS:
        return minute
    if resolution == HOUR_ROWS:
        return minute.replace(minute=0)
    return minute.replace(hour=0, minute=0)


def take_snapshot(engine: Engine, *, minute: datetime, now: datetime | None = None) -> int:
    """Write the snapshot of ``minute`` (states as of ``now``) and roll it up; rows written.

    A minute already snapshotted is left alone (returns 0), so two rounds, or two
    processes, never count a minute twice.
    """
    now = now or utcnow()
    minute = floor_minute(minute)
    with reading(engine) as connection:
        taken = connection.execute(
            select(QueueSnapshot.plugin).where(
                QueueSnapshot.resolution == MINUTE_ROWS, QueueSnapshot.at == minute
            )
        ).first()
        if taken is not None:
            return 0
        figures = {
            direction: current_figures(connection, direction, now) for direction in (OUT, IN)
        }
        counts = attempt_counts(connection, minute, minute + MINUTE)
    rows: list[dict[str, Any]] = []
    for direction, by_plugin in figures.items():
        plugins = set(by_plugin) | {plugin for d, plugin in counts if d == direction}
        for plugin in sorted(plugins):
            item = by_plugin.get(plugin)
            states = dict(item.states) if item else {}
            done, failures, attempts = counts.get((direction, plugin), (0, 0, 0))
            rows.append(
                {
                    "direction": direction,
                    "plugin": plugin,
                    "depth": item.depth if item else 0,
                    "dead": states.get(DEAD, 0),
                    "lag_seconds": item.lag_seconds if item else 0.0,
                    "done": done,
                    "failures": failures,
                    "attempts": attempts,
                    "states": states,
                }
            )
    if not rows:
        return 0
    with engine.begin() as connection:
        first = upsert(engine, QueueSnapshot).values(
            [{**row, "resolution": MINUTE_ROWS, "at": minute} for row in rows]
        )
        inserted = connection.execute(
            first.on_conflict_do_nothing().returning(QueueSnapshot.plugin)
        ).all()
        if len(inserted) != len(rows):
            return 0  # another process wrote this minute first; its transaction rolled up
        for resolution in (HOUR_ROWS, DAY_ROWS):
            at = bucket_of(resolution, minute)
            for row in rows:
                connection.execute(_rollup(engine), {**row, "resolution": resolution, "at": at})
    return len(rows)


def _rollup(engine: Engine) -> Any:
    """The upsert that folds a minute row into its hour or day row."""
    insert = upsert(engine, QueueSnapshot)
    new = insert.excluded
    table = QueueSnapshot
    return insert.on_conflict_do_update(
        index_elements=[table.resolution, table.direction, table.plugin, table.at],
        set_={
            "depth": case((new.depth > table.depth, new.depth), else_=table.depth),
            "lag_seconds": case(
                (new.lag_seconds > table.lag_seconds, new.lag_seconds), else_=table.lag_seconds
            ),
            "dead": new.dead,
            "done": table.done + new.done,
            "failures": table.failures + new.failures,
            "attempts": table.attempts + new.attempts,
            "states": new.states,
        },
    )


@dataclass(frozen=True)
class Point:
    """One point of a history chart."""

    at: datetime
    depth: int
    lag_seconds: float
    done: int
    failures: int
    dead: int


def history(
    engine: Engine, direction: str, plugin: str, resolution: str, since: datetime
) -> list[Point]:
    """The snapshots of one plugin at one resolution since ``since``, oldest first."""
    statement = (
        select(
            QueueSnapshot.at,
            QueueSnapshot.depth,
            QueueSnapshot.lag_seconds,
            QueueSnapshot.done,
            QueueSnapshot.failures,
            QueueSnapshot.dead,
        )
        .where(
            QueueSnapshot.resolution == resolution,
            QueueSnapshot.direction == direction,
            QueueSnapshot.plugin == plugin,
            QueueSnapshot.at >= since,
        )
        .order_by(QueueSnapshot.at)
    )
    with reading(engine) as connection:
        return [Point(*row) for row in connection.execute(statement)]


def snapshot_plugins(engine: Engine) -> list[str]:
    """Plugins with any history."""
    statement = select(QueueSnapshot.plugin).distinct().order_by(QueueSnapshot.plugin)
    with reading(engine) as connection:
        return list(connection.execute(statement).scalars())


def forget_old(engine: Engine, settings: ConsoleSettings, *, now: datetime | None = None) -> int:
    """Delete history, sessions and unconfirmed jobs past their time; return rows deleted."""
    now = now or utcnow()
    minute_cutoff = now - timedelta(hours=settings.minute_history_hours)
    cutoff = now - timedelta(days=settings.history_days)
    deleted = 0
    with engine.begin() as connection:
        deleted += connection.execute(
            delete(QueueSnapshot).where(
                QueueSnapshot.resolution == MINUTE_ROWS, QueueSnapshot.at < minute_cutoff
            )
        ).rowcount
        deleted += connection.execute(
            delete(QueueSnapshot).where(QueueSnapshot.at < cutoff)
        ).rowcount
        deleted += connection.execute(
            delete(WebSession).where(WebSession.expires_at < now)
        ).rowcount
        stale = select(AdminJob.id).where(
            AdminJob.state == "counted", AdminJob.created_at < now - UNCONFIRMED_FOR
        )
        stale_ids = list(connection.execute(stale).scalars())
        if stale_ids:
            connection.execute(delete(AdminJobItem).where(AdminJobItem.job_id.in_(stale_ids)))
            connection.execute(
                update(AdminJob)
                .where(AdminJob.id.in_(stale_ids))
                .values(state="expired", finished_at=now)
            )
    return int(deleted)


class Maintenance(LeasedLoop):
    """Snapshots the queues each ``console.snapshot_seconds`` and trims the console's tables.

    One process at a time works (a database lease), whichever ``serve`` or ``worker``
    holds it.
    """

    def __init__(self, runtime: SyncRuntime) -> None:
        self.settings = runtime.settings.console
        interval = min(self.settings.snapshot_seconds, 60.0)
        super().__init__(runtime, lease=LEASE_NAME, interval=interval, ttl=max(30.0, interval * 3))
        self.pruned_to = 0

    def work_round(self) -> None:
        """Fold the state counts, snapshot the minute that just ended; trim the rest."""
        now = utcnow()
        engine = self.runtime.engine
        fold_state_counts(engine)
        take_snapshot(engine, minute=floor_minute(now) - MINUTE, now=now)
        keep = self.settings.attempts_per_delivery
        if keep:
            _, self.pruned_to = prune_attempts(
                engine,
                keep=keep,
                older_than=now - timedelta(days=self.settings.history_days),
                since_id=self.pruned_to,
            )
        forget_old(engine, self.settings, now=now)
