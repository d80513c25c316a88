"""The finance flows over the webhook backend, against the real signed loopback receiver.

Outbound: a pro-forma's customer and products arrive before it, every document matches
the JSON Schema the API serves. Inbound: a signed ``invoice_status`` document is stored
once per ``webhook-id`` and written onto the pro-forma; bad signatures, bodies and
unknown pro-formas change nothing. Faults: the finance system down, slow, refusing.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from standardwebhooks import Webhook

from core.api.app import create_app
from core.store import timeline
from core.sync.admin import list_inbox
from core.sync.runtime import SyncRuntime
from core.testing.receiver import Receiver
from tests.plugins.finance.conftest import (
    PROFORMA_TOTAL,
    linked_records,
    state,
    stored,
    write,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}


@pytest.fixture
def runtime(
    make_finance: Callable[..., SyncRuntime], receiver: Receiver, webhook_secret: str
) -> SyncRuntime:
    return make_finance({"url": receiver.url, "secret": webhook_secret})


@pytest.fixture
def api(runtime: SyncRuntime) -> TestClient:
    return TestClient(create_app(runtime, background=False))


def write_linked(runtime: SyncRuntime, **proforma: Any) -> str:
    *dependencies, (_, proforma_id, body) = linked_records()
    for type_, record_id, data in dependencies:
        write(runtime, type_, record_id, data)
    write(runtime, "proforma", proforma_id, {**body, **proforma})
    return proforma_id


def schema(api: TestClient, type_: str) -> dict[str, Any]:
    answer = api.get(f"/v1/schemas/{type_}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    jsonschema.Draft202012Validator.check_schema(found)
    return found


def signed(
    secret: str, body: bytes, *, message_id: str | None = None, sign_with: str | None = None
) -> dict[str, str]:
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(sign_with or secret).sign(message_id, now, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def status_document(proforma_id: str = "pf-1", **changes: Any) -> dict[str, Any]:
    return {
        "type": "invoice_status",
        "proforma_id": proforma_id,
        "invoice_number": "INV-1403-0042",
        "invoice_state": "posted",
        "payment_state": "partly_paid",
        "amount_paid": "20000000",
        "invoice_total": PROFORMA_TOTAL,
        "occurred_at": "2024-03-25T10:00:00+03:30",
        **changes,
    }


def apply_inbox(runtime: SyncRuntime) -> None:
    pending = [row.id for row in list_inbox(runtime.engine) if row.state == "pending"]
    runtime.inbound.process("finance", pending)


# -- outbound -------------------------------------------------------------------------


def test_a_proforma_arrives_after_its_customer_and_products_as_documented(
    runtime: SyncRuntime, receiver: Receiver, api: TestClient
) -> None:
    proforma_id = write_linked(runtime, status="approved")
    runtime.sync.process("finance", [("proforma", proforma_id)])
    order = [(d.type, d.id) for d in receiver.deliveries]
    assert order == [
        ("customer", "cust-1"),
        ("product", "p-1"),
        ("product", "p-2"),
        ("proforma", proforma_id),
    ]
    for type_, record_id in order:
        row = state(runtime, type_, record_id)
        assert (row.state, row.synced_version) == ("synced", 1), row.last_error
        assert row.external_id
    # The dependencies' own deliveries have nothing left to send.
    for type_, record_id in order[:-1]:
        assert runtime.sync.process("finance", [(type_, record_id)]).pushed == 0
    assert len(receiver.deliveries) == 4

    documents = {d.type: d.document for d in receiver.deliveries}
    for type_ in ("customer", "proforma", "product"):
        jsonschema.validate(documents[type_], schema(api, type_))
    data = documents["proforma"]["data"]
    assert (data["status"], data["total"], data["tax_total"], data["discount_total"]) == (
        "approved",
        PROFORMA_TOTAL,
        "3700000",
        "500000",
    )
    assert data["lines"][0]["net"] == "37000000"
    assert documents["customer"]["data"]["phones_e164"] == ["+989121234567", "+982188881234"]


def test_schemas_refuse_documents_that_break_them(api: TestClient) -> None:
    proforma = schema(api, "proforma")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"type": "proforma", "id": "x"}, proforma)
    status = schema(api, "invoice_status")
    jsonschema.validate(status_document(), status)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(status_document(payment_state="half"), status)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(status_document(extra=1), status)


# -- inbound --------------------------------------------------------------------------


def test_a_signed_invoice_status_is_applied_once(
    runtime: SyncRuntime, receiver: Receiver, api: TestClient, webhook_secret: str
) -> None:
    proforma_id = write_linked(runtime, status="approved")
    runtime.sync.process("finance", [("proforma", proforma_id)])
    body = json.dumps(status_document(proforma_id)).encode()
    headers = signed(webhook_secret, body, message_id="msg_invoice_1")
    first = api.post("/v1/webhooks/finance", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 1, "duplicates": 0}
    again = api.post("/v1/webhooks/finance", content=body, headers=headers)
    assert again.json() == {"accepted": 0, "duplicates": 1}
    apply_inbox(runtime)
    data = stored(runtime, "proforma", proforma_id)
    assert {key: data.get(key) for key in ("invoice_number", "invoice_state", "payment_state")} == {
        "invoice_number": "INV-1403-0042",
        "invoice_state": "posted",
        "payment_state": "partly_paid",
    }
    assert (data["amount_paid"], data["erp_total"]) == ("20000000", PROFORMA_TOTAL)
    [event] = [e for e in timeline(runtime.engine, "proforma", proforma_id)]
    assert event.data["type"] == "proforma.invoice_changed"
    assert event.data["payload"]["changes"]["payment_state"] == "partly_paid"
    # The ERP's own news is not sent back to it.
    assert state(runtime, "proforma", proforma_id).state == "synced"
    assert runtime.sync.process("finance", [("proforma", proforma_id)]).pushed == 0
    shown = api.get(f"/v1/proformas/{proforma_id}", headers=ADMIN).json()
    assert "partly_paid" in json.dumps(shown)

    paid = json.dumps(
        status_document(proforma_id, payment_state="paid", amount_paid=PROFORMA_TOTAL)
    ).encode()
    answer = api.post("/v1/webhooks/finance", content=paid, headers=signed(webhook_secret, paid))
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    apply_inbox(runtime)
    assert stored(runtime, "proforma", proforma_id)["payment_state"] == "paid"


def test_a_late_status_older_than_the_one_held_changes_nothing(
    runtime: SyncRuntime, api: TestClient, webhook_secret: str
) -> None:
    """Statuses are ordered by ``occurred_at``: "paid" then a late "posted, not paid".

    The late one is applied as nothing (not dead: it is no error, only old news); a
    status without a time cannot be ordered and is applied as before, and a newer one
    moves the pro-forma on.
    """
    proforma_id = write_linked(runtime, status="approved")
    runtime.sync.process("finance", [("proforma", proforma_id)])

    def send(**changes: Any) -> None:
        body = json.dumps(status_document(proforma_id, **changes)).encode()
        answer = api.post(
            "/v1/webhooks/finance", content=body, headers=signed(webhook_secret, body)
        )
        assert answer.json() == {"accepted": 1, "duplicates": 0}, answer.text
        apply_inbox(runtime)

    paid_at = "2024-03-25T11:00:00+03:30"
    send(payment_state="paid", amount_paid=PROFORMA_TOTAL, occurred_at=paid_at)
    send(payment_state="not_paid", amount_paid="0", occurred_at="2024-03-25T10:00:00+03:30")
    data = stored(runtime, "proforma", proforma_id)
    assert (data["invoice_state"], data["payment_state"], data["amount_paid"]) == (
        "posted",
        "paid",
        PROFORMA_TOTAL,
    )
    assert datetime.fromisoformat(data["invoice_reported_at"]) == datetime.fromisoformat(paid_at)
    assert [row.state for row in list_inbox(runtime.engine)] == ["applied", "applied"]
    changed = [e for e in timeline(runtime.engine, "proforma", proforma_id)]
    assert len(changed) == 1

    # Without a time: applied as it comes, and the held time stays.
    send(payment_state="partly_paid", amount_paid="20000000", occurred_at=None)
    data = stored(runtime, "proforma", proforma_id)
    assert data["payment_state"] == "partly_paid"
    assert datetime.fromisoformat(data["invoice_reported_at"]) == datetime.fromisoformat(paid_at)

    # Newer than the held time: applied, and its time is held from then on.
    later = "2024-03-26T09:00:00+03:30"
    send(invoice_state="cancelled", payment_state="not_paid", amount_paid="0", occurred_at=later)
    data = stored(runtime, "proforma", proforma_id)
    assert (data["invoice_state"], data["payment_state"]) == ("cancelled", "not_paid")
    assert datetime.fromisoformat(data["invoice_reported_at"]) == datetime.fromisoformat(later)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("unsigned", 401),
        ("wrong-secret", 401),
        ("tampered", 401),
        ("garbage-signature", 401),
        ("not-utf8", 401),
        ("not-json", 400),
        ("unknown-field", 422),
        ("bad-state", 422),
        ("negative-amount", 422),
    ],
)
def test_bad_webhooks_are_refused_and_store_nothing(
    runtime: SyncRuntime, api: TestClient, webhook_secret: str, case: str, status: int
) -> None:
    body = json.dumps(status_document()).encode()
    headers = signed(webhook_secret, body)
    if case == "unsigned":
        headers = {"content-type": "application/json"}
    elif case == "wrong-secret":
        other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
        headers = signed(webhook_secret, body, sign_with=other)
    elif case == "tampered":
        body = body.replace(b"partly_paid", b"paid")
    elif case == "garbage-signature":
        headers = {**headers, "webhook-signature": "v1"}
    elif case == "not-utf8":
        body = b"\xff\xfe" + body
    elif case == "not-json":
        body = b"{not json"
        headers = signed(webhook_secret, body)
    else:
        changes: dict[str, Any] = {
            "unknown-field": {"discount": "1"},
            "bad-state": {"payment_state": "half"},
            "negative-amount": {"amount_paid": "-5"},
        }[case]
        body = json.dumps(status_document(**changes)).encode()
        headers = signed(webhook_secret, body)
    answer = api.post("/v1/webhooks/finance", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert webhook_secret not in answer.text
    assert list_inbox(runtime.engine) == []


def test_a_status_for_an_unknown_proforma_is_a_dead_event_with_its_reason(
    runtime: SyncRuntime, api: TestClient, webhook_secret: str
) -> None:
    body = json.dumps(status_document("pf-nobody")).encode()
    answer = api.post("/v1/webhooks/finance", content=body, headers=signed(webhook_secret, body))
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    apply_inbox(runtime)
    [row] = list_inbox(runtime.engine)
    assert row.state == "dead"
    assert "pf-nobody" in (row.last_error or "")
    assert "does not hold" in (row.last_error or "")


# -- faults ---------------------------------------------------------------------------


def test_the_finance_system_down_is_retried(runtime: SyncRuntime, receiver: Receiver) -> None:
    proforma_id = write_linked(runtime)
    receiver.fail(503)
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "503" in (row.last_error or "")
    receiver.clear_faults()
    later = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
    runtime.sync.process("finance", [("proforma", proforma_id)], now=later)
    assert state(runtime, "proforma", proforma_id).state == "synced"
    assert receiver.versions("proforma", proforma_id) == [1]


def test_a_slow_finance_system_is_a_transient_timeout(
    make_finance: Callable[..., SyncRuntime], receiver: Receiver, webhook_secret: str
) -> None:
    runtime = make_finance(
        {"url": receiver.url, "secret": webhook_secret}, push_timeout_seconds=0.3
    )
    proforma_id = write_linked(runtime)
    receiver.delay(3.0)
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "timed out" in (row.last_error or "")


def test_a_refused_proforma_is_dead_with_the_reason(
    runtime: SyncRuntime, receiver: Receiver
) -> None:
    proforma_id = write_linked(runtime)
    receiver.reject([proforma_id], "unknown cost centre")
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert row.state == "dead"
    assert "422" in (row.last_error or "") and "unknown cost centre" in (row.last_error or "")
    # Its customer was accepted and stays bound.
    assert state(runtime, "customer", "cust-1").state == "synced"
