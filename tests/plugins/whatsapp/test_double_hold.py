"""The Cloud API double holds its answers until another double has accepted a message."""

from __future__ import annotations

import threading
import time

import httpx

from core.testing import whatsapp as meta
from core.testing.whatsapp_api import CloudApi

TOKEN = "EAAG-hold"
BODY = {
    "messaging_product": "whatsapp",
    "to": "+989121234567",
    "type": "template",
    "template": {"name": "hello", "language": {"code": "fa"}},
}


def _send(api: CloudApi, answers: list[float]) -> None:
    url = f"{api.graph_url}/{meta.PHONE_NUMBER_ID}/messages"
    headers = {"authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, json=BODY, headers=headers, timeout=10).status_code == 200
    answers.append(time.monotonic())


def test_answers_wait_for_the_other_double_and_the_message_counts_at_once() -> None:
    with CloudApi(token=TOKEN) as first, CloudApi(token=TOKEN) as second:
        first.hold_until_accepted_by(second, at_most=10)
        answers: list[float] = []
        held = threading.Thread(target=_send, args=(first, answers))
        held.start()
        deadline = time.monotonic() + 5
        while not first.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(first.sent) == 1 and answers == []
        released = time.monotonic()
        _send(second, [])
        held.join(5)
        assert len(answers) == 1 and answers[0] >= released


def test_a_hold_is_bounded() -> None:
    with CloudApi(token=TOKEN) as first, CloudApi(token=TOKEN) as second:
        first.hold_until_accepted_by(second, at_most=0.2)
        started = time.monotonic()
        _send(first, [])
        assert 0.2 <= time.monotonic() - started < 5 and second.sent == []
