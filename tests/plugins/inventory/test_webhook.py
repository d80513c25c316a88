"""The inventory plugin's webhook backend: signed documents out, signed statuses in."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from standardwebhooks import Webhook

import plugins.inventory.plugin as inventory
from core.api.app import create_app
from core.db.sync_tables import SyncState
from core.settings import Settings
from core.store import sync_rows
from core.sync.admin import list_inbox
from core.sync.runtime import SyncRuntime
from core.testing.contract import ContractTarget, PluginContract
from core.testing.receiver import Receiver
from core.testing.samples import sample
from tests.core.api.conftest import TestClient
from tests.e2e.harness import free_port
from tests.plugins.inventory.conftest import PLUGIN, apply_inbound, get, proforma, put

DOCUMENT = {
    "proforma": "inventory.reservation",
    "order": "inventory.reservation",
    "reservation": "inventory.reservation",
    "return": "inventory.return",
}

#: A reservation status the warehouse sends back (a valid webhook body).
RESERVATION_STATUS: dict[str, Any] = {
    "type": "inventory.reservation_status",
    "data": {
        "reservation_id": "res-pf-1",
        "status": "partial",
        "lines": [{"product_id": "p-1", "reserved_quantity": "3", "state": "reserved"}],
    },
}


class TestInventoryWebhookContract(PluginContract):
    plugin_name = "inventory"

    def records(self, subscriptions: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
        """Records that ask something of the warehouse: an approved pro-forma, a case, a return."""
        parts = {
            "service_case_id": "case-1",
            "lines": [{"product_id": "p-1", "quantity": "1"}],
            "status": "requested",
        }
        return [
            ("proforma", "contract-pf-1", proforma()),
            ("reservation", "contract-res-1", parts),
            ("return", "contract-rma-1", sample("returns")),
        ]

    @pytest.fixture
    def target(self, receiver: Receiver, webhook_secret: str) -> ContractTarget:
        return ContractTarget(
            settings={"url": receiver.url, "secret": webhook_secret},
            received=lambda type_, id_: receiver.versions(DOCUMENT[type_], id_),
            unreachable_settings={
                "url": f"http://127.0.0.1:{free_port()}/",
                "secret": webhook_secret,
            },
            receiver=receiver,
            webhook_body=RESERVATION_STATUS,
        )


@pytest.fixture
def runtime(
    make_inventory: Callable[[dict[str, Any]], SyncRuntime], receiver: Receiver, webhook_secret: str
) -> SyncRuntime:
    return make_inventory({"url": receiver.url, "secret": webhook_secret})


@pytest.fixture
def client(runtime: SyncRuntime) -> TestClient:
    return TestClient(create_app(runtime, background=False))


def signed(secret: str, message: Any, message_id: str = "msg-1") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(message).encode()
    now = datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body.decode()),
        "content-type": "application/json",
    }
    return body, headers


def sync(runtime: SyncRuntime, type_: str, record_id: str) -> SyncState:
    runtime.sync.process(PLUGIN, [(type_, record_id)])
    [row] = [r for r in sync_rows(runtime.engine, type_, record_id) if r.plugin == PLUGIN]
    return row


def test_an_approved_proforma_is_a_signed_reservation_request_that_validates(
    runtime: SyncRuntime, receiver: Receiver
) -> None:
    put(runtime, "product", "p-1", {"sku": "PUMP-1", "name": "پمپ"})
    put(runtime, "proforma", "pf-1", proforma("sent"))
    assert sync(runtime, "proforma", "pf-1").state == "synced"
    assert receiver.deliveries == []  # a pro-forma that is not approved asks nothing
    put(runtime, "proforma", "pf-1", proforma("approved", valid_until="2024-04-20"))
    assert sync(runtime, "proforma", "pf-1").state == "synced"
    [delivery] = receiver.deliveries
    document = delivery.document
    assert document["type"] == "inventory.reservation"
    data = document["data"]
    assert data["action"] == "reserve" and data["reservation_id"] == "res-pf-1"
    assert data["lines"][0] == {"product_id": "p-1", "sku": "PUMP-1", "quantity": "3"}
    assert data["expires_at"] == "2024-04-20T20:30:00+00:00"  # end of the day in Tehran
    schemas = runtime.host.document_schemas()
    jsonschema.Draft202012Validator.check_schema(schemas["inventory.reservation"])
    jsonschema.validate(document, schemas["inventory.reservation"])
    reservation = get(runtime, "reservation", "res-pf-1").data
    assert reservation.proforma_id == "pf-1"  # type: ignore[attr-defined]
    assert reservation.status == "requested"  # type: ignore[attr-defined]


def test_statuses_come_back_signed_per_line_once_and_unknown_records_are_dead(
    runtime: SyncRuntime, client: TestClient, webhook_secret: str
) -> None:
    put(runtime, "proforma", "pf-1", proforma())
    sync(runtime, "proforma", "pf-1")
    status = {
        "type": "inventory.reservation_status",
        "data": {
            "reservation_id": "res-pf-1",
            "status": "partial",
            "lines": [
                {"product_id": "p-1", "reserved_quantity": "3", "state": "reserved"},
                {"product_id": "p-2", "reserved_quantity": "1", "state": "partly_reserved"},
            ],
        },
    }
    schemas = runtime.host.document_schemas()
    jsonschema.validate(status, schemas["inventory.reservation_status"])
    body, headers = signed(webhook_secret, status)
    answer = client.post("/v1/webhooks/inventory", content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    again = client.post("/v1/webhooks/inventory", content=body, headers=headers)
    assert again.json() == {"accepted": 0, "duplicates": 1}
    apply_inbound(runtime)
    reservation = get(runtime, "reservation", "res-pf-1").data
    lines = reservation.lines  # type: ignore[attr-defined]
    assert [(str(line.reserved_quantity), line.state) for line in lines] == [
        ("3", "reserved"),
        ("1", "partly_reserved"),
    ]
    assert reservation.status == "partial"  # type: ignore[attr-defined]

    unknown = {
        "type": "inventory.delivery_status",
        "data": {"order_id": "nope", "delivery_state": "shipped"},
    }
    body, headers = signed(webhook_secret, unknown, "msg-2")
    assert client.post("/v1/webhooks/inventory", content=body, headers=headers).status_code == 200
    apply_inbound(runtime)
    [dead] = [row for row in list_inbox(runtime.engine, plugin=PLUGIN) if row.event_id == "msg-2"]
    assert dead.state == "dead" and "no order 'nope'" in (dead.last_error or "")


def test_delivery_and_return_results_come_back_onto_the_records(
    runtime: SyncRuntime, client: TestClient, webhook_secret: str, receiver: Receiver
) -> None:
    put(runtime, "order", "so-1", sample("orders"))
    put(runtime, "return", "rma-1", sample("returns"))
    assert sync(runtime, "return", "rma-1").state == "synced"
    [document] = [
        d.document for d in receiver.deliveries if d.document["type"] == "inventory.return"
    ]
    jsonschema.validate(document, runtime.host.document_schemas()["inventory.return"])
    assert document["data"]["reference"] == "rma-rma-1"
    messages = [
        {
            "type": "inventory.delivery_status",
            "data": {"order_id": "so-1", "delivery_state": "shipped"},
        },
        {
            "type": "inventory.return_status",
            "data": {"return_id": "rma-1", "status": "refunded", "refunded_amount": "12500000"},
        },
    ]
    for number, message in enumerate(messages):
        body, headers = signed(webhook_secret, message, f"m-{number}")
        assert (
            client.post("/v1/webhooks/inventory", content=body, headers=headers).status_code == 200
        )
    apply_inbound(runtime)
    assert get(runtime, "order", "so-1").data.delivery_state == "shipped"  # type: ignore[attr-defined]
    returned = get(runtime, "return", "rma-1").data
    assert returned.status == "refunded"  # type: ignore[attr-defined]
    assert str(returned.refunded_amount) == "12500000"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "signature", "status"),
    [
        (b'{"type": "inventory.delivery_status"}', "v1,AAAA", 401),
        (b'{"type": "inventory.delivery_status"}', "v1", 401),
        (b"\xff\xfe not utf-8", "v1,AAAA", 401),
        (b"not json", None, 400),
        (b'{"type": "other", "data": {}}', None, 422),
        (b'{"type": "inventory.delivery_status", "data": {"order_id": "so-1"}}', None, 422),
    ],
)
def test_bad_webhooks_are_refused_and_store_nothing(
    runtime: SyncRuntime,
    client: TestClient,
    webhook_secret: str,
    body: bytes,
    signature: str | None,
    status: int,
) -> None:
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "bad-1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature or Webhook(webhook_secret).sign("bad-1", now, body.decode()),
    }
    answer = client.post("/v1/webhooks/inventory", content=body, headers=headers)
    assert answer.status_code == status
    assert list_inbox(runtime.engine, plugin=PLUGIN) == []


def test_faults_of_the_reservation_flow(runtime: SyncRuntime, receiver: Receiver) -> None:
    """Down and slow receivers are transient; a rejected document is dead with its reason."""
    put(runtime, "proforma", "pf-1", proforma())
    receiver.fail(503)
    row = sync(runtime, "proforma", "pf-1")
    assert row.state == "failed" and row.attempts == 1
    receiver.clear_faults()
    receiver.reject(["pf-2"], "product p-9 is not stocked")
    put(runtime, "proforma", "pf-2", proforma())
    row = sync(runtime, "proforma", "pf-2")
    assert row.state == "dead" and "p-9 is not stocked" in (row.last_error or "")


def test_a_slow_receiver_times_out_as_a_transient_failure(
    make_inventory: Callable[[dict[str, Any]], SyncRuntime], receiver: Receiver, webhook_secret: str
) -> None:
    runtime = make_inventory({"url": receiver.url, "secret": webhook_secret})
    runtime.host.context(PLUGIN).http.timeout = httpx.Timeout(0.2)
    receiver.delay(2.0, count=1)
    put(runtime, "proforma", "pf-1", proforma())
    row = sync(runtime, "proforma", "pf-1")
    assert row.state == "failed" and row.last_error


def test_idle_and_subscriptions_follow_reserve_on(
    make_inventory: Callable[[dict[str, Any]], SyncRuntime], receiver: Receiver, webhook_secret: str
) -> None:
    assert make_inventory({}).host.description(PLUGIN).target is None
    on_order = make_inventory(
        {"url": receiver.url, "secret": webhook_secret, "reserve_on": "order"}
    )
    assert "proforma" not in on_order.host.description(PLUGIN).subscriptions
    put(on_order, "order", "so-1", sample("orders"))
    sync(on_order, "order", "so-1")
    [document] = receiver.deliveries
    assert document.document["data"]["reservation_id"] == "res-so-1"
    assert document.document["data"]["sale_refs"] == ["so-1", "pf-1"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_reservation_status_recorded_earlier_arrives_late_and_changes_nothing(
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_runtime: Callable[..., SyncRuntime],
    receiver: Receiver,
    webhook_secret: str,
) -> None:
    url = (
        str(request.getfixturevalue("postgres_url"))
        if database == "postgresql"
        else f"sqlite:///{tmp_path / 'late.db'}"
    )
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        plugins={PLUGIN: {"url": receiver.url, "secret": webhook_secret}},
    )
    runtime = make_runtime(settings, {PLUGIN: inventory})
    client = TestClient(create_app(runtime, background=False))
    put(runtime, "proforma", "pf-1", proforma())
    sync(runtime, "proforma", "pf-1")

    def send(message_id: str, status: str, reserved: str, at: str | None) -> None:
        data: dict[str, Any] = {
            "reservation_id": "res-pf-1",
            "status": status,
            "lines": [
                {"product_id": "p-1", "reserved_quantity": reserved, "state": "reserved"}
                if reserved == "3"
                else {"product_id": "p-1", "reserved_quantity": reserved, "state": "unavailable"}
            ],
        }
        if at is not None:
            data["reported_at"] = at
        body, headers = signed(
            webhook_secret, {"type": "inventory.reservation_status", "data": data}, message_id
        )
        answer = client.post("/v1/webhooks/inventory", content=body, headers=headers)
        assert answer.json() == {"accepted": 1, "duplicates": 0}
        apply_inbound(runtime)

    send("m-1", "partial", "3", "2026-11-23T02:00:00Z")
    version = get(runtime, "reservation", "res-pf-1").version
    # Recorded before the state held: applied as nothing, no new version.
    send("m-2", "unavailable", "0", "2026-11-22T09:00:00Z")
    held = get(runtime, "reservation", "res-pf-1")
    assert held.version == version
    assert getattr(held.data, "status", None) == "partial"
    assert str(getattr(held.data, "reported_at", None)) == "2026-11-23 02:00:00+00:00"
    [late] = [row for row in list_inbox(runtime.engine, plugin=PLUGIN) if row.event_id == "m-2"]
    assert late.state == "applied"
    # A status without a time cannot be ordered: it is applied.
    send("m-3", "unavailable", "0", None)
    assert getattr(get(runtime, "reservation", "res-pf-1").data, "status", None) == "unavailable"
