"""A plugin whose target pushes signed status events and can be polled, for core tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from core import (
    InboundEvent,
    PermanentError,
    PluginContext,
    PluginDescription,
    PollResult,
    PushResult,
    SyncRecord,
    TransientError,
    WebhookRejected,
    hookimpl,
)

SECRET = b"inbound-test-secret"


def sign(body: bytes) -> str:
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest()


class InboundPlugin:
    """Customers go out; ``customer.status`` events come back by webhook or by polling."""

    def __init__(self, subscriptions: tuple[str, ...] = ("customer",)) -> None:
        self.subscriptions = subscriptions
        self.feed: list[InboundEvent] = []
        self.polled_with: list[str | None] = []
        self.fail_next_apply: Exception | None = None
        self.fail_next_parse: Exception | None = None
        self.pushed: list[Any] = []

    @hookimpl
    def crm_sync_describe(self, context: PluginContext) -> PluginDescription:
        return PluginDescription(
            self.subscriptions, target="inbound", poll_interval=0.2, accepts_webhooks=True
        )

    @hookimpl
    def crm_sync_map_record(self, record: SyncRecord) -> dict[str, Any]:
        return {"id": record.id, "version": record.version}

    @hookimpl
    def crm_sync_push(self, documents: list[Any]) -> list[PushResult]:
        self.pushed.extend(documents)
        return [PushResult(external_id=f"X-{document.id}") for document in documents]

    @hookimpl
    def crm_sync_parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[InboundEvent]:
        if self.fail_next_parse is not None:
            error, self.fail_next_parse = self.fail_next_parse, None
            raise error
        if not hmac.compare_digest(headers.get("x-signature", ""), sign(body)):
            raise WebhookRejected(401, "the signature does not match")
        try:
            items = json.loads(body)
        except ValueError:
            raise WebhookRejected(400, "the body is not JSON") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
            raise WebhookRejected(422, "expected a list of events with ids")
        return [InboundEvent(str(i["id"]), str(i.get("type", "status")), i) for i in items]

    @hookimpl
    def crm_sync_poll(self, cursor: str | None) -> PollResult:
        self.polled_with.append(cursor)
        start = int(cursor or 0)
        batch = self.feed[start : start + 2]
        return PollResult(batch, str(start + len(batch)), more=start + 2 < len(self.feed))

    @hookimpl
    def crm_sync_apply_inbound(self, context: PluginContext, event: InboundEvent) -> None:
        if self.fail_next_apply is not None:
            error, self.fail_next_apply = self.fail_next_apply, None
            raise error
        records = context.store()
        customer = event.payload.get("customer")
        if not isinstance(customer, str) or records.get("customer", customer) is None:
            raise PermanentError(f"no customer {customer!r} for event {event.event_id}")
        records.update(
            "customer",
            customer,
            {"status": event.payload["status"]},
            event="customer.status_changed",
        )


__all__ = ["SECRET", "InboundPlugin", "TransientError", "sign"]
