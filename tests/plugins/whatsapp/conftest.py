"""Fixtures for the WhatsApp plugin: runtimes on SQLite and PostgreSQL, Meta's signed calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import lead_scoring.plugin as lead_scoring_plugin
from core.api.app import create_app
from core.db.inbound_tables import InboxEvent
from core.kinds import kind_by_type
from core.settings import Settings
from core.store import get_record, list_records, write_record
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from core.testing.whatsapp_api import CloudApi
from plugins.whatsapp import plugin as whatsapp_plugin
from tests.core.api.conftest import TestClient

APP_SECRET = "app-secret-0123456789abcdef"
VERIFY_TOKEN = "verify-token-برای-متا"
#: The access token the Cloud API double expects of the plugin.
TOKEN = "EAAG-permanent-token"
#: A customer's WhatsApp number as Meta writes it (E.164 without the plus).
IRAN = "989121234567"
TOKENS = ",".join(f"{role}:{role}:{role}-token-0123456789" for role in ("admin", "reader"))


def whatsapp_settings(**overrides: Any) -> dict[str, Any]:
    """The plugin's settings as Meta's dashboard gives them (a token makes it active)."""
    values: dict[str, Any] = {
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "access_token": "EAAG-permanent-token",
        "phone_number_id": meta.PHONE_NUMBER_ID,
        "business_account_id": meta.WABA_ID,
    }
    values.update(overrides)
    return values


@pytest.fixture
def api() -> Iterator[CloudApi]:
    """The Cloud API double on loopback, expecting :data:`TOKEN`."""
    with CloudApi(token=TOKEN) as running:
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs on SQLite and on PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'crm-sync.db'}"


@pytest.fixture
def make_whatsapp(
    tmp_path: Path, database_url: str, make_runtime: Callable[..., SyncRuntime]
) -> Callable[..., SyncRuntime]:
    """Runtimes with the WhatsApp and lead-scoring plugins, configured as given."""

    def build(**overrides: Any) -> SyncRuntime:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            plugins={"whatsapp": whatsapp_settings(**overrides), "lead_scoring": {}},
            api_tokens=TOKENS,
            sync={
                "min_backoff_seconds": 0.01,
                "max_backoff_seconds": 0.05,
                "max_attempts": 3,
                "push_timeout_seconds": 1.0,
            },
        )
        plugins = {"whatsapp": whatsapp_plugin, "lead_scoring": lead_scoring_plugin}
        return make_runtime(settings, plugins)

    return build


@pytest.fixture
def runtime(make_whatsapp: Callable[..., SyncRuntime]) -> SyncRuntime:
    return make_whatsapp()


@pytest.fixture
def client(runtime: SyncRuntime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, background=False)) as running:
        yield running


def post(client: TestClient, body: dict[str, Any], *, escaped: bool = True) -> Any:
    """Post a body signed as Meta signs it."""
    content, headers = meta.signed(body, APP_SECRET, escaped=escaped)
    return client.post("/v1/webhooks/whatsapp", content=content, headers=headers)


def inbox(runtime: SyncRuntime) -> list[Any]:
    """Every stored inbound event of the plugin, in arrival order."""
    with runtime.engine.connect() as connection:
        return list(
            connection.execute(
                select(InboxEvent.__table__)
                .where(InboxEvent.plugin == "whatsapp")
                .order_by(InboxEvent.id)
            )
        )


def apply_all(runtime: SyncRuntime) -> None:
    """Apply every stored event that is due, as the inbound job does."""
    runtime.inbound.process("whatsapp", [row.id for row in inbox(runtime)])


def put(runtime: SyncRuntime, type_: str, record_id: str, body: dict[str, Any]) -> None:
    """Write a record as the API does (outbox rows in the same transaction)."""
    kind = kind_by_type(type_)
    write_record(
        runtime.engine,
        kind,
        record_id,
        kind.schema.model_validate(body),
        subscribers=runtime.host.subscribers(type_),
    )


def record(runtime: SyncRuntime, type_: str, record_id: str) -> dict[str, Any] | None:
    """The stored document of one record, or None."""
    stored = get_record(runtime.engine, kind_by_type(type_), record_id)
    return None if stored is None else stored.data


def all_of(runtime: SyncRuntime, type_: str) -> dict[str, dict[str, Any]]:
    """Every stored record of a type, by id."""
    kind = kind_by_type(type_)
    return {row.id: row.data for row in list_records(runtime.engine, kind, after=None, limit=1000)}


def drain(runtime: SyncRuntime, plugin: str = "lead_scoring", rounds: int = 20) -> None:
    """Run a plugin's due deliveries until none is left."""
    for _ in range(rounds):
        outcome = runtime.sync.process(plugin, [])
        if outcome.pushed + outcome.dead + outcome.failed == 0:
            return
    raise AssertionError("deliveries kept coming")
