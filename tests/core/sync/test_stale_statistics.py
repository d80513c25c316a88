"""PostgreSQL's planner statistics of the queue stay fresh enough to look rows up by key.

A resync queues rows while workers already push them, and a burst of changes fills the
queue before autovacuum's first pass (or on a server without it). With statistics from
before, PostgreSQL read every queued row of the plugin for each batch it claimed or
settled, and every record for each page the resync read: a backlog cost grew with the
square of its size. These tests read the plans PostgreSQL runs, in databases whose
tables were never analysed, as after a bulk import.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, TextClause, text

from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from core.db.types import utcnow
from core.kinds import KINDS
from core.settings import Settings
from core.sync.admin import resync
from core.sync.engine import _Statements
from core.sync.runtime import SyncRuntime
from core.sync.statistics import grew_fourfold, refresh_stale_statistics
from core.sync.sweeper import Sweeper
from tests.core.scripted_plugin import ScriptedPlugin

CUSTOMERS = KINDS["customers"]
#: Customers in the database, queued in chunks of 2,000, 4,000, 8,000 and then 10,000.
RECORDS = 40_000
SEED = text(
    "INSERT INTO customers (id, name, search, status, version, digest, data, created_at,"
    " updated_at) SELECT 'C-' || lpad(n::text, 6, '0'), 'Customer ' || n, 'customer ' || n,"
    " 'active', 1, md5(n::text), jsonb_build_object('type', 'person', 'name', 'Customer ' || n),"
    " now(), now() FROM generate_series(1, :count) AS n"
)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database with customers that were never analysed."""
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(SEED, {"count": RECORDS})
    yield engine
    engine.dispose()


def analysed_rows(connection: Connection, table: str) -> float:
    """What the planner believes ``table`` holds: -1 until it was first analysed."""
    statement = text("SELECT reltuples FROM pg_class WHERE relname = :table")
    return float(connection.execute(statement, {"table": table}).scalar_one())


def scans_of_sync_state(connection: Connection, statement: TextClause, **params: Any) -> list[Any]:
    """Run ``statement`` under EXPLAIN ANALYZE, rolled back; its plan nodes that read sync_state."""
    explain = text("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.text)
    transaction = connection.begin_nested()
    raw = connection.execute(explain, params).scalar_one()
    transaction.rollback()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    found: list[Any] = []
    pending = [plan[0]["Plan"]]
    while pending:
        node = pending.pop()
        pending.extend(node.get("Plans", []))
        if node.get("Relation Name") == "sync_state" and node["Node Type"].endswith("Scan"):
            found.append(node)
    return found


def test_the_count_passes_a_power_of_four_a_handful_of_times() -> None:
    """The statistics are refreshed after the first rows and at 4, 16, 64... times as many."""
    assert grew_fourfold(0, 2000)
    assert grew_fourfold(2000, 6000)
    assert not grew_fourfold(6000, 14_000)
    assert grew_fourfold(14_000, 24_000)
    assert not grew_fourfold(24_000, 34_000)
    # A million rows queued 10,000 at a time: at the first chunk, 16,384, 65,536, 262,144.
    sizes = list(range(0, 1_000_001, 10_000))
    passed = [b for a, b in itertools.pairwise(sizes) if grew_fourfold(a, b)]
    assert passed == [10_000, 20_000, 70_000, 270_000]


def test_a_resync_analyses_the_records_and_its_first_chunk_before_any_worker_claims(
    engine: Engine,
) -> None:
    """When the first refs reach the broker, the planner knows both tables' sizes."""
    with engine.connect() as connection:
        assert analysed_rows(connection, "customers") < 0
    chunks = resync(engine, "finance", [CUSTOMERS], chunk=2000, largest_chunk=10_000)
    first = next(chunks)
    with engine.connect() as connection:
        assert analysed_rows(connection, "customers") == RECORDS
        assert analysed_rows(connection, "sync_state") == len(first) == 2000
    rest = [ref for refs in chunks for ref in refs]
    assert len(first) + len(rest) == RECORDS
    with engine.connect() as connection:
        assert analysed_rows(connection, "sync_state") == RECORDS


def test_claims_and_outcomes_of_a_batch_read_only_its_rows_while_a_resync_queues(
    engine: Engine,
) -> None:
    """A batch of 100 from the first chunk is claimed and settled by key, 34,000 rows queued.

    The statistics were last refreshed at 24,000 rows, as happens while workers push
    during a resync: the claim and the outcome each read the batch's 100 rows, not every
    queued row of the plugin.
    """
    chunks = resync(engine, "finance", [CUSTOMERS], chunk=2000, largest_chunk=10_000)
    batch = [record_id for _, record_id in next(chunks)][:100]
    queued = 2000
    while queued < 34_000:
        queued += len(next(chunks))
    assert queued == 34_000
    now = utcnow()
    owner = "worker-1"
    claim = {
        "owner": owner,
        "until": now + timedelta(seconds=60),
        "now": now,
        "p_plugin": "finance",
        "kind": "customer",
        "rs": batch,
    }
    done = {
        "attempts": json.dumps([]),
        "now": now,
        "p_plugin": "finance",
        "kind": "customer",
        "owner": owner,
        "rs": batch,
        "vs": [1] * len(batch),
        "exts": [None] * len(batch),
        "notes": [None] * len(batch),
    }
    with engine.connect() as connection, connection.begin():
        claimed = scans_of_sync_state(connection, _Statements.claim_many, **claim)
        connection.execute(_Statements.claim_many, claim)
        settled = scans_of_sync_state(connection, _Statements.success_many, **done)
    for scans in (claimed, settled):
        assert [node.get("Index Name", node["Node Type"]) for node in scans] == ["pk_sync_state"]
        assert sum(node.get("Rows Removed by Filter", 0) for node in scans) == 0, scans
        assert sum(node["Actual Rows"] for node in scans) == len(batch), scans


#: A burst of deliveries written straight into the queue, all due, none analysed.
BURST = text(
    "INSERT INTO sync_state (plugin, kind, record_id, state, wanted_version, attempts,"
    " due_at, updated_at) SELECT 'finance', 'customer', 'C-' || lpad(n::text, 6, '0'),"
    " 'pending', 1, 0, now(), now() FROM generate_series(1, :count) AS n"
)


def test_the_sweeper_refreshes_the_statistics_of_a_queue_a_burst_filled(
    postgres_url: str,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
) -> None:
    """After a burst of 20,000 changes the next sweep analyses sync_state, then leaves it be.

    Before, a claim of one delivery read the plugin's whole queue; after, its one row.
    """
    runtime = make_runtime(make_settings(database_url=postgres_url), {"finance": ScriptedPlugin()})
    with runtime.engine.begin() as connection:
        connection.execute(BURST, {"count": 20_000})
    sweeper = Sweeper(runtime)
    # PostgreSQL counts the changed rows a moment after the commit (its statistics
    # are flushed when the writing session goes idle).
    deadline = time.monotonic() + 15
    with runtime.engine.connect() as connection:
        while analysed_rows(connection, "sync_state") < 0 and time.monotonic() < deadline:
            sweeper.work_round()
            connection.rollback()
            time.sleep(0.2)
        assert analysed_rows(connection, "sync_state") == 20_000
    # As many changes again (every row touched), counted: a table analysed less than
    # a minute ago is not analysed again.
    with runtime.engine.begin() as connection:
        connection.execute(text("UPDATE sync_state SET updated_at = now()"))
    changed = text(
        "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'sync_state'"
    )
    deadline = time.monotonic() + 15
    with runtime.engine.connect() as connection:
        while connection.execute(changed).scalar_one() < 20_000 and time.monotonic() < deadline:
            connection.rollback()
            time.sleep(0.2)
        assert connection.execute(changed).scalar_one() >= 20_000
    assert refresh_stale_statistics(runtime.engine) == []
    now = utcnow()
    claim = {
        "owner": "worker-1",
        "until": now + timedelta(seconds=60),
        "now": now,
        "p_plugin": "finance",
        "kind": "customer",
        "rs": ["C-010000"],
    }
    with runtime.engine.connect() as connection:
        scans = scans_of_sync_state(connection, _Statements.claim_many, **claim)
    assert sum(node.get("Rows Removed by Filter", 0) for node in scans) == 0, scans
    assert sum(node["Actual Rows"] for node in scans) == 1, scans


def test_sqlite_needs_no_statistics(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    """On the embedded default nothing is analysed: SQLite looks rows up by key without."""
    runtime = make_runtime(make_settings(), {"finance": ScriptedPlugin()})
    with runtime.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sync_state (plugin, kind, record_id, state, wanted_version,"
                " attempts, due_at, updated_at) VALUES ('finance', 'customer', 'C-1',"
                " 'pending', 1, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    assert refresh_stale_statistics(runtime.engine) == []
