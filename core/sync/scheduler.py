"""The scheduler: polls targets that cannot push, and runs periodic jobs.

It runs inside ``crm-sync serve`` on the embedded default and as ``crm-sync scheduler``
in production. Any number may be started for availability, but only the holder of the
``scheduler`` lease works; the others stand by and take over within the lease time
when it stops. A poll stores its events and its new cursor in one transaction, so a
restart resumes from the cursor and an event found twice is applied once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.sync.inbound import load_cursor, store_events
from core.sync.leased_loop import LeasedLoop
from core.sync.runtime import SyncRuntime

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
#: Seconds between looks at what is due.
TICK = 0.5
#: Seconds a poll that failed waits before the next try, at most.
MAX_POLL_BACKOFF = 300.0


@dataclass
class PeriodicJob:
    """A job the scheduler runs every ``interval`` seconds (retraining, timers...)."""

    name: str
    interval: float
    run: Callable[[], object]


@dataclass
class PollOutcome:
    """What one poll stored: new events, duplicates, and whether the target has more."""

    stored: int
    duplicates: int
    more: bool


def poll_once(runtime: SyncRuntime, plugin: str) -> PollOutcome:
    """Poll ``plugin``'s target from the saved cursor, store what it found, queue it."""
    cursor = load_cursor(runtime.engine, plugin)
    result = runtime.host.poll(plugin, cursor)
    stored = store_events(
        runtime.engine, plugin, result.events, cursor=result.cursor, save_cursor=True
    )
    if stored.ids:
        runtime.dispatch_inbound(plugin, stored.ids)
    return PollOutcome(len(stored.ids), stored.duplicates, result.more)


class Scheduler(LeasedLoop):
    """Runs polls and periodic jobs while this process holds the scheduler lease."""

    def __init__(self, runtime: SyncRuntime, jobs: Sequence[PeriodicJob] = ()) -> None:
        super().__init__(runtime, lease=LEASE_NAME, interval=TICK, ttl=15.0)
        self.jobs = list(jobs)
        self.next_run: dict[str, float] = {}
        self.failures: dict[str, int] = {}

    def work_round(self) -> None:
        """Run what is due now."""
        self.tick(time.monotonic())

    def tick(self, now: float) -> None:
        """Run every poll and job that is due at monotonic time ``now``."""
        for plugin in self.runtime.host.active():
            interval = self.runtime.host.description(plugin).poll_interval
            if interval is not None and now >= self.next_run.get(f"poll:{plugin}", 0.0):
                self._poll(plugin, interval, now)
        for job in self.jobs:
            key = f"job:{job.name}"
            if now >= self.next_run.get(key, 0.0):
                self.next_run[key] = now + job.interval
                try:
                    job.run()
                except Exception:
                    log.exception("periodic job %s failed", job.name)

    def _poll(self, plugin: str, interval: float, now: float) -> None:
        key = f"poll:{plugin}"
        try:
            outcome = poll_once(self.runtime, plugin)
        except Exception as error:
            failures = self.failures.get(plugin, 0) + 1
            self.failures[plugin] = failures
            wait = min(MAX_POLL_BACKOFF, interval * 2**failures)
            log.warning("polling %s failed (%s); next try in %.0f s", plugin, error, wait)
            self.next_run[key] = now + wait
            return
        self.failures.pop(plugin, None)
        self.next_run[key] = now if outcome.more else now + interval
        if outcome.stored:
            log.info("polled %s: %d new events", plugin, outcome.stored)
