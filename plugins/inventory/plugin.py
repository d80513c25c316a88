"""Hook implementations of the inventory plugin, registered through ``crm_sync.plugins``.

Subscriptions: pro-formas (when ``reserve_on = "proforma"``), orders, reservations and
returns. Each record's latest version becomes at most one request (see
``plugins.inventory.mapping``). With the ``webhook`` backend the request is sent as a
signed ``inventory.reservation`` or ``inventory.return`` document and the warehouse
answers through ``POST /v1/webhooks/inventory``; with ``tryton`` or ``odoo`` the
request is carried out at once, its answer written onto the canonical records, and
what the ERP's staff do later is found by polling. Statuses from both paths are
applied by the same ``crm_sync_apply_inbound``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from core import WaitingFor, hookimpl
from core.connectors.webhook import document_schema
from core.errors import PermanentError
from core.plugin_types import (
    HealthReport,
    InboundEvent,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PollResult,
    PushResult,
    SyncRecord,
)
from core.schemas.sales import StockReservation
from erp.errors import SaleNotReady
from erp.odoo.client import OdooClient
from erp.tryton.client import TrytonClient
from plugins.inventory.backends import Answer, ErpBackend, SkuOf, ensure_reservation, sku_map
from plugins.inventory.mapping import (
    OUTBOUND_MODELS,
    RESERVATION_EXPIRED,
    STATUS_MODELS,
    DeliveryStatus,
    ReservationExpired,
    ReservationRequest,
    ReservationStatus,
    ReturnOrder,
    ReturnStatus,
    Track,
    document_data,
    inbound_schema,
    is_stale,
    request_for,
    request_from,
    reservation_changes,
    track_for,
)
from plugins.inventory.odoo import OdooInventory
from plugins.inventory.settings import InventorySettings
from plugins.inventory.tryton import TrytonInventory
from plugins.inventory.webhook import WEBHOOK_STATUSES, parse_status, push_requests

log = logging.getLogger(__name__)


def _settings(context: PluginContext) -> InventorySettings:
    assert isinstance(context.settings, InventorySettings)
    return context.settings


def _backend(context: PluginContext) -> ErpBackend:
    """The Tryton or Odoo backend of this process, built once and kept in the cache."""
    backend = context.cache.get("backend")
    if backend is None:
        settings = _settings(context)
        if settings.backend == "tryton" and settings.tryton is not None:
            client = TrytonClient.from_settings(settings.tryton, context.http)
            backend = TrytonInventory(client, settings)
        elif settings.backend == "odoo" and settings.odoo is not None:
            backend = OdooInventory(OdooClient.from_settings(settings.odoo, context.http), settings)
        else:
            raise RuntimeError("the inventory plugin has no ERP backend configured")
        context.cache["backend"] = backend
    assert isinstance(backend, TrytonInventory | OdooInventory)
    return backend


def _sku_of(context: PluginContext) -> SkuOf:
    def sku_of(product_id: str) -> str | None:
        record = context.store().get("product", product_id)
        sku = getattr(record.data, "sku", None) if record is not None else None
        return str(sku) if sku else None

    return sku_of


# -- declaration ------------------------------------------------------------------------


@hookimpl
def crm_sync_settings_model() -> type[InventorySettings]:
    """The inventory plugin's settings."""
    return InventorySettings


@hookimpl
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Subscriptions per ``reserve_on``; webhooks in for ``webhook``, polling for the ERPs."""
    settings = _settings(context)
    subscriptions: tuple[str, ...] = ("order", "reservation", "return")
    if settings.reserve_on == "proforma":
        subscriptions = ("proforma", *subscriptions)
    target = settings.target_description()
    if target is None:
        return PluginDescription(subscriptions=subscriptions, target=None)
    if settings.backend == "webhook":
        return PluginDescription(
            subscriptions=subscriptions,
            target=target,
            max_batch=settings.max_batch if settings.batch else 1,
            accepts_webhooks=True,
            webhook_schema={
                "oneOf": [inbound_schema(t, STATUS_MODELS[t]) for t in WEBHOOK_STATUSES]
            },
        )
    return PluginDescription(
        subscriptions=subscriptions, target=target, poll_interval=settings.poll_interval_seconds
    )


# -- outbound ---------------------------------------------------------------------------


@hookimpl
def crm_sync_map_record(context: PluginContext, record: SyncRecord) -> dict[str, Any]:
    """The request a record makes of the warehouse, as JSON (``{"action": "none"}`` if none)."""
    request: ReservationRequest | ReturnOrder | Track | None = request_for(
        record, _settings(context).reserve_on
    )
    if request is None:
        request = track_for(record)
    if request is None:
        return {"action": "none"}
    lines = getattr(request, "lines", ())
    skus = sku_map([line.product_id for line in lines], _sku_of(context))
    return document_data(request, skus)


@hookimpl
def crm_sync_push(context: PluginContext, documents: list[OutboundDocument]) -> list[PushResult]:
    """Send the documents' requests to the warehouse, or carry them out in the ERP."""
    settings = _settings(context)
    if settings.backend == "webhook":
        return push_requests(context, settings, documents)
    results = []
    for document in documents:
        try:
            results.append(_push_erp(context, document))
        except SaleNotReady as error:
            # The sale is the finance plugin's to make: wait for it, spending no attempts.
            results.append(PushResult(error=WaitingFor(settings.sales_plugin, str(error))))
    return results


def _push_erp(context: PluginContext, document: OutboundDocument) -> PushResult:
    request = request_from(document.payload)
    if request is None:
        return PushResult(external_id=document.external_id)
    backend = _backend(context)
    answer: Answer
    if isinstance(request, ReservationRequest):
        answer = backend.reserve(request, _sku_of(context))
        if request.action == "reserve":
            ensure_reservation(context, request)
        if isinstance(answer.status, ReservationStatus):
            known = context.store().get("reservation", request.reservation_id)
            if known is not None:
                version = _apply_reservation(context, answer.status)
                # The CRM's own reservation (a service case's parts) is the record being
                # pushed: the answer written onto it is a version the ERP holds already.
                # Binding it keeps that version from being pushed again, unless the CRM
                # changed the record in between (then it is pushed, as it should be).
                answered = request.derived or version == document.version + 1
                if answered and answer.external_id is not None:
                    context.store().bind(
                        "reservation", request.reservation_id, answer.external_id, version
                    )
    elif isinstance(request, ReturnOrder):
        answer = backend.create_return(request, context)
        if isinstance(answer.status, ReturnStatus):
            _apply_return(context, answer.status)
    else:
        answer = backend.track(request)
        # Nothing shipped yet is what an order without a delivery state says already;
        # writing it would only make a new version of the order being pushed.
        if isinstance(answer.status, DeliveryStatus) and answer.status.delivery_state != "none":
            _apply_delivery(context, answer.status)
    return PushResult(external_id=answer.external_id)


# -- inbound ----------------------------------------------------------------------------


@hookimpl
def crm_sync_parse_webhook(
    context: PluginContext, headers: Mapping[str, str], body: bytes
) -> list[InboundEvent]:
    """Verify a warehouse's signed status (Standard Webhooks, the plugin's secret) and read it.

    The body is one ``{"type": ..., "data": {...}}`` object; its ``webhook-id`` is the
    event id, so a status sent again is stored once.
    """
    return parse_status(_settings(context).secret, headers, body)


@hookimpl
def crm_sync_poll(context: PluginContext, cursor: str | None) -> PollResult:
    """Ask the ERP what changed since ``cursor`` and which reservations expired."""
    return _backend(context).poll(context, cursor)


def _apply_reservation(context: PluginContext, status: ReservationStatus) -> int:
    records = context.store()
    record = records.get("reservation", status.reservation_id)
    if record is None or not isinstance(record.data, StockReservation):
        raise PermanentError(f"there is no reservation {status.reservation_id!r}")
    if is_stale(record.data, status):
        log.info(
            "inventory: ignored reservation status of %s recorded at %s, before the state "
            "it holds (%s)",
            status.reservation_id,
            status.reported_at,
            record.data.reported_at,
        )
        return record.version
    changes = reservation_changes(record.data, status)
    return records.update(
        "reservation", status.reservation_id, changes, event="reservation.status_changed"
    )


def _apply_delivery(context: PluginContext, status: DeliveryStatus) -> None:
    records = context.store()
    if records.get("order", status.order_id) is None:
        raise PermanentError(f"there is no order {status.order_id!r}")
    records.update(
        "order",
        status.order_id,
        {"delivery_state": status.delivery_state},
        event="order.delivery_changed",
    )


def _apply_return(context: PluginContext, status: ReturnStatus) -> None:
    records = context.store()
    if records.get("return", status.return_id) is None:
        raise PermanentError(f"there is no return {status.return_id!r}")
    changes: dict[str, Any] = {"status": status.status}
    if status.received_at is not None:
        changes["received_at"] = status.received_at.isoformat()
    if status.refunded_amount is not None:
        changes["refunded_amount"] = str(status.refunded_amount)
    records.update("return", status.return_id, changes, event="return.status_changed")


def _apply_expiry(context: PluginContext, expired: ReservationExpired) -> None:
    record = context.store().get("reservation", expired.reservation_id)
    if record is None or not isinstance(record.data, StockReservation):
        raise PermanentError(f"there is no reservation {expired.reservation_id!r}")
    data = record.data
    if data.status == "released" or data.expires_at is None or data.expires_at > expired.expires_at:
        return
    request = request_from(
        {
            "action": "release",
            "reservation_id": record.id,
            "order_id": data.order_id,
            "proforma_id": data.proforma_id,
            "service_case_id": data.service_case_id,
            "sale_refs": [ref for ref in (data.order_id, data.proforma_id) if ref],
            "lines": [line.model_dump(mode="json") for line in data.lines],
        }
    )
    assert isinstance(request, ReservationRequest)
    answer = _backend(context).reserve(request, _sku_of(context))
    if isinstance(answer.status, ReservationStatus):
        _apply_reservation(context, answer.status)


@hookimpl
def crm_sync_apply_inbound(context: PluginContext, event: InboundEvent) -> None:
    """Write a reservation's lines, an order's delivery state or a return's result.

    A status for a record the CRM does not have, or a payload that does not read, is
    a PermanentError: the event is kept as failed with the reason.
    """
    model = STATUS_MODELS.get(event.type)
    if model is None:
        raise PermanentError(f"the inventory plugin does not know events of type {event.type!r}")
    try:
        status = model.model_validate(event.payload)
    except ValidationError as error:
        raise PermanentError(f"{event.type} payload is invalid: {error}") from None
    if isinstance(status, ReservationStatus):
        _apply_reservation(context, status)
    elif isinstance(status, DeliveryStatus):
        _apply_delivery(context, status)
    elif isinstance(status, ReturnStatus):
        _apply_return(context, status)
    elif isinstance(status, ReservationExpired):
        _apply_expiry(context, status)


# -- operations -------------------------------------------------------------------------


@hookimpl
def crm_sync_document_schemas(context: PluginContext) -> dict[str, dict[str, Any]]:
    """JSON Schemas of the documents sent (reservation, return) and the statuses received."""
    schemas = {
        type_: document_schema(type_, model.model_json_schema(mode="serialization"))
        for type_, model in OUTBOUND_MODELS.items()
    }
    for type_ in WEBHOOK_STATUSES:
        schemas[type_] = inbound_schema(type_, STATUS_MODELS[type_])
    return schemas


@hookimpl
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Check the warehouse answers: its webhook URL, or a login to the ERP."""
    settings = _settings(context)
    if settings.backend is None:
        return HealthReport(ok=True, detail="idle: no target configured")
    if settings.backend == "webhook":
        target = settings.webhook_target()
        assert target is not None
        try:
            response = context.http.head(str(target.url))
        except Exception as error:
            return HealthReport(
                ok=False, detail=f"{target.url} unreachable: {type(error).__name__}"
            )
        unavailable = response.status_code in (502, 503, 504)
        return HealthReport(
            ok=not unavailable, detail=f"{target.url} answers HTTP {response.status_code}"
        )
    try:
        return HealthReport(ok=True, detail=_backend(context).check())
    except Exception as error:
        return HealthReport(ok=False, detail=f"{settings.backend}: {error}")


__all__ = [
    "RESERVATION_EXPIRED",
    "crm_sync_apply_inbound",
    "crm_sync_describe",
    "crm_sync_document_schemas",
    "crm_sync_health",
    "crm_sync_map_record",
    "crm_sync_parse_webhook",
    "crm_sync_poll",
    "crm_sync_push",
    "crm_sync_settings_model",
]
