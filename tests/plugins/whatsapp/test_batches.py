"""Batches of outbound messages on SQLite and PostgreSQL: one round of database work for each.

A batch reserves its rate-limit moments in one transaction (each message all or none),
writes its in-flight marks in one write committed before any call, reads its
recipients at once, and settles each message by its own outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from core.db.sync_tables import SyncState
from core.kinds import kind_by_type
from core.store import list_records
from core.sync.runtime import SyncRuntime
from core.testing.whatsapp_api import CloudApi
from tests.plugins.whatsapp.conftest import TOKEN, put

TEMPLATE = {"type": "template", "template": {"name": "order_ready", "language": "fa"}}


@pytest.fixture
def make(make_whatsapp: Callable[..., SyncRuntime], api: CloudApi) -> Callable[..., SyncRuntime]:
    def build(**overrides: Any) -> SyncRuntime:
        return make_whatsapp(graph_url=api.graph_url, access_token=TOKEN, **overrides)

    return build


def number(customer: int) -> str:
    """The E.164 number of customer ``customer`` (as the plugin sends it)."""
    return f"+98912{customer:07d}"


def messages(runtime: SyncRuntime, count: int, first: int = 0) -> list[tuple[str, str]]:
    """``count`` template messages from ``first`` on, M-<n> to customer C-<n>; their refs."""
    numbers = range(first, first + count)
    for customer in numbers:
        phone = f"0912{customer:07d}"
        put(
            runtime, "customer", f"C-{customer}", {"type": "person", "name": "م", "phones": [phone]}
        )
        body = {
            "customer_id": f"C-{customer}",
            "channel": "whatsapp",
            "direction": "outbound",
            "occurred_at": "2026-05-01T09:00:00+03:30",
            "content": TEMPLATE,
        }
        put(runtime, "interaction", f"M-{customer}", body)
    return [("interaction", f"M-{customer}") for customer in numbers]


def deliveries(runtime: SyncRuntime) -> dict[str, Any]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(select(SyncState.__table__).where(SyncState.plugin == "whatsapp"))
        return {row.record_id: row for row in rows}


def marks(runtime: SyncRuntime) -> dict[str, str | None]:
    """Each interaction's committed ``delivery_status``, read on a connection of its own."""
    stored = list_records(runtime.engine, kind_by_type("interaction"), after=None, limit=1000)
    return {row.id: row.data.get("delivery_status") for row in stored}


def test_in_a_batch_the_messages_within_the_rate_are_sent_and_the_others_wait(
    make: Callable[..., SyncRuntime], api: CloudApi
) -> None:
    # 4 a second and a second's sleep at most: moments 0, 0.25, 0.5, 0.75 and 1.0 s.
    runtime = make(messages_per_second=4)
    refs = messages(runtime, 8)
    begun = time.time()
    runtime.sync.process("whatsapp", refs)
    sent = sorted(str(message.body["biz_opaque_callback_data"]) for message in api.sent)
    assert len(sent) == 5 and api.attempts == 5
    rows = deliveries(runtime)
    waiting = sorted(set(rows) - set(sent))
    assert len(waiting) == 3
    for record_id in sent:
        assert rows[record_id].state == "synced"
    for record_id in waiting:
        row = rows[record_id]
        assert row.state == "pending" and row.attempts == 0 and row.error_class == "waiting"
        assert row.last_error.startswith("waiting: rate limit") and "at most 4 messages" in (
            row.last_error
        )
        assert 0.0 < (row.due_at - row.updated_at).total_seconds() <= 1.3
        # A message granted no moment took no mark: nothing of it was sent.
        assert marks(runtime)[record_id] is None
    # The fifth moment is a second after the reservation, which came after ``begun``.
    assert max(message.received_at for message in api.sent) >= begun + 1.0
    for _ in range(10):
        left = [row for row in deliveries(runtime).values() if row.state != "synced"]
        if not left:
            break
        pause = (min(row.due_at for row in left) - datetime.now(UTC)).total_seconds()
        time.sleep(min(max(pause, 0.0), 2.0))
        runtime.sync.process("whatsapp", [("interaction", row.record_id) for row in left])
    assert sorted(str(m.body["biz_opaque_callback_data"]) for m in api.sent) == sorted(
        record_id for _, record_id in refs
    )
    assert api.attempts == 8, "each message was offered to Meta once"


def test_each_message_of_a_batch_is_settled_by_its_own_outcome(
    make: Callable[..., SyncRuntime], api: CloudApi
) -> None:
    # No pair limit: M-2's retry a second later is not held back by its first attempt.
    runtime = make(pair_interval_seconds=0)
    refs = messages(runtime, 5)
    api.fail(131047, to=number(1))
    api.fail(130429, to=number(2))
    api.stall(2.5, to=number(3))  # past the push timeout (1 s): its answer is lost
    runtime.sync.process("whatsapp", refs)
    rows = deliveries(runtime)
    accepted = {str(m.body["biz_opaque_callback_data"]): m.wamid for m in api.sent}
    assert sorted(accepted) == ["M-0", "M-3", "M-4"] and api.attempts == 5
    for record_id in ("M-0", "M-4"):
        assert rows[record_id].state == "synced"
        assert rows[record_id].external_id == accepted[record_id]
    dead = rows["M-1"]
    assert dead.state == "dead" and "131047" in dead.last_error
    assert "only an approved template can reach them now" in dead.last_error
    retried = rows["M-2"]
    assert retried.state == "failed" and "130429" in retried.last_error
    doubt = rows["M-3"]
    assert doubt.state == "dead" and "in doubt" in doubt.last_error
    # Refused by Meta: the marks are off. Lost answer: the mark stays, never sent again.
    assert marks(runtime) == {
        "M-0": "pending",
        "M-1": None,
        "M-2": None,
        "M-3": "pending",
        "M-4": "pending",
    }
    # 130429 is retried no sooner than a second later.
    assert (retried.due_at - retried.updated_at).total_seconds() >= 1.0
    time.sleep(max(0.0, (retried.due_at - datetime.now(UTC)).total_seconds()) + 0.05)
    runtime.sync.process("whatsapp", [("interaction", "M-2"), ("interaction", "M-3")])
    assert deliveries(runtime)["M-2"].state == "synced"
    assert deliveries(runtime)["M-3"].state == "dead"
    assert sorted(str(m.body["biz_opaque_callback_data"]) for m in api.sent) == [
        "M-0",
        "M-2",
        "M-3",
        "M-4",
    ]
    assert api.attempts == 6


def test_a_batch_whose_first_call_never_left_is_retried_whole_with_its_marks_off(
    make_whatsapp: Callable[..., SyncRuntime],
) -> None:
    runtime = make_whatsapp(graph_url="http://127.0.0.1:9/v24.0", access_token=TOKEN)
    refs = messages(runtime, 3)
    runtime.sync.process("whatsapp", refs)
    rows = deliveries(runtime)
    for _, record_id in refs:
        assert rows[record_id].state == "failed" and "never left" in rows[record_id].last_error
    assert set(marks(runtime).values()) == {None}


def test_every_mark_of_a_batch_is_committed_before_its_first_call_leaves(
    make: Callable[..., SyncRuntime], api: CloudApi
) -> None:
    runtime = make()
    refs = messages(runtime, 6)
    seen: list[dict[str, str | None]] = []
    lock = threading.Lock()

    def look(body: dict[str, Any]) -> None:
        found = marks(runtime)
        with lock:
            seen.append(found)

    api.observe(look)
    runtime.sync.process("whatsapp", refs)
    assert len(seen) == 6
    for found in seen:
        assert found == {record_id: "pending" for _, record_id in refs}
    assert {row.state for row in deliveries(runtime).values()} == {"synced"}


def test_a_batch_costs_the_same_statements_whatever_its_size(
    make: Callable[..., SyncRuntime], api: CloudApi
) -> None:
    runtime = make()
    counted: list[int] = []

    def run(batch: list[tuple[str, str]]) -> int:
        statements = []

        def count(*_: Any) -> None:
            statements.append(1)

        event.listen(runtime.engine, "before_cursor_execute", count)
        try:
            runtime.sync.process("whatsapp", batch)
        finally:
            event.remove(runtime.engine, "before_cursor_execute", count)
        return len(statements)

    counted.append(run(messages(runtime, 3)))
    counted.append(run(messages(runtime, 12, first=3)))
    assert len(api.sent) == 15
    assert {row.state for row in deliveries(runtime).values()} == {"synced"}
    assert counted[0] == counted[1], (
        f"a batch of 3 took {counted[0]} statements, of 12 {counted[1]}"
    )
