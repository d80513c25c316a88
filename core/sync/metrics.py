"""Per-plugin metrics of the work itself: pushes by outcome and duration, retries, dead, inbound.

They are recorded where the work is done (the sync engine, the inbound processor and
the receiving side of webhooks and polls), so they count in whichever process does it:

- on the embedded default that is the API process, and ``/metrics`` serves them next
  to the HTTP and queue figures;
- ``crm-sync worker`` runs its worker processes in prometheus_client's multiprocess
  mode: the supervisor gives them a fresh folder (``PROMETHEUS_MULTIPROC_DIR``) in which
  each process keeps its values, and serves their sum at its own ``/metrics``
  (``--metrics-port``). Each machine's supervisor is one scrape target, whatever the
  number of processes under it and however often one is restarted (a restarted process's
  counts stay in the folder, so counters never go back while the supervisor runs).

Multiprocess mode was chosen over an exporter per worker process because the processes
come and go under the supervisor (a killed one is restarted with a new pid): one target
per machine needs no service discovery, and the counts of a process that died remain.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

#: Environment variable of prometheus_client's multiprocess mode (read when it is imported).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Push durations: a loopback receiver's milliseconds up to a slow ERP's timeout.
PUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkMetrics:
    """The work metrics of this process, in their own registry."""

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, str], list[Counter]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.pushes = Counter(
            "crm_sync_pushes",
            "Documents handled by the sync engine per plugin and outcome "
            "(synced, skipped: the target had it, retry, dead, held: sending paused)",
            ["plugin", "outcome"],
            registry=self.registry,
        )
        self.push_seconds = Histogram(
            "crm_sync_push_seconds",
            "Duration of one call to a plugin's push (one document, or one batch)",
            ["plugin"],
            buckets=PUSH_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "crm_sync_retries",
            "Failed attempts scheduled to be tried again, per plugin and direction",
            ["plugin", "direction"],
            registry=self.registry,
        )
        self.dead = Counter(
            "crm_sync_dead",
            "Deliveries and inbound events given up (dead), per plugin and direction",
            ["plugin", "direction"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "crm_sync_inbound_events",
            "Inbound events per plugin and outcome (received, duplicate, applied, retry, dead)",
            ["plugin", "outcome"],
            registry=self.registry,
        )

    def pushed(self, plugin: str, outcome: str) -> None:
        """Count one document's outcome (the attempts log's: synced, skipped, retry, dead, held).

        The labelled counters are looked up once per (plugin, outcome) and kept: this
        runs for every document a batch carries.
        """
        counters = self._outcomes.get((plugin, outcome))
        if counters is None:
            counters = [self.pushes.labels(plugin, outcome)]
            if outcome == "retry":
                counters.append(self.retries.labels(plugin, "out"))
            elif outcome == "dead":
                counters.append(self.dead.labels(plugin, "out"))
            self._outcomes[(plugin, outcome)] = counters
        for counter in counters:
            counter.inc()

    def push_took(self, plugin: str, seconds: float) -> None:
        """Observe the duration of one push call."""
        self.push_seconds.labels(plugin).observe(seconds)

    def inbound_events(self, plugin: str, outcome: str, count: int = 1) -> None:
        """Count ``count`` inbound events of ``outcome``."""
        if count <= 0:
            return
        self.inbound.labels(plugin, outcome).inc(count)
        if outcome == "retry":
            self.retries.labels(plugin, "in").inc(count)
        elif outcome == "dead":
            self.dead.labels(plugin, "in").inc(count)


class WorkCollector(Collector):
    """Serves this process's work metrics from another registry (the API's)."""

    def collect(self) -> Iterator[Metric]:
        """The current values of :data:`WORK`."""
        yield from WORK.registry.collect()


#: This process's work metrics.
WORK = WorkMetrics()
