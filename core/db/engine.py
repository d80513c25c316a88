"""Database engines configured the same way for every crm-sync process."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite

log = logging.getLogger(__name__)

#: A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0
#: Execution option of :func:`reading`: the connection only reads.
READ_ONLY = "crm_sync_read_only"


def create_db_engine(
    url: str,
    *,
    pool_size: int = 10,
    durable: bool = True,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
    autocheckpoint: bool = True,
) -> Engine:
    """Create an engine for ``url`` with the settings crm-sync relies on.

    SQLite runs in WAL mode and every writing transaction begins IMMEDIATE, so
    concurrent writers queue instead of failing half-way (those of one process on a
    lock that wakes the next one at once, see :class:`_WriterConnection`; other
    processes on the busy timeout), with a pool of ``pool_size`` connections and as
    many more for bursts, so threads do not open a connection per transaction;
    PostgreSQL gets a pool sized for a worker's threads whose connections are pinged
    when they come out of the pool after resting ``ping_after_idle`` seconds
    (:func:`_ping_when_idle`).
    ``durable=False`` turns PostgreSQL's synchronous commit off for this engine's
    sessions: for bookkeeping that may be replayed after a database crash (a lost lease
    or a lost "synced" mark only causes a push the target drops by its idempotency
    key), never for writes the API acknowledges. Such an engine runs each statement in
    its own transaction (autocommit: the sync engine's statements are each atomic on
    their own, and BEGIN and COMMIT round trips would double a push's database time)
    and skips the ping on checkout: a connection the database dropped fails one job,
    which Dramatiq retries. ``autocheckpoint=False`` stops SQLite from copying its
    write-ahead log into the database inside whichever commit fills it (a pause of
    several milliseconds, with an fsync, in the middle of a job): the owner of such an
    engine runs a :class:`WalCheckpointer` instead.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "factory": _WriterConnection},
            **_sqlite_pool(url, pool_size),
        )
        _configure_sqlite(engine, autocheckpoint)
        return engine
    if durable:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _ping_when_idle(engine, ping_after_idle)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c synchronous_commit=off"},
    )


def _ping_when_idle(engine: Engine, seconds: float) -> None:
    """Ping a pooled connection on checkout when it rested more than ``seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per
    connection, which on a job that opens several is a large share of its time. A
    connection returned a moment ago is almost surely alive, and one the server
    dropped in that moment fails its statement, which invalidates the pool (the API
    answers 503, a job is retried). A connection that rested longer (the server may
    have restarted or timed it out) is pinged, and a dead one is replaced before use.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _on_rest(_dbapi_connection: Any, record: Any) -> None:
        record.info["rests_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested = time.monotonic() - record.info.get("rests_since", 0.0)
        if rested <= seconds:
            return
        try:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            try:
                dbapi_connection.execute("SELECT 1")
            finally:
                dbapi_connection.autocommit = autocommit
        except Exception as error:
            raise exc.DisconnectionError(f"pooled connection is dead: {error}") from error


#: Seconds a SQLite writer waits for the process's writer lock before it goes on to
#: SQLite's own busy timeout (the same 30 s).
WRITER_LOCK_SECONDS = 30.0
#: Writes of requests that may go before a waiting background writer, one after another.
FOREGROUND_STREAK = 4
#: Whether this context's writes are a request's (a client waits for them): they take
#: the SQLite writer lock before background writers (see :class:`WriterLock`).
foreground_writes: ContextVar[bool] = ContextVar("foreground_writes", default=False)
_writer_locks: dict[str, WriterLock] = {}
_writer_locks_guard = threading.Lock()


class WriterLock:
    """The lock the writers of one SQLite file in this process queue on, requests first.

    A request's write (``foreground_writes`` set) goes before waiting background writers
    (the embedded worker's claims and finalizations, the sweeper, the scheduler), so a
    client waits behind other clients and the write under way, not behind every retry
    of a down target; after ``streak`` request writes in a row with a background writer
    waiting, a background writer goes next, so deliveries are never starved. Each class
    waits in arrival order, and a release hands the lock to the next writer directly,
    waking that one thread only.
    """

    def __init__(self, streak: int = FOREGROUND_STREAK) -> None:
        self.streak = streak
        self._guard = threading.Lock()
        self._held = False
        self._queues: dict[bool, deque[threading.Lock]] = {True: deque(), False: deque()}
        self._in_a_row = 0

    def locked(self) -> bool:
        """Whether a writer holds the lock."""
        return self._held

    def waiting(self, foreground: bool) -> int:
        """How many request (``foreground``) or background writers wait for the lock."""
        return len(self._queues[foreground])

    def acquire(self, foreground: bool, timeout: float = WRITER_LOCK_SECONDS) -> bool:
        """Take the lock within ``timeout`` seconds (False if it did not come)."""
        with self._guard:
            if not self._held:  # nobody waits either: a release hands the lock on
                self._held = True
                self._in_a_row = 0
                return True
            turn = threading.Lock()
            turn.acquire()
            self._queues[foreground].append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._guard:
            if turn in self._queues[foreground]:
                self._queues[foreground].remove(turn)
                return False
        return True  # handed over just as the wait ran out

    def release(self) -> None:
        """Hand the lock to the next writer, or free it when none waits."""
        with self._guard:
            requests, background = self._queues[True], self._queues[False]
            if background and (not requests or self._in_a_row >= self.streak):
                self._in_a_row = 0
                background.popleft().release()
            elif requests:
                self._in_a_row = self._in_a_row + 1 if background else 0
                requests.popleft().release()
            else:
                self._held = False


def _writer_lock(database: str) -> WriterLock:
    """The lock the writers of one SQLite file in this process queue on."""
    key = os.path.abspath(database) if database and database != ":memory:" else database
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, WriterLock())


class _WriterConnection(sqlite3.Connection):
    """A SQLite connection that holds its process's writer lock from BEGIN IMMEDIATE to the end.

    SQLite lets one writer in at a time, and a writer that finds the database locked
    sleeps in its busy handler (1, 2, 5 ... up to 100 ms at a time) instead of waking
    when the lock is free: with the API's threads and the embedded worker's writing
    the same file, a save could sleep for most of a second behind writes of a few
    milliseconds. The writers of one process therefore queue on a Python lock, taken
    just before ``BEGIN IMMEDIATE`` and let go right after the commit or rollback, so
    the next one starts as soon as the lock is free; other processes still meet
    SQLite's busy timeout. A request's write goes first (see :class:`WriterLock`).
    """

    writer_lock: WriterLock | None = None
    holding = False

    def take_writer_lock(self) -> None:
        """Wait for the process's writer lock (at most ``WRITER_LOCK_SECONDS``)."""
        lock = self.writer_lock
        if lock is not None and not self.holding:
            self.holding = lock.acquire(foreground_writes.get())

    def release_writer_lock(self) -> None:
        """Let the next writer of this process in."""
        if self.holding and self.writer_lock is not None:
            self.holding = False
            self.writer_lock.release()

    def commit(self) -> None:
        """Commit, then let the next writer in."""
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        """Roll back, then let the next writer in."""
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        """Close (an open transaction is rolled back), then let the next writer in."""
        try:
            super().close()
        finally:
            self.release_writer_lock()


def _sqlite_pool(url: str, pool_size: int) -> dict[str, Any]:
    """Pool options of a SQLite file: room for the process's threads (none for memory)."""
    if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:"):
        return {}
    return {"pool_size": pool_size, "max_overflow": pool_size}


def _configure_sqlite(engine: Engine, autocheckpoint: bool) -> None:
    lock = _writer_lock(engine.url.database or "")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, _WriterConnection):
            dbapi_connection.writer_lock = lock
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
        raw = connection.connection.driver_connection
        if isinstance(raw, _WriterConnection):
            raw.take_writer_lock()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if isinstance(raw, _WriterConnection):
                raw.release_writer_lock()
            raise


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log from a background thread.

    SQLite's default copies the log into the database during the commit that makes it
    reach 1,000 pages, so every few dozen jobs one pays an fsync. With the engine's
    ``autocheckpoint`` off, this thread runs a PASSIVE checkpoint every ``interval``
    seconds instead: it waits for no reader or writer, and the log stays small. Does
    nothing for other databases. ``stop`` ends the thread; disposing of the engine
    afterwards checkpoints what is left.
    """

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self.engine = engine
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checkpointing (SQLite only)."""
        if self.engine.dialect.name != "sqlite" or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the checkpointing thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def checkpoint(self) -> None:
        """Copy what the log holds into the database now, as far as readers allow."""
        connection = self.engine.raw_connection()
        try:
            connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the thread (waits for a checkpoint under way)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.checkpoint()
            except Exception as error:  # the next round tries again
                log.warning("WAL checkpoint failed: %s", error)


@contextmanager
def reading(source: Engine | Connection) -> Iterator[Connection]:
    """A connection for reads only, as cheap as the database allows.

    On PostgreSQL it runs in autocommit: each statement sees the latest committed data
    and no BEGIN or ROLLBACK round trip is spent. On SQLite its transaction begins
    DEFERRED, so it takes no write lock and waits for no writer (WAL). Use it for a
    group of reads whose answers need not come from one snapshot, never for writes
    (on PostgreSQL each would commit on its own). An open connection given as
    ``source`` is used as it is, so a function can read inside its caller's transaction.
    """
    if isinstance(source, Connection):
        yield source
        return
    with source.connect() as connection:
        if source.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        else:
            connection = connection.execution_options(**{READ_ONLY: True})
        yield connection


def upsert(engine: Engine, table: Any) -> postgresql.Insert | sqlite.Insert:
    """Return the dialect's INSERT that supports ``on_conflict_do_update``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"crm-sync supports SQLite and PostgreSQL, not {engine.dialect.name}")
