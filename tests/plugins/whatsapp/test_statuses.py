"""Delivery statuses: forward only, failed is final, found by CRM id or wamid, applied once."""

from __future__ import annotations

import time
from typing import Any

from core.schemas.leads import Lead
from core.store import timeline
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from plugins.whatsapp import plugin as whatsapp_plugin
from plugins.whatsapp.inbound import IGNORED_STATUS_EVENT
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import apply_all, inbox, post, put, record

TO = "989121234567"
AT = 1_780_000_000


def outbound(runtime: SyncRuntime, record_id: str, wamid: str | None) -> None:
    """An outbound WhatsApp message of customer C-1, sent as ``wamid`` (None: not known yet)."""
    put(runtime, "customer", "C-1", {"type": "person", "name": "مشتری", "phones": ["09121234567"]})
    body: dict[str, Any] = {
        "customer_id": "C-1",
        "channel": "whatsapp",
        "direction": "outbound",
        "occurred_at": "2026-05-01T09:00:00+03:30",
        "text": "سفارش شما ارسال شد",
    }
    if wamid is not None:
        body["external_message_id"] = wamid
    put(runtime, "interaction", record_id, body)


def statuses(client: TestClient, runtime: SyncRuntime, *items: dict[str, Any]) -> None:
    answer = post(client, meta.envelope(meta.statuses_value(list(items))))
    assert answer.status_code == 200, answer.text
    apply_all(runtime)


def state(runtime: SyncRuntime, record_id: str = "M-1") -> tuple[Any, Any]:
    stored = record(runtime, "interaction", record_id)
    assert stored is not None
    return stored["delivery_status"], stored.get("status_at")


def ignored(runtime: SyncRuntime, record_id: str = "M-1") -> list[dict[str, Any]]:
    return [
        event.data["payload"]
        for event in timeline(runtime.engine, "interaction", record_id)
        if event.data["type"] == IGNORED_STATUS_EVENT
    ]


def test_statuses_in_order_move_the_message_forward(
    client: TestClient, runtime: SyncRuntime
) -> None:
    wamid = meta.wamid("m1")
    outbound(runtime, "M-1", wamid)
    statuses(client, runtime, meta.status(wamid, "sent", TO, timestamp=AT))
    assert state(runtime)[0] == "sent"
    statuses(client, runtime, meta.status(wamid, "delivered", TO, timestamp=AT + 2))
    statuses(client, runtime, meta.status(wamid, "read", TO, timestamp=AT + 9))
    status, at = state(runtime)
    assert status == "read" and at.startswith("2026-05-28T")
    assert ignored(runtime) == []


def test_late_statuses_never_move_it_back_and_say_why(
    client: TestClient, runtime: SyncRuntime
) -> None:
    wamid = meta.wamid("m2")
    outbound(runtime, "M-1", wamid)
    statuses(
        client,
        runtime,
        meta.status(wamid, "read", TO, timestamp=AT + 9),
        meta.status(wamid, "delivered", TO, timestamp=AT + 2),
        meta.status(wamid, "sent", TO, timestamp=AT),
    )
    assert state(runtime)[0] == "read"
    reasons = {item["status"]: item["reason"] for item in ignored(runtime)}
    assert set(reasons) == {"delivered", "sent"}
    assert "already 'read'" in reasons["sent"]


def test_read_may_come_without_delivered_and_played_follows_read(
    client: TestClient, runtime: SyncRuntime
) -> None:
    wamid = meta.wamid("m3")
    outbound(runtime, "M-1", wamid)
    statuses(client, runtime, meta.status(wamid, "sent", TO), meta.status(wamid, "read", TO))
    assert state(runtime)[0] == "read"
    statuses(client, runtime, meta.status(wamid, "played", TO))
    assert state(runtime)[0] == "played"


def test_failed_is_final_and_keeps_meta_s_errors(client: TestClient, runtime: SyncRuntime) -> None:
    wamid = meta.wamid("m4")
    outbound(runtime, "M-1", wamid)
    error = meta.error(131026, "Message undeliverable", details="Recipient is not a WhatsApp user")
    statuses(client, runtime, meta.status(wamid, "sent", TO, timestamp=AT))
    statuses(client, runtime, meta.status(wamid, "failed", TO, timestamp=AT + 1, errors=[error]))
    statuses(
        client,
        runtime,
        meta.status(wamid, "delivered", TO, timestamp=AT + 2),
        meta.status(wamid, "read", TO, timestamp=AT + 3),
    )
    stored = record(runtime, "interaction", "M-1")
    assert stored is not None and stored["delivery_status"] == "failed"
    assert stored["delivery_errors"] == [
        {
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "details": "Recipient is not a WhatsApp user",
        }
    ]
    assert {item["status"] for item in ignored(runtime)} == {"delivered", "read"}
    assert all("already failed" in item["reason"] for item in ignored(runtime))


def test_a_status_finds_its_message_by_crm_id_when_the_send_answer_was_lost(
    client: TestClient, runtime: SyncRuntime
) -> None:
    wamid = meta.wamid("m5")
    outbound(runtime, "M-1", None)
    statuses(client, runtime, meta.status(wamid, "delivered", TO, callback_data="M-1"))
    stored = record(runtime, "interaction", "M-1")
    assert stored is not None
    assert stored["delivery_status"] == "delivered" and stored["external_message_id"] == wamid


def test_a_repeated_status_is_applied_once(client: TestClient, runtime: SyncRuntime) -> None:
    wamid = meta.wamid("m6")
    outbound(runtime, "M-1", wamid)
    item = meta.status(wamid, "delivered", TO)
    statuses(client, runtime, item)
    statuses(client, runtime, item)
    assert len(inbox(runtime)) == 1
    assert state(runtime)[0] == "delivered"


def test_a_status_of_an_unknown_message_is_retried_then_dead_with_the_reason(
    client: TestClient, runtime: SyncRuntime
) -> None:
    wamid = meta.wamid("nobody")
    statuses(client, runtime, meta.status(wamid, "delivered", TO))
    for _ in range(20):
        (row,) = inbox(runtime)
        if row.state == "dead":
            break
        time.sleep(0.06)
        apply_all(runtime)
    assert row.state == "dead"
    assert row.attempts == 3
    assert f"no interaction has the WhatsApp message id {wamid}" in (row.last_error or "")


def test_a_lead_reading_our_message_is_a_scoring_signal(
    client: TestClient, runtime: SyncRuntime
) -> None:
    wamid = meta.wamid("m7")
    put(runtime, "lead", "L-1", {"contact_name": "مینا", "phones": ["09121234567"]})
    put(
        runtime,
        "interaction",
        "M-1",
        {
            "lead_id": "L-1",
            "channel": "whatsapp",
            "direction": "outbound",
            "occurred_at": "2026-05-01T09:00:00+03:30",
            "text": "سلام",
            "external_message_id": wamid,
        },
    )
    context = runtime.host.context("whatsapp")
    lead = Lead.model_validate(record(runtime, "lead", "L-1"))
    assert whatsapp_plugin.crm_sync_scoring_signals(context, "L-1", lead) == []
    statuses(client, runtime, meta.status(wamid, "read", TO, timestamp=AT))
    (signal,) = whatsapp_plugin.crm_sync_scoring_signals(context, "L-1", lead)
    assert signal.type == "whatsapp_read" and signal.at.timestamp() == AT
