"""A copied test schema is the schema the migrations build, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from core.db.engine import create_db_engine
from core.db.migrate import current_revision, head_revision, upgrade
from core.testing.schema import migrate

SQLITE_SCHEMA = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
POSTGRES_SCHEMA = (
    "SELECT 'index', indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " UNION ALL SELECT 'trigger', tgname, tgrelid::regclass::text, pg_get_triggerdef(oid)"
    " FROM pg_trigger WHERE NOT tgisinternal"
    " UNION ALL SELECT 'column', column_name, table_name, data_type || ' ' || is_nullable"
    " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 3, 2"
)


def schema(engine: Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query))]


def test_an_empty_sqlite_database_gets_the_migrated_schema_by_copy(tmp_path: Path) -> None:
    """Tables, indexes, triggers and the revision match a replay of every migration."""
    replayed = create_db_engine(f"sqlite:///{tmp_path / 'replayed.db'}")
    copied = create_db_engine(f"sqlite:///{tmp_path / 'copied.db'}")
    try:
        upgrade(replayed)
        migrate(copied)
        assert current_revision(copied) == head_revision()
        assert schema(copied, SQLITE_SCHEMA) == schema(replayed, SQLITE_SCHEMA)
    finally:
        replayed.dispose()
        copied.dispose()


def test_a_migrated_postgresql_database_matches_a_replayed_one(
    postgres_url: str, migrated_postgres_url: str
) -> None:
    """The template's copy holds the same columns, indexes, triggers and revision."""
    replayed = create_db_engine(postgres_url)
    copied = create_db_engine(migrated_postgres_url)
    try:
        upgrade(replayed)
        assert current_revision(copied) == head_revision()
        assert schema(copied, POSTGRES_SCHEMA) == schema(replayed, POSTGRES_SCHEMA)
    finally:
        replayed.dispose()
        copied.dispose()
