"""The 24-hour window, kept per contact in ``last_inbound`` as inbound messages are stored.

A contact with more interactions than a timeline scan reads still gets its window; a
late or repeated message never moves the window back; free text outside the window is
refused before any call; and the upgrade fills the table from the stored messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from core.api.app import create_app
from core.db.migrate import downgrade, upgrade
from core.db.sync_tables import LastInbound, SyncState
from core.kinds import kind_by_type
from core.plugin_types import InboundEvent
from core.records import FIND_LIMIT
from core.store import write_record
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from core.testing.whatsapp_api import CloudApi
from plugins.whatsapp import plugin as whatsapp_plugin
from plugins.whatsapp import webhook
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import IRAN, TOKEN, apply_all, inbox, post, put


@pytest.fixture
def world(
    make_whatsapp: Callable[..., SyncRuntime], api: CloudApi
) -> Iterator[tuple[SyncRuntime, TestClient]]:
    runtime = make_whatsapp(graph_url=api.graph_url, access_token=TOKEN, pair_interval_seconds=0)
    put(runtime, "customer", "C-1", {"type": "person", "name": "مشتری", "phones": ["09121234567"]})
    with TestClient(create_app(runtime, background=False)) as client:
        yield runtime, client


def wrote(client: TestClient, runtime: SyncRuntime, hours_ago: float, seed: str) -> None:
    """The customer's WhatsApp message of ``hours_ago`` (its wamid made of ``seed``), applied."""
    at = int(time.time() - hours_ago * 3600)
    message = meta.text(IRAN, "سلام", timestamp=at, message_id=meta.wamid(seed))
    post(client, meta.envelope(meta.messages_value([message])))
    apply_all(runtime)


def send_text(runtime: SyncRuntime, record_id: str) -> Any:
    """Write a free-form outbound message, run the plugin's deliveries, return its row."""
    put(
        runtime,
        "interaction",
        record_id,
        {
            "customer_id": "C-1",
            "channel": "whatsapp",
            "direction": "outbound",
            "occurred_at": "2026-05-01T09:00:00+03:30",
            "text": "سفارش شما آماده است",
        },
    )
    for _ in range(5):
        runtime.sync.process("whatsapp", [("interaction", record_id)])
    with runtime.engine.connect() as connection:
        return connection.execute(
            select(SyncState.__table__).where(
                SyncState.plugin == "whatsapp", SyncState.record_id == record_id
            )
        ).one()


def window(runtime: SyncRuntime) -> Any:
    with runtime.engine.connect() as connection:
        return connection.execute(select(LastInbound.__table__)).all()


def test_a_contact_with_more_interactions_than_a_scan_reads_keeps_its_window(
    world: tuple[SyncRuntime, TestClient], api: CloudApi
) -> None:
    runtime, client = world
    kind = kind_by_type("interaction")
    old = datetime(2025, 1, 1, tzinfo=UTC)
    # Ids that sort before the inbound message's ("wa-..."): a scan of the first
    # FIND_LIMIT interactions of the customer would never reach it.
    for number in range(FIND_LIMIT + 50):
        body = {
            "customer_id": "C-1",
            "channel": "call" if number % 2 else "whatsapp",
            "direction": "outbound",
            "occurred_at": old + timedelta(minutes=number),
            "text": f"پیام {number}",
        }
        model = kind.schema.model_validate(body)
        write_record(runtime.engine, kind, f"H-{number:05d}", model, subscribers=[])
    wrote(client, runtime, hours_ago=1, seed="recent")
    row = send_text(runtime, "M-1")
    assert row.state == "synced", row.last_error
    (sent,) = api.sent
    assert sent.body["type"] == "text" and sent.body["to"] == "+" + IRAN


def test_a_late_or_repeated_message_never_moves_the_window_back(
    world: tuple[SyncRuntime, TestClient], api: CloudApi
) -> None:
    runtime, client = world
    wrote(client, runtime, hours_ago=2, seed="new")
    (first,) = window(runtime)
    wrote(client, runtime, hours_ago=30, seed="old")
    wrote(client, runtime, hours_ago=2, seed="new")
    (row,) = window(runtime)
    assert (row.plugin, row.owner_type, row.owner_id) == ("whatsapp", "customer", "C-1")
    assert row.last_at == first.last_at and row.sender == "+" + IRAN
    assert abs((datetime.now(UTC) - row.last_at).total_seconds() - 2 * 3600) < 120
    assert send_text(runtime, "M-1").state == "synced"


def test_outside_the_window_free_text_is_refused_until_the_customer_writes(
    world: tuple[SyncRuntime, TestClient], api: CloudApi
) -> None:
    runtime, client = world
    wrote(client, runtime, hours_ago=25, seed="yesterday")
    refused = send_text(runtime, "M-1")
    assert refused.state == "dead" and "outside the 24-hour window" in refused.last_error
    assert "ask for a template" in refused.last_error and api.attempts == 0
    wrote(client, runtime, hours_ago=0.5, seed="today")
    assert send_text(runtime, "M-2").state == "synced" and api.attempts == 1


def test_a_message_applied_again_notes_a_window_its_first_try_did_not(
    world: tuple[SyncRuntime, TestClient], api: CloudApi
) -> None:
    runtime, client = world
    wrote(client, runtime, hours_ago=1, seed="once")
    # What an inbound job that died between the interaction and its window leaves.
    with runtime.engine.begin() as connection:
        connection.execute(delete(LastInbound))
    context = runtime.host.context("whatsapp")
    assert context.store().last_inbound("customer", "C-1") is None
    (row,) = [row for row in inbox(runtime) if row.type == webhook.MESSAGE]
    event = InboundEvent(row.event_id, row.type, row.payload, row.occurred_at)
    whatsapp_plugin.crm_sync_apply_inbound(context, event)
    noted = context.store().last_inbound("customer", "C-1")
    assert noted is not None and noted.sender == "+" + IRAN
    assert send_text(runtime, "M-1").state == "synced"


def test_the_upgrade_fills_the_windows_from_stored_messages(
    world: tuple[SyncRuntime, TestClient],
) -> None:
    runtime, client = world
    put(runtime, "lead", "L-1", {"contact_name": "سارا", "phones": ["09351112233"]})
    wrote(client, runtime, hours_ago=3, seed="customer")
    at = int(time.time() - 3600)
    lead_wrote = meta.text("989351112233", "سلام", timestamp=at)
    post(client, meta.envelope(meta.messages_value([lead_wrote])))
    apply_all(runtime)
    before = {(row.owner_type, row.owner_id): row.last_at for row in window(runtime)}
    downgrade(runtime.engine, "w001_rate_slots")
    upgrade(runtime.engine)
    after = {(row.owner_type, row.owner_id): row for row in window(runtime)}
    assert {key: row.last_at for key, row in after.items()} == before
    assert set(before) == {("customer", "C-1"), ("lead", "L-1")}
    assert all(row.sender is None for row in after.values())
    assert send_text(runtime, "M-1").state == "synced"
