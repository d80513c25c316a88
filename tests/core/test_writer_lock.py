"""The SQLite writer lock of one process: requests' writes first, background never starved."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import text
from starlette.exceptions import StarletteDeprecationWarning

from core.api.foreground import ForegroundWrites
from core.db.engine import WriterLock, _writer_lock, create_db_engine, foreground_writes

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def _until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (the threads under test reached their wait)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the writers did not start waiting"
        time.sleep(0.005)


def _writer(lock: WriterLock, foreground: bool, order: list[str], name: str) -> threading.Thread:
    def write() -> None:
        assert lock.acquire(foreground)
        order.append(name)
        lock.release()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_waiting_request_write_goes_before_a_background_write_that_came_first() -> None:
    lock = WriterLock()
    order: list[str] = []
    assert lock.acquire(False)
    background = _writer(lock, False, order, "background")
    _until(lambda: lock.waiting(False) == 1)
    request = _writer(lock, True, order, "request")
    _until(lambda: lock.waiting(True) == 1)
    lock.release()
    background.join()
    request.join()
    assert order == ["request", "background"]
    assert not lock.locked()


def test_a_background_writer_goes_after_a_streak_of_request_writes() -> None:
    lock = WriterLock(streak=2)
    order: list[str] = []
    assert lock.acquire(True)
    background = _writer(lock, False, order, "background")
    _until(lambda: lock.waiting(False) == 1)
    requests = []
    for number in range(4):
        requests.append(_writer(lock, True, order, f"request {number}"))
        _until(lambda: lock.waiting(True) == len(requests))
    lock.release()
    for thread in [background, *requests]:
        thread.join()
    # The first two waiting requests, then the background writer, then the rest in order.
    assert order == ["request 0", "request 1", "background", "request 2", "request 3"]


def test_writers_of_one_kind_go_in_the_order_they_came() -> None:
    lock = WriterLock()
    order: list[str] = []
    assert lock.acquire(False)
    threads = []
    for number in range(5):
        threads.append(_writer(lock, False, order, str(number)))
        _until(lambda: lock.waiting(False) == len(threads))
    lock.release()
    for thread in threads:
        thread.join()
    assert order == ["0", "1", "2", "3", "4"]


def test_a_wait_that_runs_out_leaves_the_queue_and_the_lock_usable() -> None:
    lock = WriterLock()
    assert lock.acquire(True)
    assert not lock.acquire(True, timeout=0.05)
    assert lock.waiting(True) == 0
    lock.release()
    assert not lock.locked()
    assert lock.acquire(False, timeout=0.05)
    lock.release()


def test_a_request_write_on_sqlite_commits_before_a_background_write_waiting_longer(
    tmp_path: Path,
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'order.db'}", pool_size=3)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id integer PRIMARY KEY, writer text)"))
    lock = _writer_lock(engine.url.database or "")

    def write(name: str, foreground: bool) -> threading.Thread:
        def run() -> None:
            foreground_writes.set(foreground)
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO notes (writer) VALUES (:w)"), {"w": name})

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (writer) VALUES ('first')"))
        background = write("background", False)
        _until(lambda: lock.waiting(False) == 1)
        request = write("request", True)
        _until(lambda: lock.waiting(True) == 1)
    background.join()
    request.join()
    with engine.connect() as connection:
        writers = connection.execute(text("SELECT writer FROM notes ORDER BY id")).scalars()
        assert list(writers) == ["first", "request", "background"]
    engine.dispose()


def test_a_request_runs_its_route_with_foreground_writes_and_leaves_it_unset() -> None:
    app = FastAPI()
    app.add_middleware(ForegroundWrites)

    @app.put("/sync")
    def in_a_thread() -> dict[str, bool]:
        return {"foreground": foreground_writes.get()}

    @app.put("/async")
    async def in_the_loop() -> dict[str, bool]:
        return {"foreground": foreground_writes.get()}

    with TestClient(app) as client:
        assert client.put("/sync").json() == {"foreground": True}
        assert client.put("/async").json() == {"foreground": True}
    assert foreground_writes.get() is False
