"""``crm-sync worker`` serves the per-plugin work metrics of all its processes at one address."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.testing.receiver import Receiver
from tests.e2e.harness import Deployment, children_of, free_port, wait_until

pytestmark = pytest.mark.slow


def scrape(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def workers_of(supervisor: int) -> list[int]:
    """The worker processes under a supervisor (not multiprocessing's resource tracker)."""
    found = []
    for pid in children_of(supervisor):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(pid)
    return found


def test_two_worker_processes_are_scraped_as_one_target_and_a_restart_keeps_the_counts(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment("postgres-redis", workers=0)
    port = free_port()
    worker = deployment.worker(processes=2, threads=2, metrics_port=port)
    wait_until(lambda: len(workers_of(worker.pid)) == 2, 30, "two worker processes")
    receiver.reject(["C-dead"], reason="economic code is required")
    for number in range(12):
        body = {"type": "person", "name": f"مشتری {number}"}
        assert deployment.put("customers", f"C-{number:02d}", body).status_code == 201
    deployment.put("customers", "C-dead", {"type": "organization", "name": "شرکت بی‌کد"})

    def counted(outcome: str) -> float:
        return value(scrape(port), "crm_sync_pushes_total", plugin="finance", outcome=outcome)

    wait_until(lambda: counted("synced") == 12 and counted("dead") == 1, 60, "13 pushes counted")
    samples = scrape(port)
    assert value(samples, "crm_sync_dead_total", plugin="finance", direction="out") == 1
    assert value(samples, "crm_sync_push_seconds_count", plugin="finance") == 13
    assert value(samples, "crm_sync_push_seconds_bucket", plugin="finance", le="+Inf") == 13

    # A killed process is restarted with a new pid; what it had counted stays in the sum.
    victim = workers_of(worker.pid)[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: victim not in workers_of(worker.pid) and len(workers_of(worker.pid)) == 2,
        30,
        "the killed process to be replaced",
    )
    deployment.put("customers", "C-later", {"type": "person", "name": "مشتری بعدی"})
    wait_until(lambda: counted("synced") == 13, 60, "the 14th push counted on top")
    assert counted("dead") == 1
