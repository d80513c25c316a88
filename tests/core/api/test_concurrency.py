"""Rapid concurrent PUTs of one record: every real change is one version, none is lost."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.api.app import create_app
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import READER, WRITER, TestClient, outbox, sample
from tests.core.scripted_plugin import ScriptedPlugin

WRITES = 200
THREADS = 8


def hammer(runtime: SyncRuntime) -> None:
    """PUT WRITES distinct bodies of C-1 from THREADS threads; check versions and the outbox."""
    with TestClient(create_app(runtime, background=False)) as client:

        def write(number: int) -> tuple[int, int]:
            body = sample("customers", name=f"مشتری شماره {number}")
            answer = client.put("/v1/customers/C-1", json=body, headers=WRITER)
            return answer.status_code, answer.json()["version"]

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(write, range(WRITES)))
        final = client.get("/v1/customers/C-1", headers=READER).json()
        sync = client.get("/v1/customers/C-1/sync", headers=READER).json()

    assert sorted(status for status, _ in results) == [200] * (WRITES - 1) + [201]
    assert sorted(version for _, version in results) == list(range(1, WRITES + 1))
    assert final["version"] == WRITES
    [row] = outbox(runtime, "C-1")
    assert (row.state, row.wanted_version) == ("pending", final["version"])
    assert sync["plugins"][0]["wanted_version"] == WRITES


def test_concurrent_puts_on_sqlite(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
) -> None:
    hammer(make_runtime(make_settings(), {"scripted": scripted}))


@pytest.mark.postgres
def test_concurrent_puts_on_postgresql(
    postgres_url: str,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
) -> None:
    runtime = make_runtime(make_settings(database_url=postgres_url), {"scripted": scripted})
    assert runtime.engine.dialect.name == "postgresql"
    hammer(runtime)
