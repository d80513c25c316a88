"""Hook implementations of the production plugin, registered through ``crm_sync.plugins``.

Production status only flows from the ERP to the CRM: the plugin subscribes to no
canonical records and pushes nothing. Depending on ``backend`` it polls Tryton or Odoo
with a saved cursor, or accepts signed ``work_order_status`` webhooks; every backend
produces the same ``production_status`` inbound events, applied by
:func:`plugins.production.mapping.apply_report` (work-order record, order promise,
``order.promise_changed`` event).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from core import hookimpl
from core.errors import SyncError, WebhookRejected
from core.plugin_types import (
    HealthReport,
    InboundEvent,
    PluginContext,
    PluginDescription,
    PollResult,
)
from erp.odoo import Odoo, OdooClient
from erp.odoo.rights import PRODUCTION, rights_detail
from erp.tryton import Tryton, TrytonClient
from plugins.production import odoo, tryton, webhook
from plugins.production.mapping import apply_report, report_from_event
from plugins.production.settings import ProductionSettings


def _settings(context: PluginContext) -> ProductionSettings:
    assert isinstance(context.settings, ProductionSettings)
    return context.settings


def _tryton(context: PluginContext) -> Tryton:
    erp = context.cache.get("tryton")
    if erp is None:
        settings = _settings(context).tryton
        if settings is None:
            raise RuntimeError("the production plugin has no [tryton] section")
        erp = Tryton(TrytonClient.from_settings(settings, context.http))
        context.cache["tryton"] = erp
    assert isinstance(erp, Tryton)
    return erp


def _odoo(context: PluginContext) -> Odoo:
    odoo = context.cache.get("odoo")
    if odoo is None:
        settings = _settings(context).odoo
        if settings is None:
            raise RuntimeError("the production plugin has no [odoo] section")
        odoo = Odoo(OdooClient.from_settings(settings, context.http))
        context.cache["odoo"] = odoo
    assert isinstance(odoo, Odoo)
    return odoo


@hookimpl
def crm_sync_settings_model() -> type[ProductionSettings]:
    """The production plugin's settings."""
    return ProductionSettings


@hookimpl
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Inbound only: no subscriptions; polls Tryton/Odoo or accepts webhooks; else idle."""
    settings = _settings(context)
    polled = settings.backend in ("tryton", "odoo")
    return PluginDescription(
        subscriptions=(),
        target=settings.target_description(),
        poll_interval=settings.poll_interval_seconds if polled else None,
        accepts_webhooks=settings.backend == "webhook",
        webhook_schema=webhook.body_schema() if settings.backend == "webhook" else None,
    )


@hookimpl
def crm_sync_parse_webhook(
    context: PluginContext, headers: Mapping[str, str], body: bytes
) -> list[InboundEvent]:
    """Verify and parse signed ``work_order_status`` documents (webhook backend)."""
    secret = _settings(context).secret
    if secret is None:
        raise WebhookRejected(401, "the production plugin has no webhook secret configured")
    return webhook.parse(secret, headers, body)


@hookimpl
def crm_sync_poll(context: PluginContext, cursor: str | None) -> PollResult:
    """Read the work orders that changed since ``cursor`` from Tryton or Odoo."""
    settings = _settings(context)
    if settings.backend == "tryton":
        return tryton.poll(
            _tryton(context),
            cursor,
            limit=settings.poll_batch,
            overlap=settings.overlap_seconds,
        )
    if settings.backend == "odoo":
        return odoo.poll(
            _odoo(context),
            cursor,
            limit=settings.poll_batch,
            overlap=settings.overlap_seconds,
            zone=ZoneInfo(settings.time_zone),
        )
    return PollResult(events=[], cursor=cursor)


@hookimpl
def crm_sync_apply_inbound(context: PluginContext, event: InboundEvent) -> None:
    """Apply a work-order report: status record, order promise, promise-changed event."""
    apply_report(context.store(), report_from_event(event))


@hookimpl
def crm_sync_document_schemas(context: PluginContext) -> dict[str, dict[str, Any]]:
    """The JSON Schema of the ``work_order_status`` document an ERP sends."""
    return webhook.schemas()


@hookimpl
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Log in to Tryton or Odoo; a webhook backend only waits for the ERP to call."""
    settings = _settings(context)
    try:
        if settings.backend == "tryton":
            _tryton(context).client.login()
            return HealthReport(ok=True, detail=f"{settings.target_description()}: logged in")
        if settings.backend == "odoo":
            client = _odoo(context).client
            client.check_login()
            missing = rights_detail(client, PRODUCTION)
            if missing is not None:
                return HealthReport(ok=False, detail=f"{settings.target_description()}: {missing}")
            return HealthReport(ok=True, detail=f"{settings.target_description()}: logged in")
    except SyncError as error:
        return HealthReport(ok=False, detail=f"{settings.target_description()}: {error}")
    except Exception as error:
        return HealthReport(ok=False, detail=f"{type(error).__name__}: {error}")
    if settings.backend == "webhook":
        return HealthReport(ok=True, detail="waiting for signed webhooks from the ERP")
    return HealthReport(ok=True, detail="idle: no backend configured")
