"""Sending a batch of mapped WhatsApp messages: a few statements per batch, calls side by side.

A push hands the plugin up to ``send_batch`` mapped messages. The database work is done
once for the batch, not once per message:

- the recipients not known from the customer's last message are read in one query per
  owner type (customers, leads) and get their first phone;
- the rate-limit moments of every message (its phone number's and its recipient's) are
  reserved in one transaction (``Records.reserve_many``), each message all or none; a
  message granted none waits as a delivery (``core.RateLimited``), alone;
- the in-flight marks of every granted message are written and committed in one write
  (``Records.update_many``) before the first call leaves.

Then the calls (:func:`plugins.whatsapp.outbound.call`). The first goes alone: an
expired token (190) or an unreachable API is found by one call, not by the whole batch,
and the others are not tried (held, or retried as never sent). The others then go side
by side, at most :data:`MAX_CONCURRENT` at once (and no more than the number's
messages a second), each no earlier than its moment. A 190 answer to one of them holds
the calls not yet started. Each message keeps its own outcome: Meta's error code
classifies it alone (131056 delays that message only), a call whose outcome is unknown
keeps its mark (in doubt, never sent again blindly). The marks of the messages that
provably did not leave (connection refused, refused by Meta, not started after a hold)
are cleared in one write at the end.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from core.errors import HoldSending, MappingError, RateLimited, SyncError
from core.plugin_types import OutboundDocument, PushResult, Records
from plugins.whatsapp.outbound import (
    MAX_SLEEP,
    OWNER,
    SKIP,
    InDoubt,
    NeverLeft,
    call,
    first_phone,
    limits,
)
from plugins.whatsapp.settings import WhatsAppSettings

#: The most calls of one batch in flight at once: 80 messages a second with Meta's
#: answers taking about 200 ms needs 16.
MAX_CONCURRENT = 16
#: The in-flight mark's fields, and their values once the mark is taken off again.
MARK = ("delivery_status", "status_at")
UNMARKED: dict[str, Any] = dict.fromkeys(MARK)


@dataclass
class _Send:
    """One message of the batch being sent: where its result goes, its request, its moment."""

    index: int
    document: OutboundDocument
    body: dict[str, Any]
    #: ``time.monotonic()`` before which its call must not start.
    moment: float = 0.0

    @property
    def marked(self) -> bool:
        """Whether it carries an in-flight mark (a customer's message, not a reminder)."""
        return self.document.type == "interaction"


class _Hold:
    """The first HoldSending answer of a batch, shared by its calls (set once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: HoldSending | None = None

    def set(self, error: HoldSending) -> None:
        """Keep the first hold; later ones say the same."""
        with self._lock:
            if self.error is None:
                self.error = error


def send_batch(
    http: httpx.Client,
    settings: WhatsAppSettings,
    records: Records,
    documents: Sequence[OutboundDocument],
) -> list[PushResult]:
    """Send a batch of mapped messages (see the module docstring); one result per document."""
    results: list[PushResult | None] = [None] * len(documents)
    sends: list[_Send] = []
    for index, document in enumerate(documents):
        if SKIP in document.payload:
            results[index] = PushResult(note=str(document.payload[SKIP]))
        else:
            sends.append(_Send(index, document, dict(document.payload)))
    for item, error in zip(sends, _address(records, sends), strict=True):
        if error is not None:
            results[item.index] = PushResult(error=error)
    sends = [item for item in sends if results[item.index] is None]
    granted = _reserve(records, settings, sends, results)
    if granted:
        started = datetime.now(UTC)
        marked = {item.document.id: item for item in granted if item.marked}
        if marked:
            mark = {"delivery_status": "pending", "status_at": started}
            records.update_many("interaction", dict.fromkeys(marked, mark))
        unsent = _call_all(http, settings, granted, started, results)
        cleared = [item.document.id for item in unsent if item.marked]
        if cleared:
            records.update_many("interaction", dict.fromkeys(cleared, UNMARKED))
    return [result if result is not None else PushResult() for result in results]


def _address(records: Records, sends: Sequence[_Send]) -> list[SyncError | None]:
    """Give each request its number (``to``), reading the owners it needs in one query a type."""
    wanted: dict[str, set[str]] = {}
    for item in sends:
        owner = item.body.get(OWNER)
        if owner is not None:
            wanted.setdefault(str(owner[0]), set()).add(str(owner[1]))
    owners = {
        (owner_type, record_id): record
        for owner_type, ids in wanted.items()
        for record_id, record in records.get_many(owner_type, sorted(ids)).items()
    }
    errors: list[SyncError | None] = []
    for item in sends:
        owner = item.body.pop(OWNER, None)
        if owner is None:
            errors.append(None)
            continue
        try:
            item.body["to"] = first_phone(owners.get((str(owner[0]), str(owner[1]))))
        except MappingError as error:
            errors.append(error)
            continue
        errors.append(None)
    return errors


def _reserve(
    records: Records,
    settings: WhatsAppSettings,
    sends: Sequence[_Send],
    results: list[PushResult | None],
) -> list[_Send]:
    """Reserve every message's moment in one transaction; the refused ones wait as deliveries."""
    if not sends:
        return []
    asked = [limits(settings, str(item.body.get("to", ""))) for item in sends]
    turns = records.reserve_many(asked, max_wait=MAX_SLEEP)
    # Counted from the answer, not from the request: a call may start late, never early.
    reserved_at = time.monotonic()
    granted = []
    for item, turn in zip(sends, turns, strict=True):
        if turn.granted:
            item.moment = reserved_at + turn.wait
            granted.append(item)
            continue
        to = item.body.get("to", "")
        results[item.index] = PushResult(
            error=RateLimited(
                f"rate limit: phone number {settings.phone_number_id} sends at most "
                f"{settings.messages_per_second:g} messages a second and one message to {to} "
                f"every {settings.pair_interval_seconds:g} s; next turn in {turn.wait:.2f} s",
                seconds=turn.wait,
            )
        )
    return granted


def _call_all(
    http: httpx.Client,
    settings: WhatsAppSettings,
    granted: Sequence[_Send],
    started: datetime,
    results: list[PushResult | None],
) -> list[_Send]:
    """Make the granted calls, the first alone; return the messages that did not leave."""
    hold = _Hold()
    first, rest = granted[0], granted[1:]
    unsent = [] if _call_one(http, settings, first, started, hold, results) else [first]
    outcome = results[first.index]
    stopped = outcome is not None and isinstance(outcome.error, HoldSending | NeverLeft)
    if stopped and outcome is not None:
        for item in rest:
            results[item.index] = outcome
        return [*unsent, *rest]
    if not rest:
        return unsent
    workers = min(MAX_CONCURRENT, max(1, math.ceil(settings.messages_per_second)), len(rest))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whatsapp-send") as pool:
        left = list(
            pool.map(lambda item: _call_one(http, settings, item, started, hold, results), rest)
        )
    return unsent + [item for item, went in zip(rest, left, strict=True) if not went]


def _call_one(
    http: httpx.Client,
    settings: WhatsAppSettings,
    item: _Send,
    started: datetime,
    hold: _Hold,
    results: list[PushResult | None],
) -> bool:
    """Make one message's call at its moment and keep its result; whether it may have left.

    False only when it provably did not: never started (a hold), connection refused,
    or answered with an error by Meta.
    """
    delay = item.moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    if hold.error is not None:
        results[item.index] = PushResult(error=hold.error)
        return False
    try:
        results[item.index] = call(http, settings, item.body, started)
    except NeverLeft as error:
        results[item.index] = PushResult(error=error)
        return False
    except HoldSending as error:
        hold.set(error)
        results[item.index] = PushResult(error=error)
        return False
    except InDoubt as error:
        results[item.index] = PushResult(error=error)
        return True
    except SyncError as error:
        # Meta answered with an error code: refused, not sent.
        results[item.index] = PushResult(error=error)
        return False
    return True


__all__ = ["MAX_CONCURRENT", "send_batch"]
