"""``resync`` queues every record once, in chunks that grow on PostgreSQL only."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from core.db.sync_tables import PENDING, SyncState
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
