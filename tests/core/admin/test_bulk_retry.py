"""A bulk retry of 100,000 dead deliveries: it finishes, shows progress and sends each once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from core.admin.audit import Actor
from core.admin.filters import DeliveryFilter
from core.admin.jobs import Dispatchers, Job, confirm_job, count_job, run_job
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.scripted_plugin import ScriptedPlugin

ROWS = 100_000
ACTOR = Actor("ops", "operator", "api", "127.0.0.1")


def dead_customers(engine: Engine, plugin: str, rows: int) -> None:
    """``rows`` customers and a dead delivery of each, written by two INSERT ... SELECTs."""
    document = '\'{"type": "organization", "name": "C\' || i || \'"}\''
    if engine.dialect.name == "postgresql":
        document = f"CAST({document} AS jsonb)"
    numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})"
    now = "CURRENT_TIMESTAMP"
    # Each delivery died at its own moment, as after a real outage: with one shared
    # due_at PostgreSQL would rightly prefer the (plugin, state, due_at) index for the
    # compare-and-set and scan all 100,000 rows per chunk.
    died = (
        "now() - i * interval '1 millisecond'"
        if engine.dialect.name == "postgresql"
        else "datetime('now', '-' || i || ' seconds')"
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                f"{numbers} INSERT INTO customers (id, version, digest, data, created_at,"
                f" updated_at, name, search, status) SELECT 'C' || i, 1, 'x', {document},"
                f" {now}, {now}, 'C' || i, 'c' || i, 'active' FROM n"
            )
        )
        connection.execute(
            text(
                f"{numbers} INSERT INTO sync_state (plugin, kind, record_id, state,"
                " wanted_version, attempts, last_error, error_class, due_at, updated_at)"
                f" SELECT :plugin, 'customer', 'C' || i, 'dead', 1, 4,"
                f" 'HTTP 422 from erp: unknown tax code', 'http-422', {died}, {now} FROM n"
            ),
            {"plugin": plugin},
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def bulk_runtime(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
) -> tuple[SyncRuntime, ScriptedPlugin]:
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    plugin = ScriptedPlugin(max_batch=2000)
    runtime = make_runtime(make_settings(**overrides), {"bulk": plugin})
    dead_customers(runtime.engine, "bulk", ROWS)
    return runtime, plugin


def test_retrying_100000_dead_deliveries(bulk_runtime: tuple[SyncRuntime, ScriptedPlugin]) -> None:
    runtime, plugin = bulk_runtime
    job = count_job(runtime.engine, "retry", DeliveryFilter(list="dead", plugin="bulk"), ACTOR)
    assert job.total == ROWS
    confirm_job(runtime.engine, job.id, ACTOR, reason="tax codes fixed")
    seen: list[Job] = []
    done = run_job(runtime.engine, job.id, Dispatchers(), progress=seen.append, chunk=5000)
    assert (done.state, done.acted, done.skipped, done.processed) == ("done", ROWS, 0, ROWS)
    progress = [step.processed for step in seen]
    assert progress == sorted(progress) and len(set(progress)) == ROWS // 5000
    assert 0 < seen[0].progress < 1 and seen[-1].progress == 1

    while runtime.sync.process("bulk", []).pushed:
        pass
    sent = Counter(document.id for document in plugin.documents)
    assert len(sent) == ROWS and set(sent.values()) == {1}, "each once"
    with runtime.engine.connect() as connection:
        states = dict(
            connection.execute(text("SELECT state, count(*) FROM sync_state GROUP BY state")).all()
        )
    assert states == {"synced": ROWS}
