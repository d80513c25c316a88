"""Meta's throughput limits, taken in the database before the call; on SQLite and PostgreSQL.

The phone number's limit (``messages_per_second``) and the pair limit (one message to
one recipient every ``pair_interval_seconds``): a message over a limit waits as a
delivery, without spending an attempt, while the others go on.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from core.db.sync_tables import RateSlot, SyncState
from core.sync.rate import reserve
from core.sync.runtime import SyncRuntime
from core.testing.whatsapp_api import CloudApi
from plugins.whatsapp.outbound import limits
from plugins.whatsapp.settings import WhatsAppSettings
from tests.plugins.whatsapp.conftest import TOKEN, put

TEMPLATE = {"type": "template", "template": {"name": "order_ready", "language": "fa"}}


@pytest.fixture
def make(make_whatsapp: Callable[..., SyncRuntime], api: CloudApi) -> Callable[..., SyncRuntime]:
    def build(**overrides: Any) -> SyncRuntime:
        return make_whatsapp(graph_url=api.graph_url, access_token=TOKEN, **overrides)

    return build


def customers(runtime: SyncRuntime, count: int) -> None:
    for number in range(count):
        phone = f"0912{number:07d}"
        put(runtime, "customer", f"C-{number}", {"type": "person", "name": "م", "phones": [phone]})


def message(runtime: SyncRuntime, record_id: str, customer: int) -> None:
    """A template message (no window needed) to one customer."""
    body = {
        "customer_id": f"C-{customer}",
        "channel": "whatsapp",
        "direction": "outbound",
        "occurred_at": "2026-05-01T09:00:00+03:30",
        "content": TEMPLATE,
    }
    put(runtime, "interaction", record_id, body)


def deliveries(runtime: SyncRuntime) -> dict[str, Any]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(select(SyncState.__table__).where(SyncState.plugin == "whatsapp"))
        return {row.record_id: row for row in rows}


def due(runtime: SyncRuntime) -> list[tuple[str, str]]:
    return [
        ("interaction", record_id)
        for record_id, row in deliveries(runtime).items()
        if row.state in ("pending", "failed")
    ]


def drain(runtime: SyncRuntime) -> None:
    """Run the deliveries until none is left, waiting for those the rate limits hold back."""
    for _ in range(20):
        left = [row for row in deliveries(runtime).values() if row.state in ("pending", "failed")]
        if not left:
            return
        wait = (min(row.due_at for row in left) - datetime.now(UTC)).total_seconds()
        time.sleep(min(max(wait, 0.0), 2.0))
        runtime.sync.process("whatsapp", due(runtime))


def sent_to(api: CloudApi) -> list[str]:
    return [str(sent.body["biz_opaque_callback_data"]) for sent in api.sent]


def test_the_defaults_are_meta_s_80_a_second_and_6_seconds_per_recipient() -> None:
    settings = WhatsAppSettings(phone_number_id="1234")
    assert limits(settings, "989121234567") == [
        ("number:1234", 1 / 80),
        ("to:1234:989121234567", 6.0),
    ]
    off = WhatsAppSettings(phone_number_id="1234", pair_interval_seconds=0)
    assert limits(off, "989121234567") == [("number:1234", 1 / 80)]
    with pytest.raises(ValueError):
        WhatsAppSettings(messages_per_second=0)
    with pytest.raises(ValueError):
        WhatsAppSettings(pair_interval_seconds=-1)


def test_a_reservation_is_all_or_none_and_spaces_each_key(runtime: SyncRuntime) -> None:
    engine = runtime.engine
    first = reserve(engine, [("pair", 6.0), ("number", 0.5)], now=100.0)
    assert (first.granted, first.wait) == (True, 0.0)
    again = reserve(engine, [("pair", 6.0)], now=101.0)
    assert (again.granted, again.wait) == (False, 5.0)
    # The number's next moment is 0.5 s away: granted within max_wait, and the other
    # key of the same send is taken from that moment, not from now.
    later = reserve(engine, [("number", 0.5), ("other", 6.0)], now=100.0, max_wait=1.0)
    assert (later.granted, later.wait) == (True, 0.5)
    refused = reserve(engine, [("fresh", 6.0), ("other", 6.0)], now=101.0)
    assert not refused.granted and refused.wait == pytest.approx(5.5)
    # The refusal took nothing: "fresh" is still free.
    assert reserve(engine, [("fresh", 6.0)], now=101.0).granted
    with engine.connect() as connection:
        slots = dict(connection.execute(select(RateSlot.key, RateSlot.next_at)).all())
    assert slots == {"pair": 106.0, "number": 101.0, "other": 106.5, "fresh": 107.0}
    with pytest.raises(ValueError):
        reserve(engine, [("", 1.0)])
    with pytest.raises(ValueError):
        reserve(engine, [("k" * 256, 1.0)])
    with pytest.raises(ValueError):
        reserve(engine, [("negative", -1.0)])


def test_threads_reserving_at_once_never_share_a_moment(runtime: SyncRuntime) -> None:
    interval = 0.01
    moments: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def take() -> None:
        try:
            for _ in range(15):
                now = time.time()
                turn = reserve(runtime.engine, [("shared", interval)], max_wait=60.0, now=now)
                assert turn.granted
                with lock:
                    moments.append(now + turn.wait)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    moments.sort()
    assert len(moments) == 60
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    assert min(gaps) >= interval - 1e-6


def test_a_second_message_to_one_recipient_waits_without_an_attempt_and_others_go_on(
    make: Callable[..., SyncRuntime], api: CloudApi
) -> None:
    runtime = make(pair_interval_seconds=2.0)
    customers(runtime, 2)
    message(runtime, "M-1", customer=0)
    message(runtime, "M-2", customer=0)
    message(runtime, "M-3", customer=1)
    runtime.sync.process("whatsapp", due(runtime))
    first_pass = sorted(sent_to(api))
    waiting_id = ({"M-1", "M-2"} - set(first_pass)).pop()
    assert first_pass == sorted([({"M-1", "M-2"} - {waiting_id}).pop(), "M-3"])
    assert api.attempts == 2, "the waiting message was never offered to Meta"
    waiting = deliveries(runtime)[waiting_id]
    assert waiting.state == "pending" and waiting.attempts == 0
    assert waiting.error_class == "waiting"
    assert waiting.last_error.startswith("waiting: rate limit")
    assert "one message to +989120000000 every 2 s" in waiting.last_error
    assert 1.0 <= (waiting.due_at - waiting.updated_at).total_seconds() <= 2.1

    runtime.sync.process("whatsapp", due(runtime))
    assert len(api.sent) == 2, "not due yet: nothing sent"
    time.sleep(2.1)
    drain(runtime)
    assert sorted(sent_to(api)) == ["M-1", "M-2", "M-3"]
    assert {row.state for row in deliveries(runtime).values()} == {"synced"}
    to_first = [sent.received_at for sent in api.sent if sent.body["to"] == "+989120000000"]
    assert to_first[1] - to_first[0] >= 2.0


def test_the_number_s_rate_spaces_every_send(
    make: Callable[..., SyncRuntime], api: CloudApi
) -> None:
    runtime = make(messages_per_second=5)
    customers(runtime, 10)
    for number in range(10):
        message(runtime, f"M-{number}", customer=number)
    drain(runtime)
    assert sorted(sent_to(api)) == sorted(f"M-{number}" for number in range(10))
    assert api.attempts == 10, "each message was offered to Meta once"
    # Each call starts at its moment (0.2 s apart) or later; the first call's arrival
    # may lag its moment, hence the slack.
    moments = sorted(sent.received_at for sent in api.sent)
    assert moments[-1] - moments[0] >= 9 * 0.2 - 0.1


def test_a_number_busy_elsewhere_makes_every_message_wait_without_attempts(
    make: Callable[..., SyncRuntime], api: CloudApi
) -> None:
    runtime = make()
    customers(runtime, 3)
    for number in range(3):
        message(runtime, f"M-{number}", customer=number)
    # Another worker holds the number's next 5 seconds (as a burst of sends would).
    settings = runtime.host.context("whatsapp").settings
    assert isinstance(settings, WhatsAppSettings)
    key = f"whatsapp:number:{settings.phone_number_id}"
    assert reserve(runtime.engine, [(key, 5.0)]).granted
    runtime.sync.process("whatsapp", due(runtime))
    assert api.attempts == 0
    rows = deliveries(runtime)
    assert {row.state for row in rows.values()} == {"pending"}
    assert all(row.attempts == 0 and row.error_class == "waiting" for row in rows.values())
    assert all(4.0 <= (row.due_at - row.updated_at).total_seconds() <= 5.1 for row in rows.values())
    # Nothing was taken by the refused sends: once the number is free, each goes.
    with runtime.engine.begin() as connection:
        connection.execute(update(RateSlot).values(next_at=0.0))
        connection.execute(update(SyncState).values(due_at=SyncState.updated_at))
    drain(runtime)
    assert sorted(sent_to(api)) == ["M-0", "M-1", "M-2"]
