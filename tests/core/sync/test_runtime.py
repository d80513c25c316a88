"""The runtime around the engine: plugin isolation, the sweeper, leader leases."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pytest

from core import InboundEvent, PluginContext, PushResult, hookimpl
from core.db.types import utcnow
from core.kinds import KINDS
from core.settings import Settings
from core.store import write_record
from core.sync.admin import queue_counts
from core.sync.inbound import store_events
from core.sync.leases import acquire_lease, release_lease
from core.sync.runtime import SyncRuntime
from core.sync.sweeper import sweep_once
from tests.core.inbound_plugin import InboundPlugin
from tests.core.scripted_plugin import ScriptedPlugin

CUSTOMERS = KINDS["customers"]


def wait_until(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def write(runtime: SyncRuntime, record_id: str, *, dispatch: bool = True) -> None:
    model = CUSTOMERS.schema.model_validate({"type": "person", "name": f"نام {record_id}"})
    result = write_record(
        runtime.engine,
        CUSTOMERS,
        record_id,
        model,
        subscribers=runtime.host.subscribers("customer"),
    )
    if dispatch:
        for plugin in result.subscribers:
            runtime.dispatch(plugin, [("customer", record_id)])


def synced(runtime: SyncRuntime, plugin: str) -> int:
    counts = {(c.plugin, c.state): c.count for c in queue_counts(runtime.engine)}
    return counts.get((plugin, "synced"), 0)


@pytest.fixture
def running() -> Iterator[Callable[[SyncRuntime], dramatiq.Worker]]:
    workers: list[dramatiq.Worker] = []

    def start(runtime: SyncRuntime) -> dramatiq.Worker:
        worker = dramatiq.Worker(runtime.broker, worker_threads=runtime.settings.worker_threads)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(timeout=5000)


def test_a_stuck_target_does_not_hold_up_the_others(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    running: Callable[[SyncRuntime], dramatiq.Worker],
) -> None:
    stuck, healthy = ScriptedPlugin(), ScriptedPlugin()
    release = threading.Event()

    def hang(documents: list[Any]) -> list[PushResult]:
        release.wait(30)
        return [PushResult(external_id="late") for _ in documents]

    stuck.script.extend([hang] * 20)
    runtime = make_runtime(make_settings(worker_threads=4), {"stuck": stuck, "healthy": healthy})
    assert runtime.host.inflight("stuck")._value == 3
    running(runtime)
    for number in range(10):
        write(runtime, f"C-{number}")
    try:
        assert wait_until(lambda: len(healthy.documents) == 10), len(healthy.documents)
    finally:
        release.set()
    stuck.script.clear()
    assert wait_until(lambda: synced(runtime, "stuck") == 10, 20)


class StuckInbound(InboundPlugin):
    """An inbound target whose events hang until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(subscriptions=())
        self.release = threading.Event()
        self.applied = 0

    @hookimpl
    def crm_sync_apply_inbound(self, context: PluginContext, event: InboundEvent) -> None:
        self.release.wait(30)
        self.applied += 1


def test_a_stuck_inbound_target_does_not_hold_up_the_others(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    running: Callable[[SyncRuntime], dramatiq.Worker],
) -> None:
    stuck, healthy = StuckInbound(), ScriptedPlugin()
    runtime = make_runtime(make_settings(worker_threads=4), {"erp": stuck, "healthy": healthy})
    events = [InboundEvent(f"E-{n}", "status", {"id": f"C-{n}"}) for n in range(8)]
    stored = store_events(runtime.engine, "erp", events)
    running(runtime)
    for row_id in stored.ids:
        runtime.dispatch_inbound("erp", [row_id])
    time.sleep(0.5)  # the stuck events take the threads they are allowed
    for number in range(10):
        write(runtime, f"C-{number}")
    try:
        assert wait_until(lambda: len(healthy.documents) == 10), len(healthy.documents)
    finally:
        stuck.release.set()
    assert wait_until(lambda: stuck.applied == 8, 20), stuck.applied


def test_the_sweeper_resends_a_lost_message(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    running: Callable[[SyncRuntime], dramatiq.Worker],
    scripted: ScriptedPlugin,
) -> None:
    runtime = make_runtime(make_settings(), {"scripted": scripted})
    running(runtime)
    write(runtime, "C-1", dispatch=False)
    assert sweep_once(runtime) == 0
    assert sweep_once(runtime, now=utcnow() + timedelta(seconds=2)) == 1
    assert wait_until(lambda: len(scripted.documents) == 1)
    assert sweep_once(runtime, now=utcnow() + timedelta(seconds=5)) == 0


def test_the_sweeper_leaves_leased_rows_alone_until_the_lease_runs_out(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
) -> None:
    runtime = make_runtime(make_settings(), {"scripted": scripted})
    write(runtime, "C-1", dispatch=False)
    now = utcnow()
    runtime.sync._claim("scripted", [("customer", "C-1")], "killed-worker", now, 1)
    assert sweep_once(runtime, now=now + timedelta(seconds=2)) == 0
    assert sweep_once(runtime, now=now + timedelta(seconds=6)) == 1


def test_one_holder_at_a_time(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    engine = make_runtime(make_settings()).engine
    now = utcnow()
    assert acquire_lease(engine, "sweeper", "a", 10, now=now)
    assert not acquire_lease(engine, "sweeper", "b", 10, now=now + timedelta(seconds=5))
    assert acquire_lease(engine, "sweeper", "a", 10, now=now + timedelta(seconds=5))
    assert acquire_lease(engine, "sweeper", "b", 10, now=now + timedelta(seconds=16))
    release_lease(engine, "sweeper", "b")
    assert acquire_lease(engine, "sweeper", "c", 10, now=now + timedelta(seconds=17))


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_the_queue_depth_counts_the_messages_nobody_consumed_yet(
    broker: str,
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
) -> None:
    """The sweeper reads how many messages wait on a plugin's queue, on either broker.

    Each broker's client library is loaded only when it is configured, so the depth is
    read through the module of the broker in use.
    """
    if broker == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_namespace")
    else:
        url = request.getfixturevalue("rabbitmq_url")
        prefix = request.getfixturevalue("queue_prefix")
    runtime = make_runtime(
        make_settings(broker_url=url, queue_prefix=prefix), {"finance": ScriptedPlugin()}
    )
    assert runtime.queue_depth("finance") == 0
    for number in range(3):
        write(runtime, f"C-{number}")
    assert wait_until(lambda: runtime.queue_depth("finance") == 3), runtime.queue_depth("finance")


def test_a_runtime_on_redis_does_not_load_rabbitmqs_client(redis_url: str) -> None:
    """Only the configured broker's client library is imported at start-up."""
    script = (
        "import sys\n"
        "from core.settings import Settings\n"
        "from core.sync.runtime import make_broker\n"
        f"make_broker(Settings(broker_url={redis_url!r}))\n"
        "print(sorted(m for m in ('pika', 'redis') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "['redis']", done.stderr
