"""The overview's figures per plugin: items by state, lag, last hour's throughput and failures.

How each figure is counted (docs/admin.md says the same for admins):

- states: every ``sync_state`` (or ``inbox``) row of the plugin by its state (from the
  counts the database keeps, :mod:`core.admin.state_counts`), with
  ``in_flight`` split off ``pending`` and ``retry`` (``failed``) while a worker holds its
  lease, and ``waiting on <plugin>`` split off ``failed`` for deliveries waiting on another
  plugin's document (error class ``waiting-<plugin>``); any other state a plugin uses
  (``in_doubt``...) is shown as it is.
- lag: the age of the oldest due item, that is ``now - min(due_at)`` over pending and
  retrying items whose ``due_at`` has come; 0 when nothing is due.
- throughput: attempts that delivered (``synced``; ``applied`` for inbound events) in
  the last hour; failures: attempts that ended ``retry`` or ``dead``; the failure rate
  is failures over all attempts that sent something. The hour is the last 60 whole
  minutes from the minute snapshots plus the attempts log since the newest snapshot.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from core.admin.state_counts import state_counts
from core.db.admin_tables import IN, OUT, Attempt, QueueSnapshot
from core.db.engine import reading
from core.db.inbound_tables import APPLIED, InboxEvent
from core.db.sync_tables import DEAD, FAILED, PENDING, SYNCED, SyncState
from core.db.types import utcnow
from core.plugin_types import HealthReport
from core.plugins import PluginHost
from core.sync.attempts import RETRY
from core.sync.error_class import waiting_on
from core.sync.pause import Pause, health_of, pauses

IN_FLIGHT = "in_flight"
#: The state shown for failed deliveries that wait on another plugin: ``waiting on finance``.
WAITING_ON = "waiting on "
#: The states shown first, in this order; other states follow by name.
STATE_ORDER = (PENDING, FAILED, IN_FLIGHT, "in_doubt", DEAD, SYNCED, APPLIED)
#: Attempt outcomes that count as delivered, and as failed.
DONE_OUTCOMES = (SYNCED, APPLIED)
FAILED_OUTCOMES = (RETRY, DEAD)
#: Outcomes of attempts that sent something (a skip or a hold sent nothing).
SENT_OUTCOMES = (*DONE_OUTCOMES, *FAILED_OUTCOMES)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@dataclass
class QueueFigures:
    """One direction of one plugin: counts by state, depth, lag, last hour's attempts."""

    states: dict[str, int] = field(default_factory=dict)
    lag_seconds: float = 0.0
    done: int = 0
    failures: int = 0
    attempts: int = 0

    @property
    def depth(self) -> int:
        """What is still to do: pending, retrying, waiting and in flight."""
        waiting = sum(n for s, n in self.states.items() if s.startswith(WAITING_ON))
        return waiting + sum(self.states.get(state, 0) for state in (PENDING, FAILED, IN_FLIGHT))

    @property
    def failure_rate(self) -> float | None:
        """Failures over attempts that sent something in the last hour; None without any."""
        return self.failures / self.attempts if self.attempts else None

    def ordered_states(self) -> list[tuple[str, int]]:
        """The states with their counts, the usual ones first."""
        known = [
            (state, self.states.get(state, 0)) for state in STATE_ORDER if state in self.states
        ]
        rest = sorted((s, n) for s, n in self.states.items() if s not in STATE_ORDER)
        return known + rest


@dataclass
class PluginOverview:
    """Everything the overview shows about one plugin."""

    plugin: str
    status: str
    target: str | None
    pause: Pause | None
    health: HealthReport | None
    outbound: QueueFigures
    inbound: QueueFigures


def current_figures(
    connection: Connection, direction: str, now: datetime
) -> dict[str, QueueFigures]:
    """Counts by state and lag of every plugin with rows in one direction, as of ``now``."""
    table: Any = SyncState if direction == OUT else InboxEvent
    figures: dict[str, QueueFigures] = defaultdict(QueueFigures)
    for plugin, states in state_counts(connection, direction).items():
        figures[plugin].states.update(states)
    due_states = (PENDING, FAILED)
    leased = (
        select(table.plugin, table.state, func.count())
        .where(table.state.in_(due_states), table.lease_until > now)
        .group_by(table.plugin, table.state)
    )
    for plugin, state, count in connection.execute(leased):
        states = figures[plugin].states
        states[state] = states.get(state, 0) - int(count)
        states[IN_FLIGHT] = states.get(IN_FLIGHT, 0) + int(count)
    if direction == OUT:
        waits = (
            select(SyncState.plugin, SyncState.error_class, func.count())
            .where(
                SyncState.state == FAILED,
                SyncState.error_class.like("waiting-%"),
                or_(SyncState.lease_until.is_(None), SyncState.lease_until <= now),
            )
            .group_by(SyncState.plugin, SyncState.error_class)
        )
        for plugin, klass, count in connection.execute(waits):
            states = figures[plugin].states
            states[FAILED] = states.get(FAILED, 0) - int(count)
            if states[FAILED] == 0:
                del states[FAILED]
            label = f"{WAITING_ON}{waiting_on(klass)}"
            states[label] = states.get(label, 0) + int(count)
    for plugin, item in figures.items():
        oldest = [
            connection.execute(
                select(func.min(table.due_at)).where(
                    table.plugin == plugin, table.state == state, table.due_at <= now
                )
            ).scalar()
            for state in due_states
            if item.states.get(state, 0) or item.states.get(IN_FLIGHT, 0)
        ]
        found = [when for when in oldest if when is not None]
        if found:
            item.lag_seconds = max(0.0, (now - min(found)).total_seconds())
    return dict(figures)


def attempt_counts(
    connection: Connection, start: datetime, end: datetime
) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Per (direction, plugin): attempts delivered, failed and sent in ``[start, end)``."""
    statement = (
        select(Attempt.direction, Attempt.plugin, Attempt.outcome, func.count())
        .where(Attempt.finished_at >= start, Attempt.finished_at < end)
        .group_by(Attempt.direction, Attempt.plugin, Attempt.outcome)
    )
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for direction, plugin, outcome, count in connection.execute(statement):
        counts = totals[(direction, plugin)]
        if outcome in DONE_OUTCOMES:
            counts[0] += int(count)
        if outcome in FAILED_OUTCOMES:
            counts[1] += int(count)
        if outcome in SENT_OUTCOMES:
            counts[2] += int(count)
    return {key: (d, f, s) for key, (d, f, s) in totals.items()}


def floor_minute(when: datetime) -> datetime:
    """``when`` cut to its minute."""
    return when.replace(second=0, microsecond=0)


def last_hour(connection: Connection, now: datetime) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Per (direction, plugin): delivered, failed and sent attempts of the last hour.

    Whole minutes come from the minute snapshots; what the newest snapshot does not
    cover yet (the current minute, or the whole hour when no snapshot is taken) comes
    from the attempts log.
    """
    start = floor_minute(now) - HOUR + MINUTE
    rows = connection.execute(
        select(
            QueueSnapshot.direction,
            QueueSnapshot.plugin,
            func.sum(QueueSnapshot.done),
            func.sum(QueueSnapshot.failures),
            func.sum(QueueSnapshot.attempts),
            func.max(QueueSnapshot.at),
        )
        .where(QueueSnapshot.resolution == "minute", QueueSnapshot.at >= start)
        .group_by(QueueSnapshot.direction, QueueSnapshot.plugin)
    ).all()
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    covered = start
    for direction, plugin, done, failures, attempts, newest in rows:
        totals[(direction, plugin)] = [int(done or 0), int(failures or 0), int(attempts or 0)]
        covered = max(covered, newest + MINUTE)
    for key, counts in attempt_counts(connection, covered, now + MINUTE).items():
        for index, count in enumerate(counts):
            totals[key][index] += count
    return {key: (d, f, s) for key, (d, f, s) in totals.items()}


class HealthCache:
    """Plugins' health answers kept for a while, so a refreshing page does not flood targets."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._answers: dict[str, tuple[float, HealthReport]] = {}
        self._lock = threading.Lock()

    def get(self, engine: Engine, host: PluginHost, plugin: str) -> HealthReport:
        """The plugin's health (unhealthy while paused), at most ``seconds`` old."""
        with self._lock:
            cached = self._answers.get(plugin)
        if cached is not None and time.monotonic() - cached[0] < self.seconds:
            return cached[1]
        try:
            report = health_of(engine, host, plugin)
        except Exception as error:
            report = HealthReport(ok=False, detail=f"health check failed: {error}")
        with self._lock:
            self._answers[plugin] = (time.monotonic(), report)
        return report

    def forget(self, plugin: str) -> None:
        """Drop a cached answer (after a pause or a resume)."""
        with self._lock:
            self._answers.pop(plugin, None)


def overview(
    engine: Engine, host: PluginHost, health: HealthCache, *, now: datetime | None = None
) -> list[PluginOverview]:
    """Every installed plugin and every plugin with queued rows, with its figures."""
    now = now or utcnow()
    with reading(engine) as connection:
        outbound = current_figures(connection, OUT, now)
        inbound = current_figures(connection, IN, now)
        hour = last_hour(connection, now)
    paused = pauses(engine)
    installed = {info.name: info for info in host.installed()}
    names = sorted(set(installed) | set(outbound) | set(inbound))
    result = []
    for name in names:
        info = installed.get(name)
        status = info.status if info is not None else "unknown"
        description = info.description if info is not None else None
        figures = {OUT: outbound.get(name, QueueFigures()), IN: inbound.get(name, QueueFigures())}
        for direction, item in figures.items():
            item.done, item.failures, item.attempts = hour.get((direction, name), (0, 0, 0))
        result.append(
            PluginOverview(
                plugin=name,
                status=status,
                target=description.target if description else None,
                pause=paused.get(name),
                health=health.get(engine, host, name) if status == "active" else None,
                outbound=figures[OUT],
                inbound=figures[IN],
            )
        )
    return result


def due_condition(table: Any, now: datetime) -> Any:
    """Rows of ``table`` that are due now and not leased."""
    return and_(
        table.state.in_((PENDING, FAILED)),
        table.due_at <= now,
        or_(table.lease_until.is_(None), table.lease_until < now),
    )
