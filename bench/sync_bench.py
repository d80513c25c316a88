"""Sync throughput against a bare Dramatiq baseline, on PostgreSQL + Redis, in one run.

    python bench/sync_bench.py [--single 5000] [--batch 50000] [--processes 2] [--threads 8]

Both sides run 2 worker processes against the same PostgreSQL, Redis and loopback
receiver (a separate process that verifies every signature). Each phase starts the
workers, waits until they are ready, enqueues the messages and times until every
document is delivered and recorded:

- one change per message: crm-sync's sync job against the bare actor of
  bench/bare_actor.py (read the row, POST it, upsert the binding);
- a backlog: ``crm-sync resync finance`` of the batch set with the webhook backend in
  batch mode, against the bare actor with 100 documents per message.

It prints documents per second for both, their ratio and the ratio aimed at (1.0 for
one change per message, 0.8 for a backlog), how long ``crm-sync resync`` itself took
(counting its rows and queueing them: the clock runs from its start) and the peak
memory (VmHWM) of the resync command and of the largest worker process of each side.
``--scale 10000,100000`` runs only the resync phase at each size (largest first, the
customers beyond each size deleted before it), to show how its throughput and memory
grow.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import create_engine, text

from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from core.db.sync_tables import SyncState
from core.db.types import utcnow
from core.kinds import KINDS
from core.settings import Settings
from core.store import canonical_document
from core.testing.services import delete_redis_namespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def customer_id(number: int) -> str:
    """The id of customer ``number``: zero-padded so that ids sort as their numbers do.

    Seven digits, so ``keep_customers(1_000_000)`` deletes nothing of a million
    customers (with six, ``C-1000000`` sorted before ``C-100001``, and the run kept only
    100,001 customers and then waited for a million documents).
    """
    return f"C-{number:07d}"


def customer_rows(first: int, count: int) -> list[dict[str, Any]]:
    """Rows of ``count`` stored customers from number ``first``, each with its own phone."""
    kind = KINDS["customers"]
    now = utcnow()
    rows = []
    for number in range(first, first + count):
        model = kind.schema.model_validate(
            {
                "type": "person",
                "name": f"مشتری شماره {number}",
                "phones": [f"0912{number:07d}"],
                "emails": [f"c{number}@example.ir"],
            }
        )
        data, digest = canonical_document(model)
        rows.append(
            {
                "id": customer_id(number),
                "version": 1,
                "digest": digest,
                "data": data,
                "created_at": now,
                "updated_at": now,
                **kind.index(model),
            }
        )
    return rows


class Bench:
    """The shared set-up: a database, a Redis namespace, a receiver process, the customers."""

    def __init__(self, customers: int) -> None:
        self.name = f"crm_sync_bench_{uuid.uuid4().hex[:8]}"
        self.namespace = f"bench{uuid.uuid4().hex[:8]}"
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        admin = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        self.database_url = PG_SERVER + self.name
        self.engine = create_db_engine(self.database_url)
        upgrade(self.engine)
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE bare_bindings "
                    "(id text PRIMARY KEY, version int, external_id text)"
                )
            )
        self.receiver = subprocess.Popen(
            [sys.executable, "-m", "core.testing.receiver", "--secret", self.secret],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.receiver.stdout is not None
        self.receiver_url = self.receiver.stdout.readline().strip()
        self.remote = httpx.Client(base_url=self.receiver_url.rstrip("/"), timeout=30)
        self.seed(customers)

    def seed(self, count: int) -> None:
        """Store ``count`` customers, 5,000 at a time so the benchmark's own memory stays flat."""
        kind = KINDS["customers"]
        for first in range(0, count, 5000):
            rows = customer_rows(first, min(5000, count - first))
            with self.engine.begin() as connection:
                connection.execute(kind.table.__table__.insert(), rows)
        print(f"seeded {count} customers", file=sys.stderr, flush=True)

    def keep_customers(self, count: int) -> None:
        """Delete the customers beyond the first ``count``."""
        with self.engine.begin() as connection:
            connection.execute(
                text("DELETE FROM customers WHERE id >= :last"), {"last": customer_id(count)}
            )

    def reset(self) -> None:
        self.remote.post("/_reset")
        with self.engine.begin() as connection:
            connection.execute(text("DELETE FROM bare_bindings"))
            connection.execute(SyncState.__table__.delete())
        delete_redis_namespace(REDIS_URL, self.namespace)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_SYNC_", "BENCH_"))}
        env.update(
            CRM_SYNC_DATABASE_URL=self.database_url,
            CRM_SYNC_BROKER_URL=REDIS_URL,
            CRM_SYNC_QUEUE_PREFIX=self.namespace,
            CRM_SYNC_PLUGINS__FINANCE__URL=self.receiver_url,
            CRM_SYNC_PLUGINS__FINANCE__SECRET=self.secret,
            CRM_SYNC_LOG_LEVEL="WARNING",
            BENCH_DATABASE_URL=self.database_url,
            BENCH_REDIS_URL=REDIS_URL,
            BENCH_NAMESPACE=self.namespace,
            BENCH_SECRET=self.secret,
            BENCH_RECEIVER_URL=self.receiver_url,
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    def count(self, sql: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())

    def close(self) -> None:
        self.receiver.terminate()
        self.receiver.wait()
        self.engine.dispose()
        admin = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


def wait_ready(namespace: str, processes: int) -> None:
    """Wait until every worker process consumes: each one heartbeats in Redis when it does."""
    client = redis.Redis.from_url(REDIS_URL)
    wait_for(lambda: client.zcard(f"{namespace}:__heartbeats__") >= processes, 120, "workers")
    client.close()


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _descendants(pid: int) -> list[int]:
    """The process ids below ``pid`` (its children, theirs, ...), read from /proc."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = Path(f"/proc/{parent}/task").iterdir()
            children = [int(n) for t in tasks for n in (t / "children").read_text().split()]
        except OSError:
            continue
        found.extend(children)
        todo.extend(children)
    return found


def _peak_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of process ``pid`` in MiB, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_peak_mib(process: subprocess.Popen[bytes]) -> float:
    """The largest peak memory among a running worker command and its processes."""
    return max([_peak_mib(pid) for pid in _tree(process.pid)])


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int, reaped: bool = False) -> float:
    """CPU seconds (user + system) of ``pid``; with ``reaped``, its reaped children's too."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])
    if reaped:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _service_cpu_s(name: str) -> float:
    """CPU seconds of every process called ``name`` and of the children they reaped.

    PostgreSQL's postmaster reaps the backends of closed connections, so their CPU time
    is counted too.
    """
    return sum(_cpu_s(pid, reaped=True) for pid in _pids_named(name))


class CpuMeter:
    """CPU seconds spent by each part of a phase: workers, receiver, PostgreSQL, Redis."""

    def __init__(self, receiver: int, worker: int) -> None:
        self.receiver = receiver
        self.worker = worker
        self.started = self._read()

    def _read(self) -> dict[str, float]:
        return {
            "workers": sum(_cpu_s(pid, reaped=True) for pid in _tree(self.worker)),
            "receiver": _cpu_s(self.receiver),
            "postgres": _service_cpu_s("postgres"),
            "redis": _service_cpu_s("redis-server"),
        }

    def finish(self) -> dict[str, float]:
        """The CPU seconds of each part since the meter started (read before the workers stop)."""
        now = self._read()
        return {part: now[part] - self.started[part] for part in now}


def _tree(pid: int) -> list[int]:
    return [pid, *_descendants(pid)]


#: Run ``crm-sync resync`` and print its own peak memory on stderr when it exits.
RESYNC = (
    "import atexit, resource, runpy, sys\n"
    "def report():\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    print('peak-kib', usage.ru_maxrss, file=sys.stderr)\n"
    "    print('cpu-s', usage.ru_utime + usage.ru_stime, file=sys.stderr)\n"
    "atexit.register(report)\n"
    "sys.argv = ['crm-sync', 'resync', 'finance', '--no-wait']\n"
    "runpy.run_module('core', run_name='__main__')\n"
)


@dataclass
class Run:
    """One side of one phase: documents per second and what it cost."""

    docs_per_s: float
    worker_mib: float
    resync_s: float = 0.0
    resync_mib: float = 0.0
    #: Seconds from the resync command's start to its first outbox rows (the Python
    #: process starting, loading its plugins and counting the records).
    start_s: float = 0.0
    #: CPU seconds of each part (workers, receiver, PostgreSQL, Redis, the resync command).
    cpu: dict[str, float] = field(default_factory=dict)


def run_bare(bench: Bench, ids: list[str], per_message: int, processes: int, threads: int) -> Run:
    bench.reset()
    env = bench.env()
    worker = start(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "bench.bare_actor",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ],
        env,
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("BENCH_")})
    from bench import bare_actor

    wait_ready(bench.namespace, processes)
    meter = CpuMeter(bench.receiver.pid, worker.pid)
    started = time.perf_counter()
    for first in range(0, len(ids), per_message):
        bare_actor.push.send(ids[first : first + per_message])
    wait_for(lambda: bench.count("SELECT count(*) FROM bare_bindings") >= len(ids), 3600, "bare")
    elapsed = time.perf_counter() - started
    cpu = meter.finish()
    memory = worker_peak_mib(worker)
    stop(worker)
    return Run(len(ids) / elapsed, memory, cpu=cpu)


def run_engine(bench: Bench, ids: list[str], batch: bool, processes: int, threads: int) -> Run:
    bench.reset()
    extra = {"CRM_SYNC_PLUGINS__FINANCE__BATCH": "true"} if batch else {}
    env = bench.env(**extra)
    worker = start(
        [
            sys.executable,
            "-m",
            "core",
            "worker",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ],
        env,
    )
    runtime = None if batch else outbox_rows(bench, env, ids)
    wait_ready(f"{bench.namespace}crm-sync", processes)
    meter = CpuMeter(bench.receiver.pid, worker.pid)
    started = time.perf_counter()
    resync_s = resync_mib = start_s = resync_cpu = 0.0
    if runtime is None:
        with tempfile.TemporaryFile("w+") as errors:
            command = subprocess.Popen(
                [sys.executable, "-c", RESYNC],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                text=True,
            )
            wait_for(
                lambda: (
                    bench.count("SELECT count(*) FROM sync_state") > 0 or command.poll() is not None
                ),
                600,
                "resync",
            )
            start_s = time.perf_counter() - started
            command.wait()
            resync_s = time.perf_counter() - started
            errors.seek(0)
            output = errors.read()
        if command.returncode != 0:
            raise SystemExit(f"crm-sync resync failed: {output}")
        peaks = [line.split()[1] for line in output.splitlines() if line.startswith("peak")]
        resync_mib = int(peaks[-1]) / 1024 if peaks else 0.0
        used = [line.split()[1] for line in output.splitlines() if line.startswith("cpu-s")]
        resync_cpu = float(used[-1]) if used else 0.0
    else:
        for record_id in ids:
            runtime.dispatch("finance", [("customer", record_id)])
        runtime.close()
    wait_for(
        lambda: bench.count(SYNCED_COUNT) >= len(ids),
        3600,
        "crm-sync",
    )
    elapsed = time.perf_counter() - started
    cpu = meter.finish()
    if resync_cpu:
        cpu["resync command"] = resync_cpu
    memory = worker_peak_mib(worker)
    stop(worker)
    return Run(len(ids) / elapsed, memory, resync_s, resync_mib, start_s, cpu)


def outbox_rows(bench: Bench, env: dict[str, str], ids: list[str]) -> Any:
    """Write the outbox rows a write of each customer leaves; return a runtime to send with.

    The clock starts after this, as on the bare side: both are timed from the first
    message sent to the last document recorded.
    """
    from core.sync.runtime import SyncRuntime

    now = utcnow()
    with bench.engine.begin() as connection:
        connection.execute(
            SyncState.__table__.insert(),
            [
                {
                    "plugin": "finance",
                    "kind": "customer",
                    "record_id": record_id,
                    "state": "pending",
                    "wanted_version": 1,
                    "attempts": 0,
                    "due_at": now,
                    "enqueued_at": now,
                    "updated_at": now,
                }
                for record_id in ids
            ],
        )
    settings = Settings(
        database_url=env["CRM_SYNC_DATABASE_URL"],
        broker_url=env["CRM_SYNC_BROKER_URL"],
        queue_prefix=env["CRM_SYNC_QUEUE_PREFIX"],
        plugins={
            "finance": {
                "url": env["CRM_SYNC_PLUGINS__FINANCE__URL"],
                "secret": env["CRM_SYNC_PLUGINS__FINANCE__SECRET"],
            }
        },
    )
    return SyncRuntime(settings)


#: The synced deliveries, from the counts the triggers keep: counting ``sync_state``'s
#: rows every 50 ms would cost PostgreSQL more than the bare side's count does.
SYNCED_COUNT = (
    "SELECT coalesce(sum(n), 0) FROM state_counts"
    " WHERE direction = 'out' AND plugin = 'finance' AND state = 'synced'"
)

#: The ratio to the bare actor each phase aims at.
TARGETS = {"one change per message": 1.0, "resync, batches of 100": 0.8}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--single", type=int, default=6000, help="documents, one per message")
    parser.add_argument("--batch", type=int, default=50_000, help="documents of the resync")
    parser.add_argument("--scale", default="", help="resync only, at these sizes: 10000,100000")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    options = parser.parse_args()
    sizes = [int(size) for size in options.scale.split(",") if size]
    print(HEADER, flush=True)
    bench = Bench(max(options.single, options.batch, *sizes))
    try:
        if options.single and not sizes:
            single_ids = [customer_id(n) for n in range(options.single)]
            bare = run_bare(bench, single_ids, 1, options.processes, options.threads)
            ours = run_engine(bench, single_ids, False, options.processes, options.threads)
            report("one change per message", options.single, bare, ours)
        # Largest first: before each size the customers beyond it are deleted, so
        # ``crm-sync resync`` queues exactly the customers of that size.
        for size in sorted(sizes, reverse=True) or ([options.batch] if options.batch else []):
            bench.keep_customers(size)
            all_ids = [customer_id(n) for n in range(size)]
            bare = run_bare(bench, all_ids, 100, options.processes, options.threads)
            ours = run_engine(bench, all_ids, True, options.processes, options.threads)
            report("resync, batches of 100", size, bare, ours)
    finally:
        bench.close()


HEADER = (
    f"{'phase':<24}{'documents':>10}{'bare docs/s':>13}{'crm-sync docs/s':>17}"
    f"{'ratio':>7}{'aim':>6}{'bare MiB':>10}{'worker MiB':>12}"
    f"{'resync s':>10}{'resync MiB':>12}"
)


def report(phase: str, count: int, bare: Run, ours: Run) -> None:
    """Print one phase's row as soon as it is measured, so a long run shows its progress."""
    ratio = ours.docs_per_s / bare.docs_per_s
    aim = TARGETS[phase]
    resync = f"{ours.resync_s:>10.1f}{ours.resync_mib:>12.0f}" if ours.resync_s else ""
    print(
        f"{phase:<24}{count:>10}{bare.docs_per_s:>13.0f}{ours.docs_per_s:>17.0f}"
        f"{ratio:>7.2f}{aim:>6.1f}{bare.worker_mib:>10.0f}{ours.worker_mib:>12.0f}{resync}"
        f"  {'met' if ratio >= aim else 'short'}",
        flush=True,
    )
    if ours.start_s > 0:
        drained = count / (count / ours.docs_per_s - ours.start_s)
        print(
            f"{'':<24}without the resync command's {ours.start_s:.1f} s start-up:"
            f" {drained:.0f} docs/s, ratio {drained / bare.docs_per_s:.2f}",
            flush=True,
        )
    per = count / 100
    parts = dict.fromkeys([*bare.cpu, *ours.cpu])
    spent = "; ".join(
        f"{part} {bare.cpu.get(part, 0.0) * 1000 / per:.1f}"
        f" / {ours.cpu.get(part, 0.0) * 1000 / per:.1f}"
        for part in parts
    )
    total = (sum(bare.cpu.values()) * 1000 / per, sum(ours.cpu.values()) * 1000 / per)
    print(
        f"{'':<24}CPU ms per 100 documents, bare / crm-sync: {spent};"
        f" total {total[0]:.1f} / {total[1]:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
