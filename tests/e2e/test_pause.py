"""Pausing a plugin on PostgreSQL + Redis: two worker processes obey it, nothing is lost."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from core.testing.receiver import Receiver
from tests.e2e.harness import Deployment, wait_until

pytestmark = pytest.mark.slow

MODE = "postgres-redis"


def customer(name: str) -> dict[str, object]:
    return {"type": "person", "name": name, "phones": ["09121234567"]}


def state(deployment: Deployment, record_id: str) -> str:
    return str(deployment.sync_state("customers", record_id)["finance"]["state"])


def finance_queue(deployment: Deployment) -> dict[str, object]:
    shown = deployment.cli("queues", "--json")
    assert shown.returncode == 0, shown.stderr
    [finance] = [row for row in json.loads(shown.stdout) if row["plugin"] == "finance"]
    return dict(finance)


def test_a_pause_holds_on_two_workers_and_resuming_delivers_each_once(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(MODE, workers=0)
    deployment.worker(name="worker-a")
    deployment.worker(name="worker-b")
    assert deployment.put("customers", "C-0", customer("پیش از توقف")).status_code == 201
    wait_until(lambda: state(deployment, "C-0") == "synced", 60, f"C-0\n{deployment.logs()}")

    paused = deployment.cli("queues", "pause", "finance", "--reason", "ERP maintenance")
    assert paused.returncode == 0, paused.stderr
    ids = [f"C-{number}" for number in range(1, 11)]
    for record_id in ids:
        assert deployment.put("customers", record_id, customer(record_id)).status_code == 201
    # Longer than several sweep intervals and a requeue: every worker has had its chance.
    time.sleep(5)
    assert [delivery.id for delivery in receiver.deliveries] == ["C-0"], "nothing sent paused"
    assert {state(deployment, record_id) for record_id in ids} == {"pending"}
    queue = finance_queue(deployment)
    assert queue["paused"] is not None and queue["paused"]["reason"] == "ERP maintenance"

    resumed = deployment.cli("queues", "resume", "finance", "--reason", "ERP back")
    assert resumed.returncode == 0, resumed.stderr
    wait_until(
        lambda: {state(deployment, record_id) for record_id in ids} == {"synced"},
        60,
        f"the paused changes to be delivered\n{deployment.logs()}",
        interval=0.25,
    )
    assert sorted(delivery.id for delivery in receiver.deliveries) == sorted(["C-0", *ids])
    assert all(receiver.versions("customer", record_id) == [1] for record_id in ids)
    assert finance_queue(deployment)["paused"] is None

    audit = deployment.cli("audit", "--json")
    assert audit.returncode == 0, audit.stderr
    entries = [(entry["action"], entry["reason"]) for entry in json.loads(audit.stdout)]
    assert ("pause", "ERP maintenance") in entries and ("resume", "ERP back") in entries
