"""Engines: cheap reads, pings after a rest, SQLite checkpoints in the background."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, exc, text

from core.db.engine import WalCheckpointer, WriterLock, create_db_engine, reading
from core.settings import Settings
from core.sync.runtime import SyncRuntime


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on a scratch PostgreSQL database, pinging every checked-out connection."""
    engine = create_db_engine(postgres_url, pool_size=1, ping_after_idle=0)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id integer PRIMARY KEY)"))
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a scratch SQLite file with one table."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id integer PRIMARY KEY)"))
    yield engine
    engine.dispose()


def _status(connection: object) -> TransactionStatus:
    driver = connection.connection.driver_connection  # type: ignore[attr-defined]
    assert isinstance(driver, psycopg.Connection)
    return driver.info.transaction_status


def test_reading_on_postgresql_opens_no_transaction(pg_engine: Engine) -> None:
    with reading(pg_engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM notes")).scalar_one() == 0
        assert _status(connection) == TransactionStatus.IDLE
    with pg_engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        assert _status(connection) == TransactionStatus.INTRANS


def test_a_connection_used_for_reading_writes_transactionally_afterwards(
    pg_engine: Engine,
) -> None:
    with reading(pg_engine) as connection:
        connection.execute(text("SELECT 1"))
    with pytest.raises(RuntimeError), pg_engine.begin() as connection:
        connection.execute(text("INSERT INTO notes VALUES (1)"))
        raise RuntimeError("roll back")
    with reading(pg_engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM notes")).scalar_one() == 0


def test_reading_inside_a_transaction_sees_its_writes(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as connection:
        connection.execute(text("INSERT INTO notes VALUES (1)"))
        with reading(connection) as same:
            assert same is connection
            assert same.execute(text("SELECT count(*) FROM notes")).scalar_one() == 1


def test_reading_on_sqlite_takes_no_write_lock(tmp_path: Path, sqlite_engine: Engine) -> None:
    impatient = create_db_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    with impatient.connect() as probe:
        probe.exec_driver_sql("PRAGMA busy_timeout=100")
    wrote = threading.Event()
    with reading(sqlite_engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM notes")).scalar_one() == 0

        def write() -> None:
            with impatient.begin() as connection:
                connection.exec_driver_sql("PRAGMA busy_timeout=100")
                connection.execute(text("INSERT INTO notes VALUES (1)"))
            wrote.set()

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=10)
        assert wrote.is_set(), "a writer waited for a reading connection"
    impatient.dispose()
    with reading(sqlite_engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM notes")).scalar_one() == 1


def _backend_pid(engine: Engine) -> int:
    with reading(engine) as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(postgres_url: str, pid: int) -> None:
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_rested_connection_the_server_dropped_is_replaced_before_use(
    pg_engine: Engine, postgres_url: str
) -> None:
    pid = _backend_pid(pg_engine)
    _terminate(postgres_url, pid)
    assert _backend_pid(pg_engine) != pid


def test_a_connection_dropped_within_the_rest_fails_once_then_the_pool_recovers(
    postgres_url: str,
) -> None:
    engine = create_db_engine(postgres_url, pool_size=1, ping_after_idle=3600)
    try:
        pid = _backend_pid(engine)
        _terminate(postgres_url, pid)
        with pytest.raises(exc.OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != pid
    finally:
        engine.dispose()


def _rows_in_main_file(folder: Path) -> int:
    """Rows of ``notes`` in the database file alone, without its write-ahead log."""
    copy = folder / "copy.db"
    copy.write_bytes((folder / "engine.db").read_bytes())
    with sqlite3.connect(copy) as connection:
        try:
            return int(connection.execute("SELECT count(*) FROM notes").fetchone()[0])
        except sqlite3.OperationalError:  # the table itself is still in the log
            return 0
        except sqlite3.DatabaseError:  # copied while a checkpoint was writing: look again
            return 0


def test_without_autocheckpoint_commits_leave_the_database_file_alone(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'engine.db'}", autocheckpoint=False)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id integer PRIMARY KEY, body text)"))
    for start in range(0, 3000, 100):
        with engine.begin() as connection:
            rows = [{"id": n, "body": "x" * 2000} for n in range(start, start + 100)]
            connection.execute(text("INSERT INTO notes VALUES (:id, :body)"), rows)
    assert _rows_in_main_file(tmp_path) == 0
    checkpointer = WalCheckpointer(engine, interval=0.05)
    checkpointer.start()
    deadline = time.monotonic() + 10
    while _rows_in_main_file(tmp_path) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    checkpointer.stop()
    assert _rows_in_main_file(tmp_path) == 3000
    assert not checkpointer.running
    engine.dispose()


def test_the_checkpointer_does_nothing_on_postgresql(pg_engine: Engine) -> None:
    checkpointer = WalCheckpointer(pg_engine)
    checkpointer.start()
    assert not checkpointer.running
    checkpointer.stop()


def test_a_runtime_on_sqlite_checkpoints_in_the_background_until_closed(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    runtime = make_runtime(make_settings())
    assert runtime.checkpointer.running
    runtime.close()
    assert not runtime.checkpointer.running


def _writer_lock_of(engine: Engine) -> WriterLock:
    from core.db.engine import _writer_lock

    return _writer_lock(engine.url.database or "")


def test_a_sqlite_writer_holds_the_process_lock_until_its_commit(sqlite_engine: Engine) -> None:
    lock = _writer_lock_of(sqlite_engine)
    with sqlite_engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (id) VALUES (1)"))
        assert lock.locked()
    assert not lock.locked()
    with reading(sqlite_engine) as connection:  # a reader takes no lock
        assert connection.execute(text("SELECT count(*) FROM notes")).scalar() == 1
        assert not lock.locked()


def test_a_failed_sqlite_write_lets_the_next_writer_in(sqlite_engine: Engine) -> None:
    lock = _writer_lock_of(sqlite_engine)
    with pytest.raises(exc.IntegrityError), sqlite_engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (id) VALUES (1)"))
        connection.execute(text("INSERT INTO notes (id) VALUES (1)"))
    assert not lock.locked()
    with sqlite_engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (id) VALUES (2)"))
    with reading(sqlite_engine) as connection:
        assert connection.execute(text("SELECT id FROM notes")).scalars().all() == [2]


def test_sqlite_writers_of_many_threads_all_commit_in_turn(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'many.db'}", pool_size=4)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id integer PRIMARY KEY, writer integer)"))
    inside = [0]
    most = [0]
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for number in range(25):
                with engine.begin() as connection:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                    connection.execute(
                        text("INSERT INTO notes VALUES (:id, :writer)"),
                        {"id": writer * 1000 + number, "writer": writer},
                    )
                    inside[0] -= 1
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert most[0] == 1  # one writer at a time, queued on the lock
    with reading(engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM notes")).scalar() == 300
    engine.dispose()
