"""Fixtures for the production plugin: runtimes with the plugin, a listener, real Tryton."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import (
    HealthReport,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PushResult,
    SyncRecord,
    hookimpl,
)
from core.kinds import KINDS_BY_TYPE
from core.schemas.events import Event
from core.settings import Settings
from core.store import write_record
from core.sync.runtime import SyncRuntime
from core.testing.tryton import tryton_client, tryton_server, tryton_template
from plugins.production import plugin as production_plugin

__all__ = ["tryton_client", "tryton_server", "tryton_template"]

PROMISE_CHANGED = "event.order.promise_changed"
TOKENS = ",".join(f"{role}:{role}:{role}-token-0123456789" for role in ("admin", "reader"))


class PromiseListener:
    """A plugin subscribed to ``event.order.promise_changed``; keeps every event it is sent."""

    def __init__(self) -> None:
        self.received: list[Event] = []

    @hookimpl
    def crm_sync_describe(self, context: PluginContext) -> PluginDescription:
        return PluginDescription((PROMISE_CHANGED,), target="listener")

    @hookimpl
    def crm_sync_map_record(self, context: PluginContext, record: SyncRecord) -> dict[str, Any]:
        assert isinstance(record.data, Event)
        self.received.append(record.data)
        return record.data.model_dump(mode="json")

    @hookimpl
    def crm_sync_push(self, documents: list[OutboundDocument]) -> list[PushResult]:
        return [PushResult(external_id=document.id) for document in documents]

    @hookimpl
    def crm_sync_health(self) -> HealthReport:
        return HealthReport(ok=True)


@pytest.fixture
def listener() -> PromiseListener:
    return PromiseListener()


@pytest.fixture
def make_production(
    tmp_path: Path, listener: PromiseListener, make_runtime: Callable[..., SyncRuntime]
) -> Callable[..., SyncRuntime]:
    """Runtimes with the production plugin (configured as given) and the listener.

    Runtimes built in one test share one SQLite database, so a second one is a restart;
    ``transport`` answers the plugin's HTTP calls (recorded Odoo exchanges).
    """

    def build(
        plugin_settings: dict[str, Any], transport: httpx.BaseTransport | None = None
    ) -> SyncRuntime:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=f"sqlite:///{tmp_path / 'crm-sync.db'}",
            plugins={"production": plugin_settings},
            api_tokens=TOKENS,
            sync={"min_backoff_seconds": 0.2, "max_backoff_seconds": 2.0, "max_attempts": 4},
        )
        plugins = {"production": production_plugin, "listener": listener}
        return make_runtime(settings, plugins, transport=transport)

    return build


def order(runtime: SyncRuntime, order_id: str, promised: dt.date | None = None) -> None:
    """Store a confirmed order the way the API would."""
    kind = KINDS_BY_TYPE["order"]
    body = {
        "customer_id": "cust-1",
        "number": f"SO-{order_id}",
        "status": "confirmed",
        "promised_date": promised.isoformat() if promised else None,
        "lines": [{"product_id": "cab-1", "quantity": "2", "unit_price": "5000000"}],
    }
    write_record(
        runtime.engine,
        kind,
        order_id,
        kind.schema.model_validate(body),
        subscribers=runtime.host.subscribers("order"),
    )
