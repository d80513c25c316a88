"""``resync`` queues every record once, in chunks that grow on PostgreSQL only.

A first load (no delivery of the kind yet) takes the bulk path; a resync over old rows,
a rerun after a killed resync and a first load that meets a row written meanwhile take
the general path and leave the same outbox.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select, update

from core.db.sync_tables import PENDING, SYNCED, SyncState
from core.db.types import utcnow
from core.kinds import KINDS
from core.store import write_record
from core.sync.admin import resync

CUSTOMERS = KINDS["customers"]


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    """A migrated database with 40 customers, on SQLite and on PostgreSQL."""
    for number in range(40):
        model = CUSTOMERS.schema.model_validate({"type": "person", "name": f"مشتری {number}"})
        write_record(migrated_engine, CUSTOMERS, f"C-{number:03d}", model, subscribers=[])
    return migrated_engine


def test_every_record_is_queued_once_in_chunks_that_grow_on_postgresql(engine: Engine) -> None:
    """Chunks double up to the largest on PostgreSQL; SQLite keeps the first size."""
    chunks = list(resync(engine, "finance", [CUSTOMERS], chunk=3, largest_chunk=10))
    sizes = [len(refs) for refs in chunks]
    if engine.dialect.name == "postgresql":
        assert sizes == [3, 6, 10, 10, 10, 1]
    else:
        assert sizes == [3] * 13 + [1]
    refs = [ref for refs in chunks for ref in refs]
    assert sorted(refs) == [("customer", f"C-{number:03d}") for number in range(40)]
    with engine.connect() as connection:
        pending = connection.execute(
            select(func.count()).where(SyncState.plugin == "finance", SyncState.state == PENDING)
        ).scalar_one()
    assert pending == 40


def outbox(engine: Engine) -> list[tuple[object, ...]]:
    """The finance deliveries as a resync leaves them, by record."""
    columns = (
        SyncState.record_id,
        SyncState.state,
        SyncState.wanted_version,
        SyncState.synced_version,
        SyncState.attempts,
        SyncState.due_at,
        SyncState.enqueued_at,
    )
    statement = select(*columns).where(SyncState.plugin == "finance")
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(statement.order_by(None)))


def test_a_first_load_and_a_resync_over_existing_rows_leave_the_same_outbox(
    engine: Engine,
) -> None:
    """The bulk path of a first load queues what the general path queues over old rows."""
    now = utcnow()
    first = list(resync(engine, "finance", [CUSTOMERS], chunk=7, largest_chunk=7, now=now))
    queued = outbox(engine)
    with engine.begin() as connection:
        connection.execute(
            update(SyncState).values(state=SYNCED, synced_version=1, external_id="E", attempts=2)
        )
    again = list(resync(engine, "finance", [CUSTOMERS], chunk=7, largest_chunk=7, now=now))
    assert again == first
    assert outbox(engine) == queued
    assert [row[1:] for row in queued] == [(PENDING, 1, None, 0, now, now)] * 40
    with engine.connect() as connection:
        kept = connection.execute(select(SyncState.external_id).distinct()).scalars().all()
    assert kept == ["E"]


def test_a_resync_killed_after_a_chunk_queues_the_rest_exactly_once_when_run_again(
    engine: Engine,
) -> None:
    """Committed chunks stay queued; the rerun queues every record once, none twice."""
    killed = resync(engine, "finance", [CUSTOMERS], chunk=8, largest_chunk=8)
    assert len(next(killed)) == 8
    killed.close()
    assert len(outbox(engine)) == 8
    rerun = [ref for refs in resync(engine, "finance", [CUSTOMERS], chunk=8) for ref in refs]
    assert sorted(rerun) == [("customer", f"C-{number:03d}") for number in range(40)]
    rows = outbox(engine)
    assert [row[0] for row in rows] == [f"C-{number:03d}" for number in range(40)]
    assert {row[1] for row in rows} == {PENDING}


def test_a_record_queued_by_its_own_change_during_a_first_load_is_queued_once(
    engine: Engine,
) -> None:
    """A change that writes its delivery mid-way sends the first load down the general path."""
    loading = resync(engine, "finance", [CUSTOMERS], chunk=10, largest_chunk=10)
    assert len(next(loading)) == 10
    changed = CUSTOMERS.schema.model_validate({"type": "person", "name": "مشتری تازه"})
    write_record(engine, CUSTOMERS, "C-015", changed, subscribers=["finance"])
    rest = [ref for refs in loading for ref in refs]
    assert sorted(rest) == [("customer", f"C-{number:03d}") for number in range(10, 40)]
    rows = {row[0]: row for row in outbox(engine)}
    assert len(rows) == 40
    assert rows["C-015"][1:3] == (PENDING, 2)
