"""Hook implementations of the finance plugin, registered through ``crm_sync.plugins``."""

from __future__ import annotations

from typing import Any

from core import hookimpl
from core.connectors.webhook import WebhookSender
from core.plugin_types import (
    HealthReport,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PushResult,
    SyncRecord,
)
from plugins.finance.mapping import MAPPERS, map_record
from plugins.finance.settings import FinanceSettings


def _settings(context: PluginContext) -> FinanceSettings:
    assert isinstance(context.settings, FinanceSettings)
    return context.settings


def _sender(context: PluginContext) -> WebhookSender:
    sender = context.cache.get("sender")
    if sender is None:
        target = _settings(context).webhook_target()
        if target is None:
            raise RuntimeError("the finance plugin has no target configured")
        sender = WebhookSender(target, context.http)
        context.cache["sender"] = sender
    assert isinstance(sender, WebhookSender)
    return sender


@hookimpl
def crm_sync_settings_model() -> type[FinanceSettings]:
    """The finance plugin's settings."""
    return FinanceSettings


@hookimpl
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Customers go to the finance system; idle until a target is configured."""
    target = _settings(context).webhook_target()
    if target is None:
        return PluginDescription(subscriptions=tuple(MAPPERS), target=None)
    return PluginDescription(
        subscriptions=tuple(MAPPERS),
        target=f"webhook {target.url}",
        max_batch=target.max_batch if target.batch else 1,
    )


@hookimpl
def crm_sync_map_record(context: PluginContext, record: SyncRecord) -> dict[str, Any]:
    """Map a canonical record to the finance document."""
    return map_record(record)


@hookimpl
def crm_sync_push(context: PluginContext, documents: list[OutboundDocument]) -> list[PushResult]:
    """Push documents through the configured backend."""
    return _sender(context).push(documents)


@hookimpl
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Check that the finance system answers at its URL (any answer but 502-504 will do)."""
    target = _settings(context).webhook_target()
    if target is None:
        return HealthReport(ok=True, detail="idle: no target configured")
    try:
        response = context.http.head(str(target.url))
    except Exception as error:
        return HealthReport(ok=False, detail=f"{target.url} unreachable: {type(error).__name__}")
    unavailable = response.status_code in (502, 503, 504)
    return HealthReport(
        ok=not unavailable, detail=f"{target.url} answers HTTP {response.status_code}"
    )
