"""Database engines configured the same way for every crm-sync process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite


def create_db_engine(url: str, *, pool_size: int = 10, durable: bool = True) -> Engine:
    """Create an engine for ``url`` with the settings crm-sync relies on.

    SQLite runs in WAL mode and every transaction begins IMMEDIATE, so concurrent
    writers queue on the busy timeout instead of failing half-way; PostgreSQL gets a
    pre-pinged pool sized for a worker's threads. ``durable=False`` turns PostgreSQL's
    synchronous commit off for this engine's sessions: for bookkeeping that may be
    replayed after a database crash (a lost lease or a lost "synced" mark only causes
    a push the target drops by its idempotency key), never for writes the API
    acknowledges. Such an engine runs each statement in its own transaction
    (autocommit: the sync engine's statements are each atomic on their own, and BEGIN
    and COMMIT round trips would double a push's database time) and skips the ping on
    checkout: a connection the database dropped fails one job, which Dramatiq retries.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    if durable:
        return create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c synchronous_commit=off"},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upsert(engine: Engine, table: Any) -> postgresql.Insert | sqlite.Insert:
    """Return the dialect's INSERT that supports ``on_conflict_do_update``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"crm-sync supports SQLite and PostgreSQL, not {engine.dialect.name}")
