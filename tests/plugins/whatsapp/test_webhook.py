"""Meta's calls to /v1/webhooks/whatsapp: the URL check, the signature on raw bytes, storage."""

from __future__ import annotations

import json
from collections.abc import Callable

from core.api.app import create_app
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from plugins.whatsapp.settings import META_MAX_PAYLOAD
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import APP_SECRET, VERIFY_TOKEN, inbox, post

URL = "/v1/webhooks/whatsapp"
SENDER = "989121234567"


def check(client: TestClient, **query: str) -> object:
    return client.get(URL, params={f"hub.{name}": value for name, value in query.items()})


def test_the_url_check_answers_the_bare_challenge_when_the_token_matches(
    client: TestClient, runtime: SyncRuntime
) -> None:
    answer = check(client, mode="subscribe", verify_token=VERIFY_TOKEN, challenge="1158201444")
    assert answer.status_code == 200  # type: ignore[attr-defined]
    assert answer.text == "1158201444"  # type: ignore[attr-defined]
    assert answer.headers["content-type"].startswith("text/plain")  # type: ignore[attr-defined]
    assert inbox(runtime) == []


def test_the_url_check_is_refused_with_a_wrong_token_or_mode(client: TestClient) -> None:
    refused = [
        check(client, mode="subscribe", verify_token="wrong", challenge="1"),
        check(client, mode="unsubscribe", verify_token=VERIFY_TOKEN, challenge="1"),
        check(client, mode="subscribe", challenge="1"),
        check(client, mode="subscribe", verify_token=VERIFY_TOKEN),
        check(client, mode="subscribe", verify_token=VERIFY_TOKEN, challenge="x" * 300),
        client.get(URL),
    ]
    assert [answer.status_code for answer in refused] == [403] * 6  # type: ignore[attr-defined]
    assert "challenge" not in refused[0].text  # type: ignore[attr-defined]


def test_without_a_verify_token_every_check_is_refused(
    make_whatsapp: Callable[..., SyncRuntime],
) -> None:
    runtime = make_whatsapp(verify_token=None)
    with TestClient(create_app(runtime, background=False)) as client:
        answer = check(client, mode="subscribe", verify_token="", challenge="1")
    assert answer.status_code == 403  # type: ignore[attr-defined]


def test_a_signed_call_with_persian_text_is_stored_as_signed_escaped_or_raw(
    client: TestClient, runtime: SyncRuntime
) -> None:
    escaped = meta.envelope(meta.messages_value([meta.text(SENDER, "سلام، قیمت پمپ؟")]))
    raw = meta.envelope(meta.messages_value([meta.text(SENDER, "ممنون ۱۲۳")]))
    first = post(client, escaped, escaped=True)
    second = post(client, raw, escaped=False)
    assert first.status_code == 200 and first.json() == {"accepted": 1, "duplicates": 0}
    assert second.status_code == 200 and second.json() == {"accepted": 1, "duplicates": 0}
    stored = [row.payload["message"]["text"]["body"] for row in inbox(runtime)]
    assert stored == ["سلام، قیمت پمپ؟", "ممنون ۱۲۳"]


def test_a_signature_over_re_serialised_json_is_refused(
    client: TestClient, runtime: SyncRuntime
) -> None:
    body = meta.envelope(meta.messages_value([meta.text(SENDER, "سلام")]))
    sent = meta.serialise(body, escaped=True)
    resigned = meta.signature(json.dumps(body, ensure_ascii=False).encode(), APP_SECRET)
    answer = client.post(
        URL,
        content=sent,
        headers={"content-type": "application/json", "x-hub-signature-256": resigned},
    )
    assert answer.status_code == 401
    assert inbox(runtime) == []


def test_a_missing_wrong_or_malformed_signature_is_401_and_stores_nothing(
    client: TestClient, runtime: SyncRuntime
) -> None:
    body = meta.envelope(meta.messages_value([meta.text(SENDER, "hello")]))
    content = meta.serialise(body)
    good = meta.signature(content, APP_SECRET)
    headers = [
        {},
        {"x-hub-signature-256": meta.signature(content, "another-secret")},
        {"x-hub-signature-256": good.removeprefix("sha256=")},
        {"x-hub-signature-256": "sha1=" + good.removeprefix("sha256=")},
        {"x-hub-signature-256": good[:-2]},
        {"x-hub-signature-256": meta.signature(content + b" ", APP_SECRET)},
    ]
    for extra in headers:
        answer = client.post(
            URL, content=content, headers={"content-type": "application/json", **extra}
        )
        assert answer.status_code == 401, extra
        assert answer.json()["type"].endswith("bad-signature")
    assert inbox(runtime) == []


def test_a_forged_call_is_401_whatever_its_body_holds(
    client: TestClient, runtime: SyncRuntime
) -> None:
    for content in (b"not json", b'{"a": "\\u0000"}', b"[" * 5000):
        answer = client.post(
            URL,
            content=content,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": "sha256=" + "0" * 64,
            },
        )
        assert answer.status_code == 401
    assert inbox(runtime) == []


def test_a_signed_body_that_is_not_meta_s_envelope_is_refused(
    client: TestClient, runtime: SyncRuntime
) -> None:
    bodies = [
        b"not json",
        b'{"object": "page", "entry": []}',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": 1}]}]}',
        json.dumps(
            meta.envelope({"messages": [{"from": SENDER, "type": "text"}], "contacts": []})
        ).encode(),
    ]
    statuses = []
    for content in bodies:
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": meta.signature(content, APP_SECRET),
        }
        statuses.append(client.post(URL, content=content, headers=headers).status_code)
    assert statuses == [400, 422, 422, 422, 422]
    assert inbox(runtime) == []


def test_every_entry_and_change_of_one_call_is_stored(
    client: TestClient, runtime: SyncRuntime
) -> None:
    first = meta.messages_value([meta.text(SENDER, "a"), meta.text("16505551234", "b")])
    second = meta.statuses_value([meta.status(meta.wamid("x"), "delivered", SENDER)])
    third = meta.errors_value([meta.error(131000, "Something went wrong")])
    body = meta.envelope(first, second)
    body["entry"][0]["changes"].append({"field": "messages", "value": third})
    answer = post(client, body)
    assert answer.json() == {"accepted": 4, "duplicates": 0}
    assert sorted(row.type for row in inbox(runtime)) == ["error", "message", "message", "status"]


def test_a_call_meta_repeats_stores_nothing_twice(client: TestClient, runtime: SyncRuntime) -> None:
    message = meta.text(SENDER, "again")
    body = meta.envelope(
        meta.messages_value([message]),
        meta.statuses_value([meta.status(message["id"], "read", SENDER)]),
    )
    assert post(client, body).json() == {"accepted": 2, "duplicates": 0}
    assert post(client, body).json() == {"accepted": 0, "duplicates": 2}
    again = meta.envelope(meta.messages_value([message]))
    assert post(client, again, escaped=False).json() == {"accepted": 0, "duplicates": 1}
    assert len(inbox(runtime)) == 2


def test_a_full_3_mb_call_is_accepted_and_a_larger_one_is_413(
    client: TestClient, runtime: SyncRuntime
) -> None:
    messages = [meta.text(SENDER, "پ" * 510) for _ in range(1000)]
    body = meta.envelope(meta.messages_value(messages))
    content, headers = meta.signed(body, APP_SECRET)
    assert len(content) > META_MAX_PAYLOAD
    answer = client.post(URL, content=content, headers=headers)
    assert answer.status_code == 200 and answer.json()["accepted"] == 1000
    huge = meta.envelope(meta.messages_value([meta.text(SENDER, "x" * 9000) for _ in range(500)]))
    content, headers = meta.signed(huge, APP_SECRET)
    assert client.post(URL, content=content, headers=headers).status_code == 413
    assert len(inbox(runtime)) == 1000


def test_the_openapi_document_describes_both_methods(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths[URL]) == {"get", "post"}
    body = paths[URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["object"] == {"const": "whatsapp_business_account"}
