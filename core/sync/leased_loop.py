"""A background thread that works in rounds while its process holds a named lease.

The sweeper and the scheduler are both such loops: any number of processes may run
one, only the lease holder works, and a stopping holder releases the lease so a
stand-by takes over at once instead of after the lease runs out.
"""

from __future__ import annotations

import logging
import threading

from core.sync.leases import acquire_lease, release_lease
from core.sync.runtime import SyncRuntime, process_name

log = logging.getLogger(__name__)


class LeasedLoop(threading.Thread):
    """Calls ``work_round`` every ``interval`` seconds while this process holds ``lease``."""

    def __init__(self, runtime: SyncRuntime, *, lease: str, interval: float, ttl: float) -> None:
        super().__init__(name=f"crm-sync-{lease}", daemon=True)
        self.runtime = runtime
        self.lease = lease
        self.interval = interval
        self.ttl = ttl
        self.holder = f"{process_name()}:{id(self)}"
        self.stopping = threading.Event()

    def work_round(self) -> None:
        """One round of work; subclasses override it."""
        raise NotImplementedError

    def run(self) -> None:
        """Work while holding the lease, stand by otherwise; a failed round is logged."""
        while not self.stopping.is_set():
            try:
                if acquire_lease(self.runtime.engine, self.lease, self.holder, self.ttl):
                    self.work_round()
            except Exception:
                log.exception("%s round failed; trying again in %.1f s", self.lease, self.interval)
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        """Stop and hand the lease to a stand-by at once."""
        self.stopping.set()
        self.join(timeout=10)
        try:
            release_lease(self.runtime.engine, self.lease, self.holder)
        except Exception:
            log.exception("could not release the %s lease; it expires by itself", self.lease)
