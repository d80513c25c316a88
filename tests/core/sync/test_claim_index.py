"""The indexes of sync_state, on both backends.

The claim of the next due rows reads the claimable rows' index, and a freshly queued row
skips the partial lease and error-class indexes.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from core.db.engine import create_db_engine
from core.db.migrate import downgrade, upgrade

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


#: The in-flight count of the admin overview (core/admin/overview.py).
EXPLAIN_LEASED = (
    "SELECT plugin, state, count(*) FROM sync_state WHERE state IN ('pending', 'failed')"
    " AND lease_until > CURRENT_TIMESTAMP GROUP BY plugin, state"
)
#: An admin filter by error class (core/admin/filters.py).
EXPLAIN_CLASS = "SELECT record_id FROM sync_state WHERE state = 'dead' AND error_class = 'http-422'"


def index_definitions(engine: Engine) -> dict[str, str]:
    """Each index of ``sync_state`` by name, as the database states its definition."""
    if engine.dialect.name == "postgresql":
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sync_state'"
    else:
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sync_state'"
        )
    with engine.connect() as connection:
        return {name: str(sql) for name, sql in connection.execute(text(query))}


def plan_of(engine: Engine, query: str) -> list[str]:
    """The query plan's lines, with sequential scans off on PostgreSQL (a near-empty table)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            return list(connection.execute(text("EXPLAIN " + query)).scalars())
        return [str(row[-1]) for row in connection.execute(text("EXPLAIN QUERY PLAN " + query))]


def test_a_fresh_row_enters_neither_the_lease_nor_the_error_class_index(engine: Engine) -> None:
    """Both indexes hold only leased or classed rows; PostgreSQL's plans still read them.

    (SQLite, without statistics, picks another index of ``state`` for both queries, as it
    did before the indexes were partial.)
    """
    definitions = index_definitions(engine)
    assert "lease_until IS NOT NULL" in definitions["ix_sync_state_due_leases"]
    assert "error_class IS NOT NULL" in definitions["ix_sync_state_state_class"]
    if engine.dialect.name != "postgresql":
        return
    assert any("ix_sync_state_due_leases" in line for line in plan_of(engine, EXPLAIN_LEASED))
    assert any("ix_sync_state_state_class" in line for line in plan_of(engine, EXPLAIN_CLASS))


def test_the_partial_indexes_go_back_to_full_ones_on_downgrade(engine: Engine) -> None:
    """Downgrading the migration restores the indexes as they were before it."""
    downgrade(engine, "s001_sync_state_claims")
    definitions = index_definitions(engine)
    assert "lease_until IS NOT NULL" not in definitions["ix_sync_state_due_leases"]
    assert "WHERE" not in definitions["ix_sync_state_state_class"].upper()
    upgrade(engine)
    assert "error_class IS NOT NULL" in index_definitions(engine)["ix_sync_state_state_class"]
