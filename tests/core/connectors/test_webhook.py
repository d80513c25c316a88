"""The webhook backend: secrets, Standard Webhooks signatures, single and batch delivery."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from core.connectors.http import classify_exception
from core.connectors.webhook import WebhookSender, WebhookTarget, document_body
from core.errors import PermanentError, TransientError
from core.plugin_types import OutboundDocument, PushResult
from core.testing.receiver import Receiver

OCCURRED = datetime(2024, 3, 20, 6, 0, tzinfo=UTC)


def document(record_id: str = "C-1", version: int = 1, **payload: Any) -> OutboundDocument:
    return OutboundDocument(
        type="customer",
        id=record_id,
        version=version,
        occurred_at=OCCURRED,
        idempotency_key=f"crm-sync-finance-customer-{record_id}-{version}",
        payload=payload or {"name": "شرکت نمونه", "phones": ["۰۲۱ ۸۸۸۸ ۱۲۳۴"]},
    )


def target(url: str, secret: str, **options: Any) -> WebhookTarget:
    return WebhookTarget.model_validate({"url": url, "secret": secret, **options})


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


Handler = Callable[[httpx.Request], httpx.Response]


def mocked(handler: Handler, secret: str, **options: Any) -> tuple[WebhookSender, list[Any]]:
    """A sender whose requests ``handler`` answers; the list collects the requests."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.Client(transport=httpx.MockTransport(record))
    return WebhookSender(target("https://erp.example/hooks", secret, **options), client), seen


# -- secrets ---------------------------------------------------------------------


def test_a_standard_webhooks_secret_is_accepted(webhook_secret: str) -> None:
    assert target("https://erp.example/h", webhook_secret).secret.get_secret_value() == (
        webhook_secret
    )


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (base64.b64encode(b"k" * 32).decode(), "must start with whsec_"),
        ("whsec_" + base64.b64encode(b"k" * 16).decode(), "at least 24 bytes"),
        ("whsec_", "at least 24 bytes"),
    ],
    ids=["no-prefix", "short", "empty"],
)
def test_bad_secrets_are_refused_without_echoing_them(secret: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        target("https://erp.example/h", secret)
    [error] = raised.value.errors()
    assert error["loc"] == ("secret",)
    assert reason in error["msg"]
    assert secret not in str(error["msg"])


@pytest.mark.parametrize("url", ["erp.example/hooks", "ftp://erp.example/hooks", ""])
def test_a_bad_url_is_refused(url: str, webhook_secret: str) -> None:
    with pytest.raises(ValidationError) as raised:
        target(url, webhook_secret)
    assert [error["loc"] for error in raised.value.errors()] == [("url",)]


def test_the_batch_size_is_bounded(webhook_secret: str) -> None:
    for size in (0, 1001):
        with pytest.raises(ValidationError):
            target("https://erp.example/h", webhook_secret, batch=True, max_batch=size)


# -- one document per request --------------------------------------------------------


def test_a_document_is_signed_and_verified_by_the_receiver(
    receiver: Receiver, webhook_secret: str, http: httpx.Client
) -> None:
    sender = WebhookSender(target(receiver.url + "/crm", webhook_secret), http)
    [result] = sender.push([document()])
    assert result == PushResult(external_id="ext-C-1")
    [delivery] = receiver.deliveries
    assert (delivery.type, delivery.id, delivery.version, delivery.path) == (
        "customer",
        "C-1",
        1,
        "/crm",
    )
    assert delivery.idempotency_key == "crm-sync-finance-customer-C-1-1"
    assert delivery.webhook_id == delivery.idempotency_key
    assert delivery.document == json.loads(json.dumps(document_body(document())))
    assert delivery.data == {"name": "شرکت نمونه", "phones": ["۰۲۱ ۸۸۸۸ ۱۲۳۴"]}
    assert delivery.document["occurred_at"] == "2024-03-20T06:00:00+00:00"
    assert receiver.counters.rejected == 0


def test_a_repeated_document_is_stored_once(
    receiver: Receiver, webhook_secret: str, http: httpx.Client
) -> None:
    sender = WebhookSender(target(receiver.url, webhook_secret), http)
    first = sender.push([document()])
    second = sender.push([document()])
    assert first == second == [PushResult(external_id="ext-C-1")]
    assert len(receiver.deliveries) == 1
    assert receiver.counters.duplicates == 1


def test_a_wrong_secret_is_refused_by_the_receiver_as_permanent(
    receiver: Receiver, http: httpx.Client
) -> None:
    other = "whsec_" + base64.b64encode(b"another key of 32 bytes length!!").decode()
    sender = WebhookSender(target(receiver.url, other), http)
    with pytest.raises(PermanentError, match="HTTP 401"):
        sender.push([document()])
    assert receiver.deliveries == []
    assert receiver.counters.rejected == 1


def test_the_signature_verifies_with_the_standardwebhooks_library(webhook_secret: str) -> None:
    sender, seen = mocked(lambda request: httpx.Response(204), webhook_secret)
    assert sender.push([document()]) == [PushResult(external_id=None)]
    [request] = seen
    headers = dict(request.headers)
    body = request.content
    verified = Webhook(webhook_secret).verify(body, headers)
    assert verified["id"] == "C-1"
    assert headers["idempotency-key"] == headers["webhook-id"] == "crm-sync-finance-customer-C-1-1"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["user-agent"].startswith("crm-sync")
    assert "شرکت نمونه".encode() in body
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_secret).verify(body.replace(b"C-1", b"C-2"), headers)
    other = "whsec_" + base64.b64encode(b"another key of 32 bytes length!!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_a_body_is_compact_utf8_json_as_the_standard_library_writes_it(
    webhook_secret: str,
) -> None:
    sender, seen = mocked(lambda request: httpx.Response(204), webhook_secret)
    payload = {"name": "شرکت «نمونه»", "lines": [{"qty": 2, "price": "1250.50"}], "note": None}
    sender.push([document(**payload)])
    [request] = seen
    expected = json.dumps(
        document_body(document(**payload)), ensure_ascii=False, separators=(",", ":")
    )
    assert request.content == expected.encode()


def test_a_payload_json_cannot_encode_fails_the_push_and_sends_nothing(
    webhook_secret: str,
) -> None:
    """A plugin's mapping that holds something JSON has no form for fails as a plugin error."""
    sender, seen = mocked(lambda request: httpx.Response(204), webhook_secret)
    with pytest.raises(TypeError) as raised:
        sender.push([document(amount={1, 2})])
    assert seen == []
    failure = classify_exception(raised.value)
    assert isinstance(failure, PermanentError)
    assert "not JSON serializable" in str(failure)


@pytest.mark.parametrize(
    ("response", "external_id"),
    [
        (httpx.Response(200, json={"external_id": "ACC-1"}), "ACC-1"),
        (httpx.Response(201, json={"external_id": 42}), "42"),
        (httpx.Response(200, json={"ok": True}), None),
        (httpx.Response(200, json=["ACC-1"]), None),
        (httpx.Response(200, text="accepted"), None),
        (httpx.Response(204), None),
    ],
    ids=["string", "number", "absent", "not-an-object", "not-json", "empty"],
)
def test_the_external_id_is_read_from_a_2xx_answer(
    webhook_secret: str, response: httpx.Response, external_id: str | None
) -> None:
    sender, _ = mocked(lambda request: response, webhook_secret)
    assert sender.push([document()]) == [PushResult(external_id=external_id)]


def test_a_failing_answer_raises_its_class(webhook_secret: str) -> None:
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "12"}),
            httpx.Response(422, json={"error": "کد اقتصادی لازم است"}),
        ]
    )
    sender, _ = mocked(lambda request: next(answers), webhook_secret)
    with pytest.raises(TransientError) as transient:
        sender.push([document()])
    assert transient.value.retry_after == 12.0
    with pytest.raises(PermanentError, match="کد اقتصادی لازم است"):
        sender.push([document()])


def test_the_receiver_answering_503_is_transient(
    receiver: Receiver, webhook_secret: str, http: httpx.Client
) -> None:
    receiver.throttle(retry_after=7, count=1)
    sender = WebhookSender(target(receiver.url, webhook_secret), http)
    with pytest.raises(TransientError) as raised:
        sender.push([document()])
    assert raised.value.retry_after == 7.0
    assert sender.push([document()]) == [PushResult(external_id="ext-C-1")]


def test_a_receiver_that_is_down_raises_a_transport_error(
    webhook_secret: str, http: httpx.Client
) -> None:
    with Receiver(webhook_secret) as receiver:
        url = receiver.url
    sender = WebhookSender(target(url, webhook_secret), http)
    with pytest.raises(httpx.TransportError):
        sender.push([document()])


# -- batches ---------------------------------------------------------------------


def test_a_batch_is_one_signed_array_with_one_result_per_document(
    receiver: Receiver, webhook_secret: str, http: httpx.Client
) -> None:
    sender = WebhookSender(target(receiver.url, webhook_secret, batch=True), http)
    documents = [document(f"C-{number}") for number in range(1, 4)]
    results = sender.push(documents)
    assert results == [PushResult(external_id=f"ext-C-{number}") for number in range(1, 4)]
    assert receiver.counters.requests == 1
    assert [d.idempotency_key for d in receiver.deliveries] == [
        d.idempotency_key for d in documents
    ]
    assert len({d.webhook_id for d in receiver.deliveries}) == 1
    assert receiver.deliveries[0].webhook_id.startswith("crm-sync-batch-")


def test_a_batch_id_depends_on_its_documents(webhook_secret: str) -> None:
    sender, seen = mocked(
        lambda request: httpx.Response(200, json=[{"status": 200}] * 2),
        webhook_secret,
        batch=True,
    )
    sender.push([document("C-1"), document("C-2")])
    sender.push([document("C-1"), document("C-2")])
    sender.push([document("C-1"), document("C-2", version=2)])
    ids = [request.headers["webhook-id"] for request in seen]
    assert ids[0] == ids[1] != ids[2]
    assert json.loads(seen[0].content)[1]["idempotency_key"] == "crm-sync-finance-customer-C-2-1"


def test_a_refused_document_in_a_batch_is_permanent_and_the_others_succeed(
    receiver: Receiver, webhook_secret: str, http: httpx.Client
) -> None:
    receiver.reject(["C-2"], reason="economic code missing")
    sender = WebhookSender(target(receiver.url, webhook_secret, batch=True), http)
    first, second, third = sender.push([document("C-1"), document("C-2"), document("C-3")])
    assert (first.external_id, third.external_id) == ("ext-C-1", "ext-C-3")
    assert first.error is None and third.error is None
    assert isinstance(second.error, PermanentError)
    assert str(second.error) == "HTTP 422 for this document: economic code missing"
    assert sorted(d.id for d in receiver.deliveries) == ["C-1", "C-3"]


def test_per_document_statuses_are_classified(webhook_secret: str) -> None:
    answer = [
        {"status": 200, "external_id": "ACC-1"},
        {"status": 503, "error": "ledger locked"},
        {"status": 422, "error": "bad phone"},
        {"status": 429},
        {"external_id": "ACC-5"},
        "not an object",
        {"status": "ok"},
    ]
    sender, _ = mocked(lambda request: httpx.Response(200, json=answer), webhook_secret, batch=True)
    results = sender.push([document(f"C-{number}") for number in range(1, 8)])
    assert results[0] == PushResult(external_id="ACC-1")
    assert isinstance(results[1].error, TransientError)
    assert str(results[1].error) == "HTTP 503 for this document: ledger locked"
    assert isinstance(results[2].error, PermanentError)
    assert not isinstance(results[2].error, TransientError)
    assert isinstance(results[3].error, TransientError)
    assert str(results[3].error) == "HTTP 429 for this document: status 429"
    assert results[4] == PushResult(external_id="ACC-5")
    assert isinstance(results[5].error, TransientError)
    assert isinstance(results[6].error, TransientError)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json=[{"status": 200}]),
        httpx.Response(200, json={"status": 200}),
        httpx.Response(200, text="ok"),
        httpx.Response(204),
    ],
    ids=["too-few", "object", "not-json", "empty"],
)
def test_a_malformed_batch_answer_is_transient(
    webhook_secret: str, response: httpx.Response
) -> None:
    sender, _ = mocked(lambda request: response, webhook_secret, batch=True)
    with pytest.raises(TransientError, match="without one result per document"):
        sender.push([document("C-1"), document("C-2")])


def test_a_failed_batch_request_raises_for_the_whole_batch(webhook_secret: str) -> None:
    answers = iter([httpx.Response(502), httpx.Response(400, text="not an array we accept")])
    sender, _ = mocked(lambda request: next(answers), webhook_secret, batch=True)
    with pytest.raises(TransientError):
        sender.push([document("C-1"), document("C-2")])
    with pytest.raises(PermanentError, match="not an array we accept"):
        sender.push([document("C-1"), document("C-2")])


def test_batches_are_split_at_max_batch(webhook_secret: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        documents = json.loads(request.content)
        return httpx.Response(200, json=[{"external_id": d["id"]} for d in documents])

    sender, seen = mocked(answer, webhook_secret, batch=True, max_batch=2)
    results = sender.push([document(f"C-{number}") for number in range(1, 6)])
    assert [result.external_id for result in results] == [f"C-{n}" for n in range(1, 6)]
    assert [len(json.loads(request.content)) for request in seen] == [2, 2, 1]
    for request in seen:
        Webhook(webhook_secret).verify(request.content, dict(request.headers))
