"""Outbound messages through the sync engine to the Cloud API double on loopback.

The window, templates, the wamid and callback id, each class of Meta's error codes,
the token hold, and sends whose outcome is unknown (never sent twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from core.api.app import create_app
from core.db.sync_tables import SyncState
from core.sync.pause import health_of, pause_of, resume_plugin
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from core.testing.whatsapp_api import CloudApi
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import IRAN, TOKEN, apply_all, post, put, record


@pytest.fixture
def make(
    make_whatsapp: Callable[..., SyncRuntime], api: CloudApi
) -> Callable[..., tuple[SyncRuntime, TestClient]]:
    clients: list[TestClient] = []

    def build(**overrides: Any) -> tuple[SyncRuntime, TestClient]:
        # One customer gets several messages here: the pair limit is tested on its own
        # (test_rate_limits.py), Meta's 131056 answer to it here.
        overrides.setdefault("pair_interval_seconds", 0)
        runtime = make_whatsapp(graph_url=api.graph_url, access_token=TOKEN, **overrides)
        client = TestClient(create_app(runtime, background=False))
        client.__enter__()
        clients.append(client)
        put(
            runtime,
            "customer",
            "C-1",
            {"type": "person", "name": "مشتری", "phones": ["09121234567"]},
        )
        return runtime, client

    yield build  # type: ignore[misc]
    for client in clients:
        client.__exit__(None, None, None)


def customer_wrote(client: TestClient, runtime: SyncRuntime, hours_ago: float) -> None:
    at = int(time.time() - hours_ago * 3600)
    post(client, meta.envelope(meta.messages_value([meta.text(IRAN, "سلام", timestamp=at)])))
    apply_all(runtime)


def write(runtime: SyncRuntime, record_id: str = "M-1", **fields: Any) -> None:
    body = {
        "customer_id": "C-1",
        "channel": "whatsapp",
        "direction": "outbound",
        "occurred_at": "2026-05-01T09:00:00+03:30",
        "text": "سفارش شما آماده است",
        **fields,
    }
    put(runtime, "interaction", record_id, body)


def sync(runtime: SyncRuntime, rounds: int = 30) -> None:
    """Run the plugin's due deliveries, waiting out short backoffs, until none is left."""
    for _ in range(rounds):
        waiting = _waiting(runtime)
        if not waiting:
            return
        runtime.sync.process("whatsapp", waiting)
        time.sleep(0.05)


def _waiting(runtime: SyncRuntime) -> list[tuple[str, str]]:
    """The deliveries of the plugin still to be sent (one push each: no batches)."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            select(SyncState.kind, SyncState.record_id).where(
                SyncState.plugin == "whatsapp", SyncState.state.in_(("pending", "failed"))
            )
        )
        return [(row.kind, row.record_id) for row in rows]


def delivery(runtime: SyncRuntime, record_id: str = "M-1") -> Any:
    with runtime.engine.connect() as connection:
        return connection.execute(
            select(SyncState.__table__).where(
                SyncState.plugin == "whatsapp",
                SyncState.kind == "interaction",
                SyncState.record_id == record_id,
            )
        ).one()


def test_text_inside_the_window_is_sent_once_with_its_callback_id(make: Any, api: CloudApi) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=2)
    write(runtime)
    sync(runtime)
    assert len(api.sent) == 1, delivery(runtime)
    (sent,) = api.sent
    assert sent.body["to"] == "+989121234567" and sent.body["type"] == "text"
    assert sent.body["text"] == {"body": "سفارش شما آماده است", "preview_url": False}
    assert sent.body["biz_opaque_callback_data"] == "M-1"
    # One write of the record (the in-flight mark), and no delivery queued back by it.
    row = delivery(runtime)
    assert (row.state, row.external_id, row.wanted_version) == ("synced", sent.wamid, 1)
    stored = record(runtime, "interaction", "M-1")
    assert stored is not None and stored["delivery_status"] == "pending"
    assert stored["external_message_id"] is None
    # The first status (found by its wamid on the delivery) puts the wamid on the record.
    post(client, meta.envelope(meta.statuses_value([meta.status(sent.wamid, "delivered", IRAN)])))
    apply_all(runtime)
    assert _waiting(runtime) == []
    settled = record(runtime, "interaction", "M-1")
    assert settled is not None and settled["delivery_status"] == "delivered"
    assert settled["external_message_id"] == sent.wamid
    assert len(api.sent) == 1 and api.attempts == 1


def test_a_sent_message_changed_before_its_first_status_is_not_sent_again(
    make: Any, api: CloudApi
) -> None:
    """The wamid is on the delivery only until Meta's first status: that is enough."""
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=2)
    write(runtime)
    sync(runtime)
    (sent,) = api.sent
    write(runtime, text="سفارش شما آماده است (ویرایش شد)")
    sync(runtime)
    assert len(api.sent) == 1 and api.attempts == 1, "never sent twice"
    row = delivery(runtime)
    # Version 2 is the in-flight mark, version 3 the agent's change.
    assert (row.state, row.external_id, row.wanted_version) == ("synced", sent.wamid, 3)
    assert row.note == f"already sent as {sent.wamid}"


def test_a_reply_quotes_the_customer_s_message(make: Any, api: CloudApi) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=0.1)
    write(runtime, reply_to="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=")
    sync(runtime)
    assert api.sent[0].body["context"] == {
        "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    }


def test_free_text_outside_the_window_is_refused_before_any_call(make: Any, api: CloudApi) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=25)
    write(runtime)
    put(runtime, "lead", "L-2", {"contact_name": "سارا", "phones": ["09351112233"]})
    write(runtime, "M-2", customer_id=None, lead_id="L-2")
    sync(runtime)
    row = delivery(runtime)
    assert row.state == "dead" and "outside the 24-hour window" in row.last_error
    assert "last wrote at" in row.last_error
    assert "has never written" in delivery(runtime, "M-2").last_error
    assert api.attempts == 0


def test_outside_the_window_the_re_engagement_template_is_sent(make: Any, api: CloudApi) -> None:
    runtime, client = make(reengagement_template="order_update", reengagement_language="fa")
    customer_wrote(client, runtime, hours_ago=30)
    write(runtime)
    sync(runtime)
    (sent,) = api.sent
    assert sent.body["type"] == "template"
    assert sent.body["template"] == {"name": "order_update", "language": {"code": "fa"}}


def test_a_record_can_ask_for_a_template_with_its_parameters(make: Any, api: CloudApi) -> None:
    runtime, _ = make()
    template = {
        "name": "delivery_promise",
        "language": "fa",
        "components": [
            {"type": "body", "parameters": ["رضا", "۱۴۰۵/۰۳/۱۰"]},
            {"type": "button", "index": 0, "sub_type": "quick_reply", "parameters": ["OK"]},
        ],
    }
    write(runtime, text=None, content={"type": "template", "template": template})
    sync(runtime)
    (sent,) = api.sent
    assert sent.body["template"] == {
        "name": "delivery_promise",
        "language": {"code": "fa"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "رضا"},
                    {"type": "text", "text": "۱۴۰۵/۰۳/۱۰"},
                ],
            },
            {
                "type": "button",
                "parameters": [{"type": "text", "text": "OK"}],
                "sub_type": "quick_reply",
                "index": "0",
            },
        ],
    }


@pytest.mark.parametrize("code", [130429, 4, 80007, 131056, 1, 2, 131000, 131016])
def test_a_retried_code_is_sent_once_after_the_error(make: Any, api: CloudApi, code: int) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=1)
    api.fail(code)
    write(runtime)
    runtime.sync.process("whatsapp", _waiting(runtime))
    row = delivery(runtime)
    assert row.state == "failed" and f"WhatsApp error {code}" in row.last_error
    with runtime.engine.begin() as connection:
        connection.execute(SyncState.__table__.update().values(due_at=SyncState.updated_at))
    sync(runtime)
    assert len(api.sent) == 1 and api.attempts == 2
    assert delivery(runtime).state == "synced"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (131047, "more than 24 hours have passed"),
        (131026, "cannot be delivered"),
        (131048, "spam"),
        (131049, "chose not to deliver"),
        (131050, "stopped marketing"),
        (132001, "template does not exist"),
        (132000, "parameters do not match"),
        (100, "malformed"),
        (131008, "required parameter is missing"),
        (131009, "value is not valid"),
    ],
)
def test_a_final_code_is_dead_at_once_in_plain_words(
    make: Any, api: CloudApi, code: int, words: str
) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=1)
    api.fail(code)
    write(runtime)
    sync(runtime)
    row = delivery(runtime)
    assert row.state == "dead" and words in row.last_error and str(code) in row.last_error
    assert api.attempts == 1 and api.sent == []
    assert record(runtime, "interaction", "M-1")["delivery_status"] is None  # type: ignore[index]


def test_an_expired_token_holds_sending_instead_of_burning_attempts(
    make: Any, api: CloudApi
) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=1)
    api.fail(190, count=1)
    write(runtime)
    write(runtime, "M-2", text="دومی")
    runtime.sync.process("whatsapp", _waiting(runtime))
    pause = pause_of(runtime.engine, "whatsapp")
    assert pause is not None and "190" in pause.reason
    assert health_of(runtime.engine, runtime.host, "whatsapp").ok is False
    assert api.attempts == 1
    runtime.sync.process("whatsapp", _waiting(runtime))
    assert api.attempts == 1
    assert {delivery(runtime, rid).state for rid in ("M-1", "M-2")} <= {"pending", "failed"}
    resume_plugin(runtime.engine, "whatsapp")
    sync(runtime)
    assert sorted(sent.body["biz_opaque_callback_data"] for sent in api.sent) == ["M-1", "M-2"]


def test_a_refused_connection_is_retried_because_nothing_left(
    make_whatsapp: Callable[..., SyncRuntime],
) -> None:
    runtime = make_whatsapp(graph_url="http://127.0.0.1:9/v24.0", access_token=TOKEN)
    put(runtime, "customer", "C-1", {"type": "person", "name": "مشتری", "phones": ["09121234567"]})
    write(
        runtime,
        text=None,
        content={"type": "template", "template": {"name": "hello", "language": "fa"}},
    )
    runtime.sync.process("whatsapp", _waiting(runtime))
    row = delivery(runtime)
    assert row.state == "failed" and "never left" in row.last_error
    assert record(runtime, "interaction", "M-1")["delivery_status"] is None  # type: ignore[index]


def test_a_send_whose_answer_never_came_is_in_doubt_not_sent_again_and_settled_by_status(
    make: Any, api: CloudApi
) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=1)
    api.stall(1.5)
    write(runtime)
    sync(runtime)
    row = delivery(runtime)
    assert row.state == "dead" and "in doubt" in row.last_error
    (sent,) = api.sent
    assert api.attempts == 1
    stored = record(runtime, "interaction", "M-1")
    assert stored is not None and stored["delivery_status"] == "pending"
    post(
        client,
        meta.envelope(
            meta.statuses_value([meta.status(sent.wamid, "sent", IRAN, callback_data="M-1")])
        ),
    )
    apply_all(runtime)
    sync(runtime)
    settled = record(runtime, "interaction", "M-1")
    assert settled is not None and settled["delivery_status"] == "sent"
    assert settled["external_message_id"] == sent.wamid
    assert delivery(runtime).state == "synced"
    assert api.attempts == 1


def test_a_worker_that_died_mid_send_leaves_the_message_in_doubt(make: Any, api: CloudApi) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=1)
    write(runtime)
    # What a worker killed after marking the message and before its answer leaves behind.
    runtime.host.context("whatsapp").store().update(
        "interaction",
        "M-1",
        {"delivery_status": "pending", "status_at": "2026-05-01T09:00:01+00:00"},
    )
    sync(runtime)
    row = delivery(runtime)
    assert row.state == "dead" and "in doubt" in row.last_error
    assert api.attempts == 0


def test_other_interactions_are_passed_with_a_note(make: Any, api: CloudApi) -> None:
    runtime, client = make()
    write(runtime, channel="call")
    customer_wrote(client, runtime, hours_ago=1)
    sync(runtime)
    row = delivery(runtime)
    assert row.state == "synced" and "outbound call interaction is not sent" in (row.note or "")
    assert api.attempts == 0


def test_the_pair_limit_delays_that_message_only_and_the_others_go_on(
    make: Any, api: CloudApi
) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=1)
    api.fail(131056)
    write(runtime, "M-1")
    write(runtime, "M-2", text="دومی")
    runtime.sync.process("whatsapp", _waiting(runtime))
    first = delivery(runtime, "M-1")
    assert first.state == "failed" and "131056" in first.last_error
    assert (first.due_at - first.updated_at).total_seconds() >= 5.9
    assert [sent.body["biz_opaque_callback_data"] for sent in api.sent] == ["M-2"]
    sync(runtime, rounds=5)
    assert delivery(runtime, "M-2").state == "synced"
    assert delivery(runtime, "M-1").state == "failed" and len(api.sent) == 1


def test_a_refusal_of_one_message_in_a_batch_leaves_the_others_sent(
    make: Any, api: CloudApi
) -> None:
    runtime, client = make()
    customer_wrote(client, runtime, hours_ago=1)
    api.fail(131026)
    for number in range(1, 5):
        write(runtime, f"M-{number}", text=f"پیام {number}")
    sync(runtime)
    states = [delivery(runtime, f"M-{number}").state for number in range(1, 5)]
    assert states.count("dead") == 1 and states.count("synced") == 3
    assert len(api.sent) == 3 and api.attempts == 4
