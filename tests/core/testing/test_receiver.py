"""The loopback receiver: signatures, idempotency, batches, faults, control API, process mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from core.testing.receiver import Receiver, ReceiverProcess, RemoteReceiver


def document(id_: str, version: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "type": "customer",
        "id": id_,
        "version": version,
        "occurred_at": "2024-03-20T10:00:00+00:00",
        "data": {"name": "شرکت نمونه", "phone": "+989121234567"},
        **extra,
    }


def signed_headers(secret: str, body: str, message_id: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def post(
    client: httpx.Client, url: str, secret: str, payload: Any, key: str | None = None
) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False)
    headers = signed_headers(secret, body, key or "batch-1")
    if key is not None:
        headers["idempotency-key"] = key
    return client.post(url + "/finance", content=body.encode(), headers=headers)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


def test_signed_document_is_stored_and_answered_with_external_id(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    response = post(client, receiver.url, webhook_secret, document("c1"), key="k1")

    assert response.status_code == 200
    assert response.json() == {"external_id": "ext-c1"}
    [delivery] = receiver.deliveries
    assert (delivery.type, delivery.id, delivery.version) == ("customer", "c1", 1)
    assert delivery.idempotency_key == "k1"
    assert delivery.path == "/finance"
    assert delivery.data["name"] == "شرکت نمونه"
    assert receiver.latest("customer", "c1") == delivery
    assert receiver.latest("customer", "other") is None


def test_bad_or_missing_signature_is_refused_with_401_and_not_stored(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    other_secret = "whsec_" + "A" * 44
    wrong = post(client, receiver.url, other_secret, document("c1"), key="k1")
    body = json.dumps(document("c2"))
    headers = signed_headers(webhook_secret, body, "k2") | {"idempotency-key": "k2"}
    tampered = client.post(receiver.url, content=body.replace("c2", "c3").encode(), headers=headers)
    unsigned = client.post(receiver.url, json=document("c4"), headers={"idempotency-key": "k4"})

    assert [wrong.status_code, tampered.status_code, unsigned.status_code] == [401, 401, 401]
    assert receiver.deliveries == []
    assert receiver.counters.rejected == 3
    assert [attempt.status for attempt in receiver.attempts] == [401, 401, 401]


def test_repeated_idempotency_key_is_answered_alike_but_stored_once(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    first = post(client, receiver.url, webhook_secret, document("c1"), key="k1")
    again = post(client, receiver.url, webhook_secret, document("c1"), key="k1")
    newer = post(client, receiver.url, webhook_secret, document("c1", version=2), key="k2")

    assert first.json() == again.json() == newer.json() == {"external_id": "ext-c1"}
    assert receiver.versions("customer", "c1") == [1, 2]
    assert receiver.counters.duplicates == 1
    assert receiver.counters.accepted == 2


def test_batch_is_answered_with_one_result_per_document_in_order(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    receiver.reject(["c4"], "unknown customer group")
    batch = [
        document("c1", idempotency_key="k1"),
        document("c1", idempotency_key="k1"),
        {"type": "customer", "id": "c3", "idempotency_key": "k3"},
        document("c4", idempotency_key="k4"),
        document("c5"),
        document("c6", idempotency_key="k6"),
    ]

    response = post(client, receiver.url, webhook_secret, batch)

    assert response.status_code == 200
    results = response.json()
    assert results[0] == results[1] == {"status": 200, "external_id": "ext-c1"}
    assert results[2]["status"] == 422
    assert "version" in results[2]["error"]
    assert results[3] == {"status": 422, "error": "unknown customer group"}
    assert results[4]["status"] == 400
    assert results[5] == {"status": 200, "external_id": "ext-c6"}
    assert [d.id for d in receiver.deliveries] == ["c1", "c6"]
    assert receiver.counters.duplicates == 1
    assert receiver.attempts[0].ids == ("c1", "c1", "c3", "c4", "c5", "c6")


def test_invalid_single_documents_get_clear_4xx(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    invalid = post(client, receiver.url, webhook_secret, {"id": "c1"}, key="k1")
    no_key = post(client, receiver.url, webhook_secret, document("c2"))
    body = "{not json"
    headers = signed_headers(webhook_secret, body, "k3") | {"idempotency-key": "k3"}
    not_json = client.post(receiver.url, content=body.encode(), headers=headers)

    assert invalid.status_code == 422
    assert no_key.status_code == 400
    assert not_json.status_code == 400
    assert receiver.deliveries == []


def test_fail_answers_the_status_for_the_next_requests_then_recovers(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    receiver.fail(503, count=2)
    statuses = [
        post(client, receiver.url, webhook_secret, document("c1"), key="k1").status_code
        for _ in range(3)
    ]

    assert statuses == [503, 503, 200]
    assert receiver.counters.faulted == 2
    assert len(receiver.deliveries) == 1

    receiver.fail(500)
    assert post(client, receiver.url, webhook_secret, document("c2"), key="k2").status_code == 500
    assert post(client, receiver.url, webhook_secret, document("c2"), key="k2").status_code == 500
    receiver.clear_faults()
    assert post(client, receiver.url, webhook_secret, document("c2"), key="k2").status_code == 200


def test_throttle_answers_429_with_retry_after(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    receiver.throttle(retry_after=7, count=1)
    throttled = post(client, receiver.url, webhook_secret, document("c1"), key="k1")
    accepted = post(client, receiver.url, webhook_secret, document("c1"), key="k1")

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert accepted.status_code == 200
    assert [attempt.status for attempt in receiver.attempts] == [429, 200]


def test_delay_makes_the_client_time_out_and_the_target_still_processes(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    receiver.delay(0.5, count=1)
    with pytest.raises(httpx.ReadTimeout), httpx.Client(timeout=0.1) as impatient:
        post(impatient, receiver.url, webhook_secret, document("c1"), key="k1")

    receiver.wait_for_deliveries(1, timeout=5)
    retried = post(client, receiver.url, webhook_secret, document("c1"), key="k1")
    assert retried.json() == {"external_id": "ext-c1"}
    assert receiver.counters.duplicates == 1


def test_reject_refuses_listed_ids_until_cleared(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    receiver.reject({"c1"}, "national ID is not valid")
    refused = post(client, receiver.url, webhook_secret, document("c1"), key="k1")
    other = post(client, receiver.url, webhook_secret, document("c2"), key="k2")
    receiver.clear_faults()
    retried = post(client, receiver.url, webhook_secret, document("c1"), key="k1")

    assert (refused.status_code, refused.json()) == (422, {"error": "national ID is not valid"})
    assert other.status_code == 200
    assert retried.status_code == 200
    assert receiver.counters.unprocessable == 1


def test_hold_keeps_a_request_in_flight_until_released(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    answers: list[int] = []
    receiver.hold()
    sender = threading.Thread(
        target=lambda: answers.append(
            post(client, receiver.url, webhook_secret, document("c1"), key="k1").status_code
        )
    )
    sender.start()

    assert receiver.wait_for_request(timeout=5)
    assert receiver.counters.held == 1
    assert receiver.deliveries == []
    receiver.release()
    sender.join(5)

    assert answers == [200]
    assert receiver.counters.held == 0
    assert len(receiver.deliveries) == 1


def test_wait_for_request_is_false_when_nothing_arrives(receiver: Receiver) -> None:
    receiver.hold()
    assert receiver.wait_for_request(timeout=0.1) is False


def test_stopping_cuts_held_requests_and_restarts_on_the_same_port(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    post(client, receiver.url, webhook_secret, document("c1"), key="k1")
    url = receiver.url
    errors: list[Exception] = []

    def send_held() -> None:
        try:
            post(client, receiver.url, webhook_secret, document("c2"), key="k2")
        except httpx.HTTPError as exc:
            errors.append(exc)

    receiver.hold()
    sender = threading.Thread(target=send_held)
    sender.start()
    assert receiver.wait_for_request(timeout=5)
    receiver.stop()
    sender.join(5)

    assert len(errors) == 1
    with pytest.raises(httpx.ConnectError):
        post(client, url, webhook_secret, document("c3"), key="k3")
    receiver.start()
    assert receiver.url == url
    assert post(client, url, webhook_secret, document("c3"), key="k3").status_code == 200
    assert [d.id for d in receiver.deliveries] == ["c1", "c3"]


def test_keep_alive_reuses_one_connection(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    for number in range(50):
        post(client, receiver.url, webhook_secret, document(f"c{number}"), key=f"k{number}")

    assert receiver.counters.accepted == 50
    assert receiver.counters.connections == 1


def test_http_control_api_drives_every_fault(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    with RemoteReceiver(receiver.url) as remote:
        remote.fail(503, count=1)
        assert post(client, receiver.url, webhook_secret, document("c1"), key="k1").is_server_error
        remote.throttle(retry_after=3, count=1)
        throttled = post(client, receiver.url, webhook_secret, document("c1"), key="k1")
        assert throttled.headers["retry-after"] == "3"
        remote.reject(["c2"], reason="closed account")
        assert post(client, receiver.url, webhook_secret, document("c2"), key="k2").json() == {
            "error": "closed account"
        }
        remote.clear_faults()
        remote.delay(0.2, count=1)
        assert post(client, receiver.url, webhook_secret, document("c1"), key="k1").is_success

        remote.hold()
        sender = threading.Thread(
            target=post, args=(client, receiver.url, webhook_secret, document("c2"), "k2")
        )
        sender.start()
        assert remote.wait_for_request(timeout=5)
        remote.release()
        sender.join(5)

        assert remote.wait_for_deliveries(2, timeout=5) == receiver.deliveries
        assert remote.latest("customer", "c2") == receiver.latest("customer", "c2")
        assert remote.versions("customer", "c1") == [1]
        assert remote.counters == receiver.counters
        assert remote.attempts == receiver.attempts
        with pytest.raises(ValueError, match="unknown action"):
            remote._post("/_control", {"action": "explode"})

        remote.reset()
        assert remote.deliveries == []
        assert remote.counters.requests == 0


def test_deliveries_endpoint_returns_records_and_counters_as_json(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    post(client, receiver.url, webhook_secret, document("c1"), key="k1")
    post(client, receiver.url, webhook_secret, document("c1"), key="k1")

    state = client.get(receiver.url + "/_deliveries").json()

    assert state["counters"]["accepted"] == 1
    assert state["counters"]["duplicates"] == 1
    assert state["deliveries"][0]["external_id"] == "ext-c1"
    assert state["deliveries"][0]["document"]["data"]["name"] == "شرکت نمونه"
    assert client.post(receiver.url + "/_reset").json() == {"ok": True}
    assert client.get(receiver.url + "/_counters").json()["accepted"] == 0


def test_process_mode_prints_its_url_serves_and_stops_on_sigterm(
    webhook_secret: str, client: httpx.Client
) -> None:
    command = [sys.executable, "-m", "core.testing.receiver", "--port", "0"]
    with subprocess.Popen(
        [*command, "--secret", webhook_secret], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = post(client, url, webhook_secret, document("c1"), key="k1")
        assert answer.json() == {"external_id": "ext-c1"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


def test_receiver_process_is_driven_through_remote(
    webhook_secret: str, client: httpx.Client
) -> None:
    with ReceiverProcess(webhook_secret, external_id_prefix="erp") as process:
        process.remote.fail(503, count=1)
        assert post(client, process.url, webhook_secret, document("c1"), key="k1").is_server_error
        answer = post(client, process.url, webhook_secret, document("c1"), key="k1")

        assert answer.json() == {"external_id": "erp-c1"}
        [delivery] = process.remote.wait_for_deliveries(1)
        assert delivery.idempotency_key == "k1"
        pid = process.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_reset_lets_held_requests_go_on_and_keeps_the_held_gauge_right(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    receiver.reject(["c1"], "first reason")
    receiver.reject(["c2"], "second reason")
    assert post(client, receiver.url, webhook_secret, document("c1"), key="k1").json() == {
        "error": "first reason"
    }
    receiver.hold()
    sender = threading.Thread(
        target=post, args=(client, receiver.url, webhook_secret, document("c3"), "k3")
    )
    sender.start()
    assert receiver.wait_for_request(timeout=5)

    receiver.reset()
    sender.join(5)

    assert receiver.counters.held == 0
    assert [d.id for d in receiver.deliveries] == ["c3"]
    assert post(client, receiver.url, webhook_secret, document("c2"), key="k2").status_code == 200


def test_an_unsigned_receiver_takes_plain_json_and_records_each_attempt(
    client: httpx.Client,
) -> None:
    heard: list[tuple[int, list[str]]] = []
    with Receiver(
        on_attempt=lambda a, stored: heard.append((a.status, [d.id for d in stored]))
    ) as plain:
        first = client.post(
            plain.url + "/in", json=document("c1"), headers={"idempotency-key": "k1"}
        )
        again = client.post(
            plain.url + "/in", json=document("c1"), headers={"idempotency-key": "k1"}
        )
        broken = client.post(
            plain.url + "/in", content=b"{not json", headers={"content-type": "text/plain"}
        )

        assert [first.status_code, again.status_code, broken.status_code] == [200, 200, 400]
        assert [d.id for d in plain.deliveries] == ["c1"]
        ok, duplicate, bad = plain.attempts
        assert (ok.keys, ok.is_json, ok.signed, ok.content_type) == (
            ("k1",),
            True,
            False,
            "application/json",
        )
        assert duplicate.keys == ("k1",)
        assert (bad.status, bad.is_json, bad.content_type) == (400, False, "text/plain")
    assert heard == [(200, ["c1"]), (200, []), (400, [])]


def test_a_signed_receiver_records_the_signature_as_verified(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    post(client, receiver.url, webhook_secret, document("c1"), key="k1")

    [attempt] = receiver.attempts
    assert (attempt.signed, attempt.keys, attempt.is_json) == (True, ("k1",), True)


def test_without_the_envelope_any_json_object_is_stored_and_others_refused(
    client: httpx.Client,
) -> None:
    with Receiver(envelope=False) as loose:
        body = {"customer": "C-1", "name": "علی"}
        stored = client.post(loose.url, json=body, headers={"idempotency-key": "k1"})
        listed = client.post(loose.url, json=[1, 2], headers={"idempotency-key": "k2"})
        keyless = client.post(loose.url, json=body)

        assert (stored.status_code, keyless.status_code) == (200, 400)
        assert listed.json() == [{"status": 422, "error": "a document must be a JSON object"}] * 2
        [delivery] = loose.deliveries
        assert (delivery.document, delivery.idempotency_key, delivery.version) == (body, "k1", 0)


def test_fail_n_times_with_retry_after_then_answer(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    receiver.fail(503, count=2, retry_after=7)

    answers = [post(client, receiver.url, webhook_secret, document("c1"), key="k1") for _ in "abc"]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert [a.headers.get("retry-after") for a in answers] == ["7", "7", None]
    assert [a.keys for a in receiver.attempts] == [("k1",)] * 3
    assert receiver.counters.faulted == 2


def test_a_stall_outlasts_the_client_timeout_once(receiver: Receiver, webhook_secret: str) -> None:
    receiver.stall(1.5, count=1)
    with httpx.Client(timeout=0.3) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            post(impatient, receiver.url, webhook_secret, document("c1"), key="k1")
        receiver.wait_for_deliveries(1, timeout=5)
        answer = post(impatient, receiver.url, webhook_secret, document("c1"), key="k1")

    assert answer.status_code == 200
    assert receiver.counters.duplicates == 1


def test_remote_control_takes_retry_after_and_attempt_details(
    receiver: Receiver, webhook_secret: str, client: httpx.Client
) -> None:
    with RemoteReceiver(receiver.url) as remote:
        remote.fail(429, count=1, retry_after=3)
        throttled = post(client, receiver.url, webhook_secret, document("c1"), key="k1")
        [attempt] = remote.attempts

    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "3")
    assert (attempt.status, attempt.keys, attempt.is_json) == (429, ("k1",), True)


def test_a_receiver_process_can_take_unsigned_json(client: httpx.Client) -> None:
    with ReceiverProcess(None, envelope=False) as child:
        first = client.post(child.url, json={"order": "SO-1"}, headers={"idempotency-key": "k1"})
        child.remote.fail(503, count=1, reason="maintenance")
        busy = client.post(child.url, json={"order": "SO-2"}, headers={"idempotency-key": "k2"})
        [stored] = child.remote.deliveries
        attempts = child.remote.attempts

    assert (first.status_code, busy.status_code, busy.json()) == (
        200,
        503,
        {"error": "maintenance"},
    )
    assert stored.document == {"order": "SO-1"}
    assert [(a.status, a.keys, a.signed) for a in attempts] == [
        (200, ("k1",), False),
        (503, ("k2",), False),
    ]
