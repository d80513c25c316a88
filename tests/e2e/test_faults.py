"""Faults on the way to the finance system: crashes, lost messages, a failing receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from core.testing.receiver import Receiver
from core.testing.services import delete_redis_namespace
from tests.e2e.harness import Deployment, wait_until

pytestmark = pytest.mark.slow

MODE = "postgres-redis"


def customer(name: str) -> dict[str, object]:
    return {"type": "person", "name": name, "phones": ["09121234567"]}


def finance_state(deployment: Deployment, record_id: str) -> dict[str, object]:
    return deployment.sync_state("customers", record_id)["finance"]


def wait_synced(deployment: Deployment, record_id: str, timeout: float) -> None:
    wait_until(
        lambda: finance_state(deployment, record_id)["state"] == "synced",
        timeout,
        f"{record_id} to be synced\n{deployment.logs()}",
        interval=0.25,
    )


def test_worker_killed_mid_push_delivers_once_after_restart(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(MODE)
    receiver.hold()
    assert deployment.put("customers", "C-1", customer("رضا")).status_code == 201
    assert receiver.wait_for_request(30), deployment.logs()
    [worker] = [process for process in deployment.processes if process.name == "worker"]
    worker.kill()
    killed = time.monotonic()
    receiver.release()
    deployment.worker(name="worker-restarted")
    wait_synced(deployment, "C-1", timeout=90)
    print(f"delivered {time.monotonic() - killed:.1f} s after the kill")
    keys = {delivery.idempotency_key for delivery in receiver.deliveries}
    assert len(keys) == 1 and receiver.versions("customer", "C-1") == [1]
    assert receiver.counters.accepted == 1


def test_flushed_redis_loses_nothing(
    start_deployment: Callable[..., Deployment],
    receiver: Receiver,
    redis_url: str,
    redis_namespace: str,
) -> None:
    deployment = start_deployment(MODE, workers=0)
    for number in range(20):
        assert (
            deployment.put("customers", f"C-{number}", customer(f"مشتری {number}")).status_code
            == 201
        )
    delete_redis_namespace(redis_url, redis_namespace)
    deployment.worker()
    receiver.wait_for_deliveries(20, timeout=60)
    assert {delivery.id for delivery in receiver.deliveries} == {f"C-{n}" for n in range(20)}
    assert receiver.counters.accepted == 20


def test_503_is_retried_until_the_receiver_recovers(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(MODE)
    receiver.fail(503, count=3)
    deployment.put("customers", "C-1", customer("سارا"))
    receiver.wait_for_deliveries(1, timeout=30)
    assert [attempt.status for attempt in receiver.attempts] == [503, 503, 503, 200]
    wait_synced(deployment, "C-1", timeout=10)


def test_a_timed_out_push_is_retried_and_applied_once(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(MODE)
    receiver.delay(3.5, count=1)
    deployment.put("customers", "C-1", customer("نگار"))
    wait_synced(deployment, "C-1", timeout=30)
    wait_until(lambda: receiver.counters.requests >= 2, 10, "the retry to arrive")
    assert receiver.counters.accepted == 1
    assert receiver.versions("customer", "C-1") == [1]


def test_429_retry_after_is_respected(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(MODE)
    receiver.throttle(3, count=1)
    deployment.put("customers", "C-1", customer("امید"))
    receiver.wait_for_deliveries(1, timeout=30)
    first, second = receiver.attempts[:2]
    assert (first.status, second.status) == (429, 200)
    assert second.received_at - first.received_at >= 3


def test_422_is_dead_at_once_then_delivered_after_dead_retry(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(MODE)
    receiver.reject(["C-bad"], reason="economic code is required for companies")
    deployment.put("customers", "C-bad", customer("شرکت بی‌کد"))
    wait_until(lambda: finance_state(deployment, "C-bad")["state"] == "dead", 30, "the dead letter")
    state = finance_state(deployment, "C-bad")
    assert "economic code is required for companies" in str(state["last_error"])
    assert state["attempts"] == 1 and receiver.counters.requests == 1
    listed = deployment.cli("dead", "list", "--json")
    assert "C-bad" in listed.stdout, listed.stderr
    receiver.clear_faults()
    retried = deployment.cli("dead", "retry", "--id", "C-bad", "--yes", "--reason", "code added")
    assert retried.returncode == 0, retried.stderr
    receiver.wait_for_deliveries(1, timeout=30)
    wait_synced(deployment, "C-bad", timeout=10)


def test_rapid_concurrent_updates_never_go_backwards(
    start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(MODE, workers=1)
    errors: list[str] = []

    def writer(thread: int) -> None:
        for step in range(25):
            response = deployment.put("customers", "C-1", customer(f"نام {thread}-{step}"))
            if response.status_code not in (200, 201):
                errors.append(response.text)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    final = deployment.api.get("/v1/customers/C-1").json()
    assert final["version"] == 200
    wait_until(lambda: receiver.versions("customer", "C-1")[-1:] == [200], 60, "the last version")
    versions = receiver.versions("customer", "C-1")
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert receiver.latest("customer", "C-1").data["name"] == final["data"]["name"]
