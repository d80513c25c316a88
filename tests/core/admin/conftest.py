"""Fixtures for the admin console: a runtime with dead and retrying deliveries, the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from core import PermanentError, TransientError
from core.api.app import create_app
from core.kinds import KINDS
from core.settings import Settings
from core.store import write_record
from core.sync.runtime import SyncRuntime
from core.testing.browser import live_server
from tests.core.scripted_plugin import ScriptedPlugin

CUSTOMERS = KINDS["customers"]
TOKENS = {
    "admin": "admin-token-0123456789",
    "operator": "operator-token-0123456789",
    "reader": "reader-token-0123456789",
}
API_TOKENS = ",".join(f"{role}:{role}:{token}" for role, token in TOKENS.items())
TAX = "HTTP 422 from erp.example: unknown tax code"


def bearer(role: str) -> dict[str, str]:
    """The Authorization header of a role's token."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def put(runtime: SyncRuntime, record_id: str, name: str | None = None) -> None:
    """Write a customer that the runtime's plugins subscribe to."""
    record = CUSTOMERS.schema.model_validate(
        {"type": "organization", "name": name or f"مشتری {record_id}"}
    )
    write_record(
        runtime.engine,
        CUSTOMERS,
        record_id,
        record,
        subscribers=runtime.host.subscribers("customer"),
    )


def fail(runtime: SyncRuntime, scripted: ScriptedPlugin, record_id: str, error: Exception) -> None:
    """Push one customer once, the plugin answering ``error``."""
    scripted.script.append(error)
    runtime.sync.process("scripted", [("customer", record_id)])


def seed(
    runtime: SyncRuntime, scripted: ScriptedPlugin, *, tax: int = 6, timeouts: int = 3
) -> None:
    """Customers: ``tax`` dead by HTTP 422, ``timeouts`` retrying after a timeout, two synced."""
    for number in range(tax):
        put(runtime, f"TAX-{number}")
        fail(runtime, scripted, f"TAX-{number}", PermanentError(TAX))
    for number in range(timeouts):
        put(runtime, f"SLOW-{number}")
        fail(runtime, scripted, f"SLOW-{number}", TransientError("timed out: ReadTimeout"))
    for number in range(2):
        put(runtime, f"OK-{number}")
        runtime.sync.process("scripted", [("customer", f"OK-{number}")])


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The console's database: a SQLite file or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'console.db'}"


@pytest.fixture
def console_runtime(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
    database_url: str,
) -> SyncRuntime:
    """A runtime on ``database_url`` with the scripted plugin and seeded deliveries."""
    settings = make_settings(
        database_url=database_url,
        api_tokens=API_TOKENS,
        console={"refresh_seconds": 2, "language": "fa"},
        sync={"min_backoff_seconds": 300, "max_backoff_seconds": 600},
    )
    runtime = make_runtime(settings, {"scripted": scripted})
    seed(runtime, scripted)
    return runtime


@pytest.fixture
def console_app(console_runtime: SyncRuntime) -> FastAPI:
    """The whole app (API and console) around the seeded runtime."""
    return create_app(console_runtime)


@pytest.fixture
def base_url(console_app: FastAPI) -> Iterator[str]:
    """The app served on loopback with its background threads, as ``crm-sync serve`` runs."""
    with live_server(console_app) as url:
        yield url
