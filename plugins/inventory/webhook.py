"""The inventory plugin's webhook backend: requests sent to the warehouse, statuses received.

A request becomes a signed ``inventory.reservation`` or ``inventory.return`` document
POSTed to the warehouse's endpoint (tracking needs nothing sent: the warehouse reports
deliveries by itself); the warehouse answers later with a signed status through
``POST /v1/webhooks/inventory``, which :func:`parse_status` verifies and reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from pydantic import SecretStr, ValidationError

from core.connectors.webhook import (
    WebhookSender,
    read_json,
    validation_problems,
    verify_signature,
)
from core.errors import WebhookRejected
from core.plugin_types import InboundEvent, OutboundDocument, PluginContext, PushResult
from plugins.inventory.backends import ensure_reservation
from plugins.inventory.mapping import (
    DELIVERY_STATUS,
    RESERVATION_STATUS,
    RETURN_STATUS,
    STATUS_MODELS,
    ReservationRequest,
    Track,
    request_from,
)
from plugins.inventory.settings import InventorySettings

#: Inbound status types a warehouse may send by webhook (expiry is found by polling only).
WEBHOOK_STATUSES = (RESERVATION_STATUS, DELIVERY_STATUS, RETURN_STATUS)


def _sender(context: PluginContext, settings: InventorySettings) -> WebhookSender:
    sender = context.cache.get("sender")
    if sender is None:
        target = settings.webhook_target()
        if target is None:
            raise RuntimeError("the inventory plugin has no webhook target configured")
        sender = WebhookSender(target, context.http)
        context.cache["sender"] = sender
    assert isinstance(sender, WebhookSender)
    return sender


def push_requests(
    context: PluginContext, settings: InventorySettings, documents: list[OutboundDocument]
) -> list[PushResult]:
    """Send each document's request to the warehouse as a signed document.

    A reservation asked for keeps a canonical reservation record (see
    ``ensure_reservation``) before it is sent; tracking and documents that ask
    nothing succeed without a request.
    """
    results: dict[int, PushResult] = {}
    outgoing: list[tuple[int, OutboundDocument]] = []
    for index, document in enumerate(documents):
        request = request_from(document.payload)
        if request is None or isinstance(request, Track):
            results[index] = PushResult(external_id=document.external_id)
            continue
        if isinstance(request, ReservationRequest) and request.action == "reserve":
            ensure_reservation(context, request)
        kind = str(document.payload["document"])
        outgoing.append((index, replace(document, type=kind)))
    if outgoing:
        sent = _sender(context, settings).push([document for _, document in outgoing])
        for (index, _), result in zip(outgoing, sent, strict=True):
            results[index] = result
    return [results[index] for index in range(len(documents))]


def parse_status(
    secret: SecretStr | None, headers: Mapping[str, str], body: bytes
) -> list[InboundEvent]:
    """Verify a warehouse's signed status with ``secret`` and read it (one event).

    Refused with 401 when it cannot be verified, 400 when the body is not JSON and 422
    when it is not a known status or its data is invalid.
    """
    if secret is None:
        raise WebhookRejected(401, "the inventory plugin has no secret to verify webhooks with")
    webhook_id = verify_signature(secret, headers, body)
    message = read_json(body)
    if not isinstance(message, dict) or message.get("type") not in WEBHOOK_STATUSES:
        raise WebhookRejected(
            422, f"expected an object whose type is one of {', '.join(WEBHOOK_STATUSES)}"
        )
    unknown = sorted(set(message) - {"type", "data"})
    if unknown:
        raise WebhookRejected(422, f"unknown fields: {', '.join(map(str, unknown))}")
    type_ = str(message["type"])
    try:
        data = STATUS_MODELS[type_].model_validate(message.get("data"))
    except ValidationError as error:
        problems = validation_problems(error)
        raise WebhookRejected(422, f"{type_} data is invalid: {problems}") from None
    return [InboundEvent(webhook_id, type_, data.model_dump(mode="json"))]


__all__ = ["WEBHOOK_STATUSES", "parse_status", "push_requests"]
