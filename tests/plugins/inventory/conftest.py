"""Fixtures for the inventory plugin's tests: a runtime with only this plugin, and records."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.db.inbound_tables import InboxEvent
from core.kinds import KINDS_BY_TYPE
from core.plugin_types import SyncRecord
from core.settings import Settings
from core.store import write_record
from core.sync.runtime import SyncRuntime
from core.testing.tryton import tryton_client, tryton_server, tryton_template
from plugins.inventory import plugin as inventory

PLUGIN = "inventory"

__all__ = [
    "PLUGIN",
    "apply_inbound",
    "get",
    "lines_of",
    "make_inventory",
    "proforma",
    "put",
    "status_of",
    "tryton_client",
    "tryton_server",
    "tryton_template",
]


@pytest.fixture
def make_inventory(
    tmp_path: Path, make_runtime: Callable[..., SyncRuntime]
) -> Callable[[dict[str, Any]], SyncRuntime]:
    """Build runtimes of only the inventory plugin on a throwaway SQLite database."""
    numbers = itertools.count()

    def build(plugin_settings: dict[str, Any]) -> SyncRuntime:
        settings = Settings(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / f'inventory-{next(numbers)}.db'}",
            plugins={PLUGIN: plugin_settings},
            sync={"push_timeout_seconds": 5, "lease_seconds": 15, "max_attempts": 3},
        )
        return make_runtime(settings, {PLUGIN: inventory})

    return build


def put(runtime: SyncRuntime, type_: str, record_id: str, body: dict[str, Any]) -> int:
    """Write a record as the API would and return its version."""
    kind = KINDS_BY_TYPE[type_]
    model = kind.schema.model_validate(body)
    return write_record(
        runtime.engine, kind, record_id, model, subscribers=runtime.host.subscribers(type_)
    ).record.version


def get(runtime: SyncRuntime, type_: str, record_id: str) -> SyncRecord:
    """The latest version of a record, read through the plugin's records facade."""
    record = runtime.host.context(PLUGIN).store().get(type_, record_id)
    assert record is not None, f"no {type_} {record_id}"
    return record


def status_of(runtime: SyncRuntime, type_: str, record_id: str) -> object:
    """The ``status`` of a record's latest version (None for a kind without one)."""
    return getattr(get(runtime, type_, record_id).data, "status", None)


def lines_of(runtime: SyncRuntime, reservation_id: str) -> list[tuple[str, str, str | None]]:
    """(product, reserved quantity, state) of each line of a canonical reservation."""
    data = get(runtime, "reservation", reservation_id).data
    return [
        (line.product_id, str(line.reserved_quantity), line.state)
        for line in getattr(data, "lines", [])
    ]


def apply_inbound(runtime: SyncRuntime) -> None:
    """Apply every stored inbound event of the plugin now."""
    with runtime.engine.connect() as connection:
        ids = list(
            connection.execute(select(InboxEvent.id).where(InboxEvent.plugin == PLUGIN)).scalars()
        )
    runtime.inbound.process(PLUGIN, ids)


def proforma(status: str = "approved", **extra: Any) -> dict[str, Any]:
    """A pro-forma of two products, 3 x p-1 and 4 x p-2."""
    return {
        "customer_id": "cust-1",
        "number": "PF-1",
        "issue_date": "2024-03-20",
        "status": status,
        "lines": [
            {"product_id": "p-1", "quantity": "3", "unit_price": "1000"},
            {"product_id": "p-2", "quantity": "4", "unit_price": "500"},
        ],
        **extra,
    }
