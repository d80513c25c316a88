"""The claimable rows' index: the claim of the next due rows reads it, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from core.db.engine import create_db_engine
from core.db.migrate import upgrade

EXPLAIN_DUE = (
    "SELECT kind, record_id FROM sync_state WHERE plugin = 'finance'"
    " AND state IN ('pending', 'failed') AND due_at <= CURRENT_TIMESTAMP"
    " ORDER BY due_at LIMIT 100"
)


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    """A migrated database on SQLite and on PostgreSQL."""
    return migrated_engine


def test_the_due_rows_are_found_in_the_claimable_index(engine: Engine) -> None:
    """A claim of the next due rows walks the index of claimable rows in due order."""
    indexes = {index["name"] for index in inspect(engine).get_indexes("sync_state")}
    assert "ix_sync_state_claimable" in indexes
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sync_state (plugin, kind, record_id, state, wanted_version,"
                " attempts, due_at, updated_at) VALUES ('finance', 'customer', 'C-1',"
                " 'pending', 1, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = connection.execute(text("EXPLAIN " + EXPLAIN_DUE)).scalars().all()
        else:
            rows = connection.execute(text("EXPLAIN QUERY PLAN " + EXPLAIN_DUE)).all()
            plan = [str(row[-1]) for row in rows]
    assert any("ix_sync_state_claimable" in line for line in plan), plan
    assert not any("Sort" in line or "TEMP B-TREE" in line for line in plan), plan


def test_postgresql_leaves_room_in_each_page_for_in_place_updates(postgres_url: str) -> None:
    """The table keeps 30 % of each page free, so a claim's update stays on its page."""
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    with engine.connect() as connection:
        options = connection.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'sync_state'")
        ).scalar_one()
    engine.dispose()
    assert "fillfactor=70" in options
