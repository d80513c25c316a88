"""Hook implementations of the finance plugin, registered through ``crm_sync.plugins``.

Customers, products and pro-formas go to the finance system through the configured
backend (webhook, tryton or odoo); invoice numbers and payment states come back onto
the pro-forma, pushed by the finance system (webhook) or polled from the ERP.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from core import hookimpl
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
from core.schemas.parties import Customer
from core.schemas.sales import ProForma
from plugins.finance.backends import FinanceBackend
from plugins.finance.mapping import (
    INVOICE_CHANGED,
    INVOICE_STATUS,
    MAPPERS,
    InvoiceStatusDocument,
    invoice_changes,
    is_stale,
    map_record,
)
from plugins.finance.odoo import OdooBackend
from plugins.finance.settings import FinanceSettings
from plugins.finance.tryton import TrytonBackend
from plugins.finance.webhook import WebhookBackend

log = logging.getLogger(__name__)

#: What the plugin subscribes to, dependencies first.
SUBSCRIPTIONS = tuple(MAPPERS)


def _settings(context: PluginContext) -> FinanceSettings:
    assert isinstance(context.settings, FinanceSettings)
    return context.settings


def backend_of(context: PluginContext) -> FinanceBackend:
    """The configured backend, built once per process and kept in ``context.cache``."""
    backend = context.cache.get("backend")
    if backend is None:
        settings = _settings(context)
        target = settings.webhook_target()
        if target is not None:
            backend = WebhookBackend(context, settings, target)
        elif settings.backend == "tryton":
            backend = TrytonBackend(context, settings)
        elif settings.backend == "odoo":
            backend = OdooBackend(context, settings)
        else:
            raise RuntimeError("the finance plugin has no target configured")
        context.cache["backend"] = backend
    assert isinstance(backend, FinanceBackend)
    return backend


@hookimpl
def crm_sync_settings_model() -> type[FinanceSettings]:
    """The finance plugin's settings."""
    return FinanceSettings


@hookimpl
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Customers, products and pro-formas go to the finance system; idle without a backend.

    The webhook backend batches when asked and takes invoice statuses on
    ``/v1/webhooks/finance``; Tryton and Odoo are polled every ``poll_interval_seconds``.
    Tryton always takes backlogs in batches of up to ``max_batch`` documents (its
    customers and products are written with one call per kind).
    """
    settings = _settings(context)
    target = settings.target_description()
    if target is None:
        return PluginDescription(subscriptions=SUBSCRIPTIONS, target=None)
    if settings.backend == "webhook":
        return PluginDescription(
            subscriptions=SUBSCRIPTIONS,
            target=target,
            max_batch=settings.max_batch if settings.batch else 1,
            accepts_webhooks=True,
            webhook_schema=InvoiceStatusDocument.model_json_schema(),
        )
    return PluginDescription(
        subscriptions=SUBSCRIPTIONS,
        target=target,
        max_batch=settings.max_batch if settings.backend == "tryton" else 1,
        poll_interval=settings.poll_interval_seconds,
    )


@hookimpl
def crm_sync_map_record(context: PluginContext, record: SyncRecord) -> dict[str, Any]:
    """Map a canonical record to the finance document."""
    return map_record(record)


@hookimpl
def crm_sync_push(context: PluginContext, documents: list[OutboundDocument]) -> list[PushResult]:
    """Push documents through the configured backend, a pro-forma's dependencies first."""
    return backend_of(context).push(documents)


@hookimpl
def crm_sync_parse_webhook(
    context: PluginContext, headers: Mapping[str, str], body: bytes
) -> list[InboundEvent]:
    """Verify and read an invoice-status document the finance system sent."""
    backend = backend_of(context)
    if not isinstance(backend, WebhookBackend):
        raise RuntimeError("only the webhook backend accepts webhooks")
    return backend.parse_webhook(headers, body)


@hookimpl
def crm_sync_poll(context: PluginContext, cursor: str | None) -> PollResult:
    """Ask the ERP which invoices changed since ``cursor``."""
    return backend_of(context).poll(cursor)


@hookimpl
def crm_sync_apply_inbound(context: PluginContext, event: InboundEvent) -> None:
    """Write an invoice's number, state and payment onto its pro-forma.

    A status for a pro-forma the CRM does not hold is a permanent failure: the event is
    kept as a dead inbound event with that reason, and nothing changes. A status recorded
    before the one the pro-forma holds (``invoice_reported_at``) arrived late: it is
    applied as nothing, so the pro-forma never goes back in time.
    """
    if event.type != INVOICE_STATUS:
        raise PermanentError(f"the finance plugin does not apply {event.type!r} events")
    try:
        document = InvoiceStatusDocument.model_validate(event.payload)
    except ValidationError as error:
        raise PermanentError(f"malformed {INVOICE_STATUS} event: {error}") from None
    records = context.store()
    record = records.get("proforma", document.proforma_id)
    if record is None:
        raise PermanentError(
            f"an invoice status for pro-forma {document.proforma_id!r}, which the CRM does not hold"
        )
    assert isinstance(record.data, ProForma)
    if is_stale(document, record.data.invoice_reported_at):
        log.info(
            "finance: ignored invoice status %s of pro-forma %s, recorded at %s, before the "
            "state it holds (%s)",
            event.event_id,
            document.proforma_id,
            document.occurred_at,
            record.data.invoice_reported_at,
        )
        return
    records.update(
        "proforma", document.proforma_id, invoice_changes(document), event=INVOICE_CHANGED
    )


@hookimpl
def crm_sync_document_schemas(context: PluginContext) -> dict[str, dict[str, Any]]:
    """JSON Schemas of the customer and pro-forma documents and the inbound invoice status."""
    customer = Customer.model_json_schema(mode="serialization")
    proforma = ProForma.model_json_schema(mode="serialization")
    status = InvoiceStatusDocument.model_json_schema()
    status["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return {
        "customer": document_schema("customer", customer, title="crm-sync finance customer"),
        "proforma": document_schema("proforma", proforma, title="crm-sync finance pro-forma"),
        INVOICE_STATUS: status,
    }


@hookimpl
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Check that the finance system answers; idle is healthy."""
    if _settings(context).target_description() is None:
        return HealthReport(ok=True, detail="idle: no target configured")
    return backend_of(context).health()
