"""A target that cannot be reached: its plugin's messages wait instead of spending attempts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from dramatiq.common import dq_name
from sqlalchemy import select, update

from core.db.sync_tables import FAILED, SYNCED, SyncState
from core.db.types import utcnow
from core.kinds import KINDS
from core.settings import Settings
from core.store import write_record
from core.sync.holds import UnreachableTargets
from core.sync.runtime import SyncRuntime
from core.testing.receiver import Receiver

CUSTOMERS = KINDS["customers"]
REF = ("customer", "C-1")


def test_a_hold_starts_short_and_doubles_with_each_failed_probe_up_to_the_longest() -> None:
    targets = UnreachableTargets(first_seconds=2, longest_seconds=5)
    assert targets.held_for("finance", 0) == 0
    first = targets.failed("finance", 100)
    assert first is not None and (first.until, first.seconds) == (102, 2)
    # Pushes that were running when the hold began fail too: the hold stays as it is.
    assert targets.failed("finance", 101) is None
    assert targets.held_for("finance", 101) == 1
    assert targets.held_for("finance", 102) == 0
    second = targets.failed("finance", 102.5)
    assert second is not None and second.seconds == 4
    third = targets.failed("finance", 107)
    assert third is not None and third.seconds == 5
    assert targets.held_for("other", 107) == 0
    assert targets.reached("finance") is True
    assert targets.held_for("finance", 107) == 0
    assert targets.reached("finance") is False
    again = targets.failed("finance", 200)
    assert again is not None and again.seconds == 2


def test_a_longest_hold_of_zero_never_holds() -> None:
    targets = UnreachableTargets(first_seconds=2, longest_seconds=0)
    assert targets.failed("finance", 100) is None
    assert targets.held_for("finance", 100) == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def build(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    receiver: Receiver,
    webhook_secret: str,
) -> Callable[..., SyncRuntime]:
    def runtime(**sync: Any) -> SyncRuntime:
        overrides: dict[str, Any] = {
            "plugins": {"finance": {"url": receiver.url, "secret": webhook_secret}},
            "sync": {"min_backoff_seconds": 0.3, **sync},
        }
        if request.param == "postgresql":
            overrides["database_url"] = request.getfixturevalue("postgres_url")
        return make_runtime(make_settings(**overrides), load_entry_points=True)

    return runtime


def write(runtime: SyncRuntime) -> None:
    model = CUSTOMERS.schema.model_validate({"type": "person", "name": "مشتری"})
    write_record(runtime.engine, CUSTOMERS, "C-1", model, subscribers=["finance"])


def delivery(runtime: SyncRuntime) -> SyncState:
    with runtime.engine.connect() as connection:
        found = connection.execute(
            select(SyncState.__table__).where(
                SyncState.plugin == "finance", SyncState.record_id == "C-1"
            )
        ).one()
    return SyncState(**found._mapping)


def due_now(runtime: SyncRuntime) -> None:
    """Make the failed delivery due at once, as a new change of the record or a retry would."""
    with runtime.engine.begin() as connection:
        connection.execute(update(SyncState).values(due_at=utcnow()))


def delayed_messages(runtime: SyncRuntime) -> int:
    broker: Any = runtime.broker
    return int(broker.queues[dq_name(runtime.queue_name("finance"))].qsize())


def test_an_unreachable_target_holds_its_messages_and_the_first_push_through_ends_it(
    build: Callable[..., SyncRuntime], receiver: Receiver
) -> None:
    runtime = build()
    write(runtime)
    receiver.stop()
    runtime.handle("finance", [REF])
    failed = delivery(runtime)
    assert (failed.state, failed.attempts, failed.error_class) == (FAILED, 1, "connection")
    assert runtime.unreachable.held_for("finance", time.monotonic()) > 0

    # Held: the message is sent again with a delay; the delivery is not claimed and
    # spends no attempt.
    due_now(runtime)
    before = delayed_messages(runtime)
    runtime.handle("finance", [REF])
    held = delivery(runtime)
    assert (held.state, held.attempts, held.lease_owner) == (FAILED, 1, None)
    assert delayed_messages(runtime) == before + 1

    # The hold runs out: the next message is a probe; the target answers again.
    receiver.start()
    time.sleep(0.35)
    runtime.handle("finance", [REF])
    assert delivery(runtime).state == SYNCED
    assert runtime.unreachable.held_for("finance", time.monotonic()) == 0
    assert [d.id for d in receiver.deliveries] == ["C-1"]


def test_a_failed_probe_holds_longer(
    build: Callable[..., SyncRuntime], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = build()
    write(runtime)
    receiver.stop()
    with caplog.at_level(logging.WARNING, logger="core.sync.runtime"):
        runtime.handle("finance", [REF])
        time.sleep(0.35)
        due_now(runtime)
        runtime.handle("finance", [REF])
    assert delivery(runtime).attempts == 2
    assert runtime.unreachable.held_for("finance", time.monotonic()) > 0
    # The wait of each hold, as the log tells admins: the second is twice the first.
    waits = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert [wait.split("wait ")[1] for wait in waits] == [
        "0.3 s before the next try",
        "0.6 s before the next try",
    ]


def test_a_target_that_answers_with_an_error_is_not_held(
    build: Callable[..., SyncRuntime], receiver: Receiver
) -> None:
    runtime = build()
    write(runtime)
    receiver.fail(503)
    runtime.handle("finance", [REF])
    assert (delivery(runtime).state, delivery(runtime).error_class) == (FAILED, "http-503")
    assert runtime.unreachable.held_for("finance", time.monotonic()) == 0


def test_holding_can_be_turned_off(build: Callable[..., SyncRuntime], receiver: Receiver) -> None:
    runtime = build(unreachable_hold_seconds=0)
    write(runtime)
    receiver.stop()
    runtime.handle("finance", [REF])
    due_now(runtime)
    runtime.handle("finance", [REF])
    assert delivery(runtime).attempts == 2
