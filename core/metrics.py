"""Prometheus metrics: request counters of this process and queue gauges from the database.

Queue gauges are read from the database at scrape time, so they are true for the whole
deployment whichever process is scraped. The API's registry also serves this process's
work metrics (:mod:`core.sync.metrics`): on the embedded default the API process does
the pushing; with a broker, each ``crm-sync worker`` serves its processes' own.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from core.db.types import utcnow
from core.sync.admin import queue_counts
from core.sync.metrics import WorkCollector


class QueueCollector(Collector):
    """Deliveries per plugin and state, and the age of the oldest due one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        """Read the counts from the database."""
        deliveries = GaugeMetricFamily(
            "crm_sync_deliveries", "Deliveries per plugin and state", labels=["plugin", "state"]
        )
        oldest = GaugeMetricFamily(
            "crm_sync_oldest_due_seconds",
            "Age of the oldest pending or failed delivery per plugin",
            labels=["plugin"],
        )
        now = utcnow()
        ages: dict[str, float] = {}
        for count in queue_counts(self.engine):
            deliveries.add_metric([count.plugin, count.state], count.count)
            if count.state in ("pending", "failed") and count.oldest_due is not None:
                age = max(0.0, (now - count.oldest_due).total_seconds())
                ages[count.plugin] = max(age, ages.get(count.plugin, 0.0))
        for plugin, age in ages.items():
            oldest.add_metric([plugin], age)
        yield deliveries
        yield oldest


class ApiMetrics:
    """The API process's registry: request counts and latencies plus the queue gauges."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crm_sync_http_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crm_sync_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
        )
        self.registry.register(QueueCollector(engine))
        self.registry.register(WorkCollector())
