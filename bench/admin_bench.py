"""The admin console on a large outbox: page times, and the sync job with snapshots on and off.

    python bench/admin_bench.py [--deliveries 1000000] [--runs 30] [--sync 20000]

On a fresh PostgreSQL database (BENCH_POSTGRES, default the local server) it writes
``--deliveries`` customers and one finance delivery each: 10% dead with four kinds of
error, 5% retrying, the rest synced, each due at its own moment, then VACUUM ANALYZE. Through
the console's own routes, signed in as an admin, it times ``--runs`` requests of:

- the overview (``/admin``),
- a dead-list search by error text (``/admin/deliveries?list=dead&error=unknown tax``),
- one delivery's page (versions, attempts, document, timeline);

and, as the same run's baseline for the overview, a direct count of the deliveries by
plugin and state (the scan the overview's counts replace).

Then it pushes ``--sync`` pending deliveries of an in-process plugin through the real
sync engine (batches of 100), alternating four modes twice each over the same outbox:
no snapshots; snapshots as configured (one at the start of the round, then every
``console.snapshot_seconds``, 60 by default); a stress mode with a snapshot every
second; and no snapshots without the state-counting triggers and the overview's partial
indexes (what keeping the overview cheap costs the job; both are put back and the counts
rebuilt after it). Before each round VACUUM ANALYZE clears the last round's dead rows, and
the modes run forwards then backwards, so none always runs on the fresher table. It prints
documents per second and the ratios to the first mode. A round should last several
snapshot intervals for "as configured" to mean anything: at about 1,000 documents per
second, ``--sync 120000``. Page figures are milliseconds at p50 and p99; on a shared
machine only the ratios mean much.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import PluginContext, PluginDescription, PushResult, SyncRecord, hookimpl  # noqa: E402
from core.admin.snapshots import take_snapshot  # noqa: E402
from core.admin.state_counts import fold_state_counts  # noqa: E402
from core.db.metadata import metadata  # noqa: E402
from core.db.types import utcnow  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.testing.fixtures import migrated_runtime  # noqa: E402

PG_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/")
TOKEN = "bench-admin-token-0123456789abcdef"
ERRORS = [
    ("http-422", "HTTP 422 from erp: unknown tax code"),
    ("http-400", "HTTP 400 from erp: economic code missing"),
    ("mapping", "mapping failed: ValueError: no price list for USD"),
    ("timeout", "gave up after 12 attempts: timed out: ReadTimeout"),
]


class BenchPlugin:
    """A target that answers at once: the engine's own cost is what is measured."""

    @hookimpl
    def crm_sync_describe(self, context: PluginContext) -> PluginDescription:
        return PluginDescription(("customer",), target="in-process", max_batch=100)

    @hookimpl
    def crm_sync_map_record(self, context: PluginContext, record: SyncRecord) -> dict[str, Any]:
        return {"id": record.id, "version": record.version}

    @hookimpl
    def crm_sync_push(self, documents: list[Any]) -> list[PushResult]:
        return [PushResult(external_id=f"B-{document.id}") for document in documents]


#: The counting triggers and partial indexes on sync_state (migration a002_state_counts).
COUNTING_TRIGGERS = ("insert", "update", "delete")
OVERVIEW_INDEXES = ("ix_sync_state_due_leases", "ix_sync_state_waiting")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def seed(engine: Any, count: int) -> None:
    """``count`` customers and their finance deliveries, written by the database itself."""
    numbers = f"FROM generate_series(1, {count}) AS i"
    cases = " ".join(
        f"WHEN {n} THEN '{message} ' || (i % 50)" for n, (_, message) in enumerate(ERRORS)
    )
    classes = " ".join(f"WHEN {n} THEN '{klass}'" for n, (klass, _) in enumerate(ERRORS))
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customers (id, version, digest, data, created_at, updated_at,"
                " name, search, status) SELECT 'C' || lpad(i::text, 7, '0'), 1, 'x',"
                " jsonb_build_object('type', 'organization', 'name', 'شرکت ' || i,"
                " 'phones', jsonb_build_array('09121234567')), now(), now(),"
                f" 'شرکت ' || i, 'شرکت ' || i, 'active' {numbers}"
            )
        )
        connection.execute(
            text(
                "INSERT INTO sync_state (plugin, kind, record_id, state, wanted_version,"
                " synced_version, attempts, last_error, error_class, due_at, updated_at)"
                " SELECT 'finance', 'customer', 'C' || lpad(i::text, 7, '0'),"
                " CASE WHEN i % 10 = 0 THEN 'dead' WHEN i % 20 = 1 THEN 'failed'"
                " ELSE 'synced' END, 1, CASE WHEN i % 10 = 0 OR i % 20 = 1 THEN NULL ELSE 1 END,"
                " CASE WHEN i % 10 = 0 THEN 4 ELSE 0 END,"
                f" CASE WHEN i % 10 = 0 OR i % 20 = 1 THEN CASE (i / 10) % 4 {cases} END END,"
                f" CASE WHEN i % 10 = 0 OR i % 20 = 1 THEN CASE (i / 10) % 4 {classes} END END,"
                f" now() - i * interval '1 millisecond', now() {numbers}"
            )
        )
        connection.execute(
            text(
                "INSERT INTO attempts (direction, plugin, kind, record_id, version, attempt,"
                " started_at, finished_at, duration_ms, outcome, error_class, error)"
                " SELECT 'out', 'finance', 'customer', 'C0000010', 1, n,"
                " now() - n * interval '1 minute', now() - n * interval '1 minute', 42.0,"
                " CASE WHEN n = 4 THEN 'dead' ELSE 'retry' END, 'http-422',"
                " 'HTTP 422 from erp: unknown tax code 0' FROM generate_series(1, 4) AS n"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # What autovacuum does on a live system: statistics and the visibility map.
        connection.execute(text("VACUUM ANALYZE"))


def signed_in_client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    client = TestClient(app)
    page = client.get("/admin/sign-in")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if found is None:
        raise SystemExit("the sign-in page has no CSRF field")
    signed = client.post(
        "/admin/sign-in",
        data={"csrf": found.group(1), "token": TOKEN, "next": "/admin"},
        follow_redirects=False,
    )
    if signed.status_code != 303:
        raise SystemExit(f"sign-in failed: {signed.status_code}")
    return client


def time_page(client: Any, path: str, runs: int) -> tuple[float, float]:
    answer = client.get(path)
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), percentile(timings, 0.99)


def time_direct_count(engine: Any, runs: int) -> tuple[float, float]:
    """Milliseconds of a direct count of the deliveries by plugin and state, p50 and p99."""
    statement = text("SELECT plugin, state, count(*) FROM sync_state GROUP BY plugin, state")
    timings = []
    with engine.connect() as connection:
        connection.execute(statement).all()
        for _ in range(runs):
            started = time.perf_counter()
            connection.execute(statement).all()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), percentile(timings, 0.99)


def counting(engine: Any, on: bool) -> None:
    """Put back (or take away) the counting triggers and the overview's partial indexes.

    Putting them back rebuilds the counts, so the console's figures stay exact.
    """
    verb = "ENABLE" if on else "DISABLE"
    table = metadata.tables["sync_state"]
    indexes = [index for index in table.indexes if index.name in OVERVIEW_INDEXES]
    with engine.begin() as connection:
        for event in COUNTING_TRIGGERS:
            connection.execute(
                text(f"ALTER TABLE sync_state {verb} TRIGGER sync_state_counts_{event}")
            )
        for index in indexes:
            if on:
                index.create(connection)
            else:
                index.drop(connection)
        if on:
            connection.execute(text("LOCK TABLE sync_state IN SHARE ROW EXCLUSIVE MODE"))
            connection.execute(text("DELETE FROM state_counts WHERE direction = 'out'"))
            connection.execute(
                text(
                    "INSERT INTO state_counts (direction, plugin, state, n) SELECT 'out',"
                    " plugin, state, count(*) FROM sync_state GROUP BY plugin, state"
                )
            )


def vacuum(engine: Any) -> None:
    """What autovacuum does between rounds, so that no round inherits another's dead rows."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE sync_state, attempts, state_counts"))


def queue_pending(engine: Any, offset: int, count: int) -> None:
    """Make ``count`` customers from ``offset`` due for the bench plugin."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sync_state (plugin, kind, record_id, state, wanted_version,"
                " attempts, due_at, updated_at) SELECT 'bench', 'customer',"
                " 'C' || lpad(i::text, 7, '0'), 'pending', 1, 0, now(), now()"
                f" FROM generate_series({offset + 1}, {offset + count}) AS i"
            )
        )


def drain(runtime: Any) -> float:
    """Push every due bench delivery; return documents per second."""
    started = time.perf_counter()
    pushed = 0
    while True:
        done = runtime.sync.process("bench", []).pushed
        if not done:
            break
        pushed += done
    return pushed / (time.perf_counter() - started)


def snapshots_running(
    engine: Any, every: float, stop: threading.Event, taken: list[float]
) -> Callable[[], None]:
    """A thread that does the maintenance loop's work now and then every ``every`` seconds.

    That is: fold the state counts and take a snapshot of a new minute.
    """
    base = utcnow().replace(second=0, microsecond=0) + timedelta(days=len(taken) + 1)

    def loop() -> None:
        minute = 0
        while not stop.is_set():
            started = time.perf_counter()
            fold_state_counts(engine)
            take_snapshot(engine, minute=base + timedelta(minutes=minute))
            taken.append((time.perf_counter() - started) * 1000)
            minute += 1
            stop.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread.join


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--sync", type=int, default=20_000)
    args = parser.parse_args()
    if args.sync * 8 > args.deliveries:
        raise SystemExit("--sync must be at most an eighth of --deliveries")

    name = f"crm_sync_admin_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        settings = Settings(
            data_dir=Path(tempfile.mkdtemp()),
            database_url=PG_SERVER + name,
            api_tokens=f"bench:admin:{TOKEN}",
            console={"language": "en"},
        )
        runtime = migrated_runtime(settings, {"bench": BenchPlugin()})
        started = time.perf_counter()
        seed(runtime.engine, args.deliveries)
        print(f"seeded {args.deliveries:,} deliveries in {time.perf_counter() - started:.0f} s")

        from core.api.app import create_app

        client = signed_in_client(create_app(runtime, background=False))
        pages = {
            "overview": "/admin",
            "dead search by error text": "/admin/deliveries?list=dead&error=unknown+tax",
            "one delivery": "/admin/deliveries/finance/customer/C0000010",
        }
        print(f"\n{'page':<28}{'p50 ms':>10}{'p99 ms':>10}")
        for label, path in pages.items():
            p50, p99 = time_page(client, path, args.runs)
            print(f"{label:<28}{p50:>10.1f}{p99:>10.1f}")
        client.close()
        p50, p99 = time_direct_count(runtime.engine, args.runs)
        print(f"{'baseline: direct count':<28}{p50:>10.1f}{p99:>10.1f}")

        every = {"configured": settings.console.snapshot_seconds, "stress": 1.0}
        if not args.sync:
            runtime.close()
            return
        modes = ["off", "configured", "stress", "uncounted"]
        rates: dict[str, list[float]] = {mode: [] for mode in modes}
        taken: list[float] = []
        # In turns, forwards then backwards, so no mode always runs on a fresher table.
        for round_number, mode in enumerate(modes + modes[::-1]):
            queue_pending(runtime.engine, round_number * args.sync, args.sync)
            if mode == "uncounted":
                counting(runtime.engine, on=False)
            vacuum(runtime.engine)
            stop = threading.Event()
            join = (
                snapshots_running(runtime.engine, every[mode], stop, taken)
                if mode in every
                else None
            )
            rates[mode].append(drain(runtime))
            if mode == "uncounted":
                counting(runtime.engine, on=True)
            stop.set()
            if join is not None:
                join()
        off = statistics.mean(rates["off"])
        print(f"\nsync job, {args.sync:,} documents per round, two rounds each")
        print(f"  snapshots off               {off:>8.0f} docs/s")
        for mode, label in (("configured", "as configured"), ("stress", "every second")):
            rate = statistics.mean(rates[mode])
            print(f"  snapshots {label:<18}{rate:>8.0f} docs/s  ratio {rate / off:.2f}")
        rate = statistics.mean(rates["uncounted"])
        print(f"  no counts' triggers, indexes{rate:>8.0f} docs/s  ratio {rate / off:.2f}")
        print(
            "  rounds (docs/s): "
            + "; ".join(f"{m} {', '.join(f'{r:.0f}' for r in rates[m])}" for m in modes)
        )
        print(
            f"  one snapshot (fold the counts, snapshot): p50 {statistics.median(taken):.1f} ms,"
            f" p99 {percentile(taken, 0.99):.1f} ms over {len(taken)}"
        )
        runtime.close()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
