"""The webhook backend: signed work-order status documents through POST /v1/webhooks/production."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from core.api.app import create_app
from core.db.inbound_tables import InboxEvent
from core.kinds import KINDS_BY_TYPE
from core.store import get_record, sync_rows, timeline
from core.sync.admin import list_inbox, retry_inbox
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import ADMIN, TestClient
from tests.plugins.production.conftest import PromiseListener, order

#: When the documents of this module happened: a fixed past moment, so their order is
#: known. Signatures are made at request time (see ``post``), never from this value.
NOW = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)


def document(
    work_order_id: str = "WO-17",
    *,
    order_id: str = "so-1",
    stage: str = "assembly",
    progress: int = 40,
    eta: str | None = "2030-05-20",
    occurred_at: dt.datetime = NOW,
    **data: Any,
) -> dict[str, Any]:
    return {
        "type": "work_order_status",
        "id": work_order_id,
        "version": 1,
        "occurred_at": occurred_at.isoformat(),
        "idempotency_key": f"erp-{work_order_id}-{occurred_at.timestamp():.0f}",
        "data": {
            "order_id": order_id,
            "work_order": f"WO/{work_order_id}",
            "stage": stage,
            "progress": progress,
            "eta": eta,
            **data,
        },
    }


@pytest.fixture
def runtime(
    make_production: Callable[[dict[str, Any]], SyncRuntime], webhook_secret: str
) -> SyncRuntime:
    built = make_production({"secret": webhook_secret})
    order(built, "so-1", promised=dt.date(2030, 5, 1))
    return built


@pytest.fixture
def client(runtime: SyncRuntime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, background=False)) as running:
        yield running


def post(
    client: TestClient,
    body: Any,
    secret: str,
    *,
    webhook_id: str = "msg-1",
    raw: bytes | None = None,
    signature: str | None = None,
) -> Any:
    content = raw if raw is not None else json.dumps(body).encode()
    signed_at = dt.datetime.now(dt.UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": signature
        or Webhook(secret).sign(webhook_id, signed_at, content.decode()),
    }
    return client.post("/v1/webhooks/production", content=content, headers=headers)


def apply_all(runtime: SyncRuntime) -> None:
    with runtime.engine.connect() as connection:
        ids = list(connection.execute(select(InboxEvent.id)).scalars())
    runtime.inbound.process("production", ids)


def promised(runtime: SyncRuntime, order_id: str = "so-1") -> dt.date | None:
    stored = get_record(runtime.engine, KINDS_BY_TYPE["order"], order_id)
    assert stored is not None
    value = stored.data["promised_date"]
    return dt.date.fromisoformat(value) if value else None


def promise_events(runtime: SyncRuntime, order_id: str = "so-1") -> list[dict[str, Any]]:
    return [
        event.data["payload"]
        for event in timeline(runtime.engine, "order", order_id)
        if event.data["type"] == "order.promise_changed"
    ]


def test_a_signed_status_creates_the_work_order_and_moves_the_promise(
    client: TestClient,
    runtime: SyncRuntime,
    webhook_secret: str,
    listener: PromiseListener,
) -> None:
    answer = post(client, document(reason="paint shop is late"), webhook_secret)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    apply_all(runtime)

    status = client.get("/v1/production/WO-17", headers=ADMIN).json()["data"]
    assert {k: status[k] for k in ("order_id", "work_order", "stage", "progress", "eta")} == {
        "order_id": "so-1",
        "work_order": "WO/WO-17",
        "stage": "assembly",
        "progress": 40,
        "eta": "2030-05-20",
    }
    assert promised(runtime) == dt.date(2030, 5, 20)
    assert promise_events(runtime) == [
        {
            "old": "2030-05-01",
            "new": "2030-05-20",
            "work_order": "WO/WO-17",
            "production_status_id": "WO-17",
            "reason": "paint shop is late",
        }
    ]
    timeline_answer = client.get("/v1/orders/so-1/timeline", headers=ADMIN)
    assert "order.promise_changed" in timeline_answer.text

    [event] = [
        e for e in timeline(runtime.engine, "order", "so-1") if e.data["type"].startswith("order.")
    ]
    runtime.sync.process("listener", [("event", event.id)])
    [received] = listener.received
    assert (received.type, received.subject_id, received.source) == (
        "order.promise_changed",
        "so-1",
        "production",
    )
    assert received.payload["new"] == "2030-05-20"
    [row] = sync_rows(runtime.engine, "event", event.id)
    assert (row.plugin, row.state) == ("listener", "synced")


def test_the_promise_is_the_latest_eta_of_the_work_orders_not_cancelled(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str
) -> None:
    post(client, document("WO-1", eta="2030-05-10"), webhook_secret, webhook_id="a")
    post(client, document("WO-2", eta="2030-05-25"), webhook_secret, webhook_id="b")
    apply_all(runtime)
    assert promised(runtime) == dt.date(2030, 5, 25)
    later = NOW + dt.timedelta(minutes=1)
    post(
        client,
        document("WO-2", stage="cancelled", eta="2030-05-25", occurred_at=later),
        webhook_secret,
        webhook_id="c",
    )
    apply_all(runtime)
    assert promised(runtime) == dt.date(2030, 5, 10)
    reasons = [event["reason"] for event in promise_events(runtime)]
    assert reasons[-1] == "work order WO/WO-2 moved from assembly to cancelled"
    assert [event["new"] for event in promise_events(runtime)] == [
        "2030-05-10",
        "2030-05-25",
        "2030-05-10",
    ]


def test_the_same_eta_again_announces_nothing(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str
) -> None:
    post(client, document(progress=40), webhook_secret, webhook_id="a")
    apply_all(runtime)
    later = NOW + dt.timedelta(minutes=1)
    post(client, document(progress=70, occurred_at=later), webhook_secret, webhook_id="b")
    apply_all(runtime)
    assert len(promise_events(runtime)) == 1
    stored = get_record(runtime.engine, KINDS_BY_TYPE["production_status"], "WO-17")
    assert stored is not None and stored.data["progress"] == 70


def test_an_older_report_arriving_late_changes_nothing(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str
) -> None:
    post(client, document(eta="2030-06-01", progress=80), webhook_secret, webhook_id="new")
    earlier = NOW - dt.timedelta(hours=1)
    post(
        client,
        document(eta="2030-05-05", progress=10, occurred_at=earlier),
        webhook_secret,
        webhook_id="old",
    )
    apply_all(runtime)
    stored = get_record(runtime.engine, KINDS_BY_TYPE["production_status"], "WO-17")
    assert stored is not None and (stored.data["progress"], stored.data["eta"]) == (
        80,
        "2030-06-01",
    )
    assert promised(runtime) == dt.date(2030, 6, 1)


def test_a_duplicate_webhook_id_is_stored_and_applied_once(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str
) -> None:
    assert post(client, document(), webhook_secret).json() == {"accepted": 1, "duplicates": 0}
    assert post(client, document(), webhook_secret).json() == {"accepted": 0, "duplicates": 1}
    apply_all(runtime)
    apply_all(runtime)
    assert len(promise_events(runtime)) == 1
    [row] = list_inbox(runtime.engine)
    assert (row.event_id, row.state, row.attempts) == ("msg-1", "applied", 1)


def test_an_array_of_documents_is_one_event_each(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str
) -> None:
    body = [document("WO-1", eta="2030-05-10"), document("WO-2", eta="2030-05-12")]
    assert post(client, body, webhook_secret, webhook_id="batch").json()["accepted"] == 2
    apply_all(runtime)
    assert sorted(row.event_id for row in list_inbox(runtime.engine)) == ["batch:0", "batch:1"]
    assert promised(runtime) == dt.date(2030, 5, 12)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong secret", 401),
        ("garbage signature", 401),
        ("not json", 400),
        ("unknown field", 422),
        ("missing order", 422),
        ("bad progress", 422),
        ("empty array", 422),
        ("wrong type", 422),
    ],
)
def test_bad_webhooks_are_refused_and_store_nothing(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str, case: str, status: int
) -> None:
    good = document()
    bodies: dict[str, Any] = {
        "unknown field": {**good, "data": {**good["data"], "colour": "red"}},
        "missing order": {
            **good,
            "data": {k: v for k, v in good["data"].items() if k != "order_id"},
        },
        "bad progress": {**good, "data": {**good["data"], "progress": 140}},
        "empty array": [],
        "wrong type": {**good, "type": "customer"},
    }
    if case == "wrong secret":
        other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
        answer = post(client, good, other)
    elif case == "garbage signature":
        answer = post(client, good, webhook_secret, signature="v1")
    elif case == "not json":
        answer = post(client, None, webhook_secret, raw=b"{not json")
    else:
        answer = post(client, bodies[case], webhook_secret)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert list_inbox(runtime.engine) == []
    assert promised(runtime) == dt.date(2030, 5, 1)


def test_a_status_for_an_unknown_order_waits_in_the_inbox_then_dies_with_the_reason(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str
) -> None:
    post(client, document(order_id="so-404"), webhook_secret)
    apply_all(runtime)
    [row] = list_inbox(runtime.engine, state="failed")
    assert "no CRM order 'so-404'" in (row.last_error or "")
    later = dt.datetime.now(dt.UTC)
    for _ in range(5):
        later += dt.timedelta(minutes=5)
        runtime.inbound.process("production", [row.id], now=later)
    [dead] = list_inbox(runtime.engine, state="dead")
    assert (dead.last_error or "").startswith("gave up after 4 attempts: there is no CRM order")
    assert get_record(runtime.engine, KINDS_BY_TYPE["production_status"], "WO-17") is None
    order(runtime, "so-404")
    assert retry_inbox(runtime.engine, plugin="production") == {"production": [row.id]}
    apply_all(runtime)
    assert promised(runtime, "so-404") == dt.date(2030, 5, 20)


def test_a_status_waiting_for_its_order_applies_once_the_order_arrives(
    client: TestClient, runtime: SyncRuntime, webhook_secret: str
) -> None:
    post(client, document(order_id="so-405"), webhook_secret)
    apply_all(runtime)
    [row] = list_inbox(runtime.engine, state="failed")
    order(runtime, "so-405")
    runtime.inbound.process(
        "production", [row.id], now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    )
    assert promised(runtime, "so-405") == dt.date(2030, 5, 20)


def test_the_document_schema_is_served_and_matches_what_is_accepted(
    client: TestClient, webhook_secret: str
) -> None:
    answer = client.get("/v1/schemas/work_order_status", headers=ADMIN)
    assert answer.status_code == 200
    schema = answer.json()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = document(reason="کمبود قطعه")
    validator.validate(good)
    bad = copy.deepcopy(good)
    bad["data"]["progress"] = 101
    assert not validator.is_valid(bad)
    extra = copy.deepcopy(good)
    extra["data"]["colour"] = "red"
    assert not validator.is_valid(extra)
    assert client.get("/v1/schemas", headers=ADMIN).json()["types"].count("work_order_status") == 1
