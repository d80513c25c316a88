"""Record routes: upsert, read, keyset lists and per-plugin sync state."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from core import PermanentError, TransientError
from core.db.sync_tables import SyncState
from core.kinds import KINDS
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import (
    READER,
    SAMPLES,
    WRITER,
    TestClient,
    outbox,
    queued,
    sample,
)
from tests.core.scripted_plugin import ScriptedPlugin


def put(client: TestClient, kind: str, record_id: str, body: dict[str, Any]) -> Any:
    return client.put(f"/v1/{kind}/{record_id}", json=body, headers=WRITER)


def test_put_creates_then_updates_with_the_next_version(
    client: TestClient, runtime: SyncRuntime
) -> None:
    created = put(client, "customers", "C-1", sample("customers"))
    assert created.status_code == 201
    first = created.json()
    assert (first["type"], first["id"], first["version"], first["changed"]) == (
        "customer",
        "C-1",
        1,
        True,
    )
    assert first["created_at"] == first["updated_at"]

    updated = put(client, "customers", "C-1", sample("customers", name="نام تازه"))
    assert updated.status_code == 200
    second = updated.json()
    assert (second["version"], second["changed"], second["data"]["name"]) == (2, True, "نام تازه")
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] > first["updated_at"]
    [row] = outbox(runtime, "C-1")
    assert (row.plugin, row.state, row.wanted_version) == ("scripted", "pending", 2)
    assert queued(runtime) == 2


def test_repeating_the_same_body_changes_nothing(client: TestClient, runtime: SyncRuntime) -> None:
    body = sample("customers")
    first = put(client, "customers", "C-1", body).json()
    [before] = outbox(runtime, "C-1")
    messages = queued(runtime)

    again = put(client, "customers", "C-1", dict(reversed(list(body.items()))))
    assert again.status_code == 200
    answer = again.json()
    assert (answer["version"], answer["changed"]) == (1, False)
    assert answer["updated_at"] == first["updated_at"]
    [after] = outbox(runtime, "C-1")
    assert (after.wanted_version, after.updated_at, after.enqueued_at) == (
        before.wanted_version,
        before.updated_at,
        before.enqueued_at,
    )
    assert queued(runtime) == messages == 1


def test_an_unchanged_write_after_delivery_sends_nothing_again(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(client, "customers", "C-1", sample("customers"))
    runtime.sync.process("scripted", [("customer", "C-1")])
    assert put(client, "customers", "C-1", sample("customers")).json()["changed"] is False
    assert runtime.sync.process("scripted", [("customer", "C-1")]).pushed == 0
    assert [document.version for document in scripted.documents] == [1]
    assert outbox(runtime, "C-1")[0].state == "synced"


def test_get_one_returns_the_stored_record_and_404_for_an_unknown_id(client: TestClient) -> None:
    put(client, "customers", "C-1", sample("customers"))
    found = client.get("/v1/customers/C-1", headers=READER)
    assert found.status_code == 200
    record = found.json()
    assert (record["type"], record["id"], record["version"]) == ("customer", "C-1", 1)
    assert record["data"]["name"] == SAMPLES["customers"]["name"]
    assert "changed" not in record

    missing = client.get("/v1/customers/C-2", headers=READER)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "there is no customer with id 'C-2'"


def test_get_one_includes_computed_totals(client: TestClient) -> None:
    body = sample(
        "proformas",
        lines=[
            {"product_id": "P-1", "quantity": "3", "unit_price": "1000", "discount": "500"},
            {"product_id": "P-2", "quantity": "1.5", "unit_price": "200", "tax": "30"},
        ],
    )
    assert put(client, "proformas", "PF-1", body).status_code == 201
    data = client.get("/v1/proformas/PF-1", headers=READER).json()["data"]
    assert (data["subtotal"], data["discount_total"], data["tax_total"], data["total"]) == (
        "3300.0",
        "500",
        "30",
        "2830.0",
    )
    assert [line["total"] for line in data["lines"]] == ["2500", "330.0"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("customers", {"type": "person", "name": "علی کریمی"}),
        ("contacts", {"customer_id": "C-1", "name": "مریم احمدی"}),
        ("leads", {"contact_name": "رضا"}),
    ],
)
def test_a_stored_record_shows_its_phones_e164_keys_and_keeps_them_as_typed(
    client: TestClient, runtime: SyncRuntime, kind: str, body: dict[str, Any]
) -> None:
    phones = ["۰۹۱۲ ۱۲۳ ۴۵۶۷", "+98 (21) 8888-1234 داخلی ۱۲", "0098-935-000-1111"]
    assert put(client, kind, "R-1", {**body, "phones": phones}).status_code == 201
    data = client.get(f"/v1/{kind}/R-1", headers=READER).json()["data"]
    assert data["phones"] == phones
    assert data["phones_e164"] == ["+989121234567", "+982188881234;ext=12", "+989350001111"]
    listed = client.get(f"/v1/{kind}", headers=READER).json()["items"]
    assert listed[0]["data"]["phones_e164"] == data["phones_e164"]
    table = KINDS[kind].table
    with runtime.engine.connect() as connection:
        stored = connection.execute(select(table.data).where(table.id == "R-1")).scalar_one()
    assert "phones_e164" not in stored
    again = put(client, kind, "R-1", {**body, "phones": phones})
    assert again.status_code == 200 and again.json()["changed"] is False
    refused = put(client, kind, "R-2", {**body, "phones_e164": ["+989121234567"]})
    assert refused.status_code == 422


def test_the_list_pages_by_id_with_after_and_next(client: TestClient) -> None:
    for number in (5, 1, 4, 2, 3):
        put(client, "customers", f"C-{number:02d}", sample("customers", name=f"مشتری {number}"))

    first = client.get("/v1/customers", params={"limit": 2}, headers=READER).json()
    assert [item["id"] for item in first["items"]] == ["C-01", "C-02"]
    assert first["next"] == "C-02"
    assert first["items"][0]["data"]["name"] == "مشتری 1"

    second = client.get(
        "/v1/customers", params={"limit": 2, "after": first["next"]}, headers=READER
    ).json()
    assert [item["id"] for item in second["items"]] == ["C-03", "C-04"]

    last = client.get(
        "/v1/customers", params={"limit": 2, "after": second["next"]}, headers=READER
    ).json()
    assert [item["id"] for item in last["items"]] == ["C-05"]
    assert last["next"] is None

    whole = client.get("/v1/customers", headers=READER).json()
    assert [item["id"] for item in whole["items"]] == ["C-01", "C-02", "C-03", "C-04", "C-05"]
    assert whole["next"] is None
    assert client.get("/v1/contacts", headers=READER).json() == {"items": [], "next": None}


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 501}, {"limit": "many"}, {"after": "bad id"}],
    ids=["zero", "too-many", "not-a-number", "bad-after"],
)
def test_bad_list_parameters_are_refused(client: TestClient, params: dict[str, Any]) -> None:
    answer = client.get("/v1/customers", params=params, headers=READER)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == "query." + next(iter(params))


def test_sync_state_shows_each_plugin_as_delivery_goes_on(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(client, "customers", "C-1", sample("customers"))
    pending = client.get("/v1/customers/C-1/sync", headers=READER).json()
    assert (pending["type"], pending["id"], pending["version"]) == ("customer", "C-1", 1)
    [plugin] = pending["plugins"]
    assert plugin["plugin"] == "scripted"
    assert (plugin["state"], plugin["wanted_version"], plugin["synced_version"]) == (
        "pending",
        1,
        None,
    )
    assert (plugin["attempts"], plugin["last_error"], plugin["last_attempt_at"]) == (0, None, None)
    assert plugin["next_attempt_at"] is not None

    scripted.script.append(TransientError("HTTP 503 from erp.example: busy"))
    runtime.sync.process("scripted", [("customer", "C-1")])
    [failed] = client.get("/v1/customers/C-1/sync", headers=READER).json()["plugins"]
    assert (failed["state"], failed["attempts"], failed["last_error"]) == (
        "failed",
        1,
        "HTTP 503 from erp.example: busy",
    )
    assert failed["last_attempt_at"] is not None
    assert failed["next_attempt_at"] > failed["last_attempt_at"]

    last_attempt = outbox(runtime, "C-1")[0].last_attempt_at
    with runtime.engine.begin() as connection:
        connection.execute(update(SyncState).values(due_at=last_attempt))
    runtime.sync.process("scripted", [("customer", "C-1")])
    [synced] = client.get("/v1/customers/C-1/sync", headers=READER).json()["plugins"]
    assert (synced["state"], synced["external_id"], synced["synced_version"]) == (
        "synced",
        "T-C-1",
        1,
    )
    assert synced["next_attempt_at"] is None


def test_sync_state_shows_a_dead_delivery_with_its_reason(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(client, "customers", "C-1", sample("customers"))
    scripted.script.append(PermanentError("HTTP 422 from erp.example: economic code missing"))
    runtime.sync.process("scripted", [("customer", "C-1")])
    [dead] = client.get("/v1/customers/C-1/sync", headers=READER).json()["plugins"]
    assert (dead["state"], dead["attempts"], dead["synced_version"], dead["next_attempt_at"]) == (
        "dead",
        1,
        None,
        None,
    )
    assert dead["last_error"] == "HTTP 422 from erp.example: economic code missing"


def test_sync_state_of_an_unknown_record_is_404_and_of_an_unsubscribed_kind_is_empty(
    client: TestClient,
) -> None:
    assert client.get("/v1/customers/C-9/sync", headers=READER).status_code == 404
    put(client, "agents", "A-1", sample("agents"))
    answer = client.get("/v1/agents/A-1/sync", headers=READER).json()
    assert (answer["version"], answer["plugins"]) == (1, [])


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_kind_accepts_a_valid_body(
    client: TestClient, runtime: SyncRuntime, kind: str
) -> None:
    answer = put(client, kind, "R-1", sample(kind))
    assert answer.status_code == 201, answer.text
    assert answer.json()["type"] == KINDS[kind].type
    stored = client.get(f"/v1/{kind}/R-1", headers=READER).json()
    for field, value in SAMPLES[kind].items():
        if isinstance(value, str) and field not in ("amount", "price", "occurred_at", "due_at"):
            assert stored["data"][field] == value
    table = KINDS[kind].table
    with runtime.engine.connect() as connection:
        assert connection.execute(select(table.version).where(table.id == "R-1")).scalar() == 1


def test_the_samples_cover_every_writable_kind() -> None:
    assert set(SAMPLES) == {name for name, kind in KINDS.items() if kind.writable}


def test_persian_text_and_digits_round_trip_unchanged(
    client: TestClient, runtime: SyncRuntime
) -> None:
    body = {
        "type": "person",
        "name": "علي  كريمي\u200cنژاد",  # Arabic ي and ك, two spaces, a ZWNJ: kept as sent
        "national_id": "۰۰۱۳۵۴۲۴۱۹",
        "economic_code": "٠٠١٣٥٤٢٤١٩",
        "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷", "٠٩١٢١٢٣٤٥٦٧"],
        "addresses": [
            {"line1": "خیابان ولیعصر، پلاک ۱۲", "city": "تهران", "postal_code": "۱۴۳۴۸۶۳۱۱۱"}
        ],
    }
    written = put(client, "customers", "C-fa", body)
    assert written.status_code == 201, written.text
    assert "\\u" not in written.text
    read = client.get("/v1/customers/C-fa", headers=READER)
    data = read.json()["data"]
    for field in ("name", "national_id", "economic_code", "phones"):
        assert data[field] == body[field]
    address = data["addresses"][0]
    assert {key: address[key] for key in body["addresses"][0]} == body["addresses"][0]
    table = KINDS["customers"].table
    with runtime.engine.connect() as connection:
        stored = connection.execute(select(table.data).where(table.id == "C-fa")).scalar_one()
    assert stored["name"] == body["name"]
    assert stored["phones"] == body["phones"]
    found = client.get("/v1/customers", headers=READER).json()["items"]
    assert [item["data"]["name"] for item in found] == [body["name"]]


def test_a_put_answers_before_it_sends_the_records_message(
    app: Any, runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import json

    answered: list[int] = []
    sent_after_answer: list[bool] = []
    dispatch = runtime.dispatch

    def watched(plugin: str, refs: Any, **options: Any) -> bool:
        sent_after_answer.append(bool(answered))
        return dispatch(plugin, refs, **options)

    monkeypatch.setattr(runtime, "dispatch", watched)
    body = json.dumps(sample("customers")).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": "/v1/customers/C-1",
        "raw_path": b"/v1/customers/C-1",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *[(name.lower().encode(), value.encode()) for name, value in WRITER.items()],
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    asyncio.run(app(scope, receive, send))
    assert answered == [201]
    assert sent_after_answer == [True]  # the client had its answer before the broker was asked
    assert queued(runtime) == 1
    [row] = outbox(runtime, "C-1")
    assert (row.state, row.wanted_version) == ("pending", 1)


def test_a_put_whose_message_the_broker_refuses_is_still_acknowledged_and_due(
    client: TestClient, runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **options: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(runtime.actors["scripted"], "send_with_options", refuse)
    answer = put(client, "customers", "C-1", sample("customers"))
    assert answer.status_code == 201
    assert queued(runtime) == 0
    [row] = outbox(runtime, "C-1")  # the sweeper sends it again
    assert (row.state, row.wanted_version) == ("pending", 1)
