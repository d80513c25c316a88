"""Hook implementations of the WhatsApp plugin, registered through ``crm_sync.plugins``.

Outbound WhatsApp interactions are sent through the Cloud API by the sync engine
(:mod:`plugins.whatsapp.outbound`, in batches: :mod:`plugins.whatsapp.sending`). Meta calls
``/v1/webhooks/whatsapp``: the GET check is answered with the challenge
(:func:`plugins.whatsapp.webhook.verify`), each signed POST is stored as one event per
message, status or error (:func:`plugins.whatsapp.webhook.parse`), and the inbound job
applies them to the timeline (:mod:`plugins.whatsapp.inbound`). Leads this plugin
knows read our messages give lead scoring ``whatsapp_read`` signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core import hookimpl
from core.errors import PermanentError
from core.plugin_types import (
    HealthReport,
    InboundEvent,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PushResult,
    SyncRecord,
)
from core.schemas.activities import Interaction
from core.schemas.leads import Lead
from lead_scoring.facts import EngagementEvent
from plugins.whatsapp import inbound, media, outbound, reminders, sending, webhook
from plugins.whatsapp.settings import WhatsAppSettings

#: The engagement event of a lead reading one of our WhatsApp messages.
READ_SIGNAL = "whatsapp_read"


def _settings(context: PluginContext) -> WhatsAppSettings:
    assert isinstance(context.settings, WhatsAppSettings)
    return context.settings


@hookimpl
def crm_sync_settings_model() -> type[WhatsAppSettings]:
    """The WhatsApp plugin's settings."""
    return WhatsAppSettings


@hookimpl
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Takes Meta's webhooks (up to ``max_webhook_bytes`` a call); idle without an access token."""
    settings = _settings(context)
    return PluginDescription(
        subscriptions=("interaction", *reminders.SUBSCRIPTIONS),
        # A batch shares the engine's claim and bookkeeping and the plugin's own reads
        # and writes instead of paying them per message; its calls go side by side.
        max_batch=settings.send_batch,
        target=settings.target_description(),
        accepts_webhooks=True,
        max_body_bytes=settings.max_webhook_bytes,
        webhook_schema=webhook.body_schema(),
    )


@hookimpl
def crm_sync_map_record(context: PluginContext, record: SyncRecord) -> dict[str, object]:
    """The Graph API request of an outbound WhatsApp interaction or of a reminder to an agent.

    Anything else, and a reminder that cannot be sent, is passed over with the reason.
    """
    if record.type == "event":
        try:
            return reminders.map_reminder(context.store(), _settings(context), record)
        except reminders.Skip as skipped:
            return {outbound.SKIP: str(skipped)}
    return outbound.map_message(context.store(), _settings(context), record, datetime.now(UTC))


@hookimpl
def crm_sync_push(context: PluginContext, documents: list[OutboundDocument]) -> list[PushResult]:
    """Send a batch of messages, one call each; each wamid becomes that message's external id.

    The batch's database work (recipients, rate limits, in-flight marks) is done once
    for the batch and its calls go side by side (:mod:`plugins.whatsapp.sending`). A
    failure is that message's alone; after a hold (an expired token) the calls not yet
    made are not tried.
    """
    return sending.send_batch(context.http, _settings(context), context.store(), documents)


@hookimpl
def crm_sync_verify_webhook(context: PluginContext, query: Mapping[str, str]) -> str:
    """Answer Meta's check of the callback URL with the challenge when the token matches."""
    return webhook.verify(query, _settings(context).verify_token)


@hookimpl
def crm_sync_parse_webhook(
    context: PluginContext, headers: Mapping[str, str], body: bytes
) -> list[InboundEvent]:
    """Check X-Hub-Signature-256 on the raw bytes, then one event per message, status, error."""
    return webhook.parse(_settings(context).app_secret, headers, body)


@hookimpl
def crm_sync_apply_inbound(context: PluginContext, event: InboundEvent) -> None:
    """Apply a message or a status; other webhook fields are kept, marked as not handled."""
    records = context.store()
    if event.type == webhook.MESSAGE:
        inbound.apply_message(records, event, _downloader(context))
    elif event.type == webhook.STATUS:
        inbound.apply_status(records, event)
    elif event.type == webhook.ERROR:
        raise PermanentError(f"Meta reported errors not tied to a message: {_errors(event)}")
    else:
        field = event.payload.get("field")
        raise PermanentError(f"the webhook field {field!r} is not handled by the whatsapp plugin")


def _downloader(context: PluginContext) -> inbound.Download | None:
    """Fetches media into ``media_dir``; None when no folder or token is configured."""
    settings = _settings(context)
    if settings.media_dir is None or settings.access_token is None:
        return None

    def download(record_id: str, described: dict[str, Any]) -> dict[str, Any]:
        return media.store(context.http, settings, record_id, described)

    return download


def _errors(event: InboundEvent) -> str:
    items = [item for item in event.payload.get("errors") or [] if isinstance(item, dict)]
    return "; ".join(f"{item.get('code')} {item.get('title')}" for item in items) or "no details"


@hookimpl
def crm_sync_scoring_signals(
    context: PluginContext, lead_id: str, lead: Lead
) -> list[EngagementEvent]:
    """``whatsapp_read`` when the lead read one of our messages (inbound ones count already)."""
    if context.records is None:
        return []
    events = []
    for record in context.records.find("interaction", "lead_id", lead_id):
        message = record.data
        if (
            isinstance(message, Interaction)
            and message.channel == "whatsapp"
            and message.direction == "outbound"
            and message.delivery_status in ("read", "played")
            and message.status_at is not None
        ):
            events.append(EngagementEvent(READ_SIGNAL, message.status_at))
    return events


@hookimpl
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Configured for webhooks (app secret and verify token) or not."""
    settings = _settings(context)
    missing = [
        name
        for name in ("app_secret", "verify_token", "phone_number_id")
        if getattr(settings, name) is None
    ]
    if settings.access_token is None:
        return HealthReport(ok=True, detail="idle: no access_token configured")
    if missing:
        return HealthReport(ok=False, detail=f"missing settings: {', '.join(missing)}")
    return HealthReport(ok=True, detail=f"{settings.target_description()}: receiving webhooks")
