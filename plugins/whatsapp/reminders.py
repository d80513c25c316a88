"""SLA and follow-up reminders to agents, sent as approved WhatsApp templates.

The plugin subscribes to three events the SLA timers publish (``lead_scoring.sla``):
``lead.first_response_due_soon`` (a lead's first response is due within the warning's
lead time), ``lead.first_response_overdue`` (it is late: the SLA breached) and
``task.overdue`` (a follow-up task's deadline passed while it is open). Each event
is delivered to the plugin by the sync engine like any record, so it is mapped here
to a template message to the agent who owns the lead or task, and sent by the same
outbound path as customers' messages (:func:`plugins.whatsapp.sending.send_batch`): the
same rate limits, error codes and token hold. The timers publish each event once
under an id derived from the timer, and the engine delivers each event once, so a
reminder is sent once however often its timer is looked at.

A reminder that cannot be sent is passed with a note saying why (no owner, an agent
without a phone, no template configured), shown with the event's sync state. The
template's body gets two parameters: what is late (the lead's name or the task's
subject) and since when (its due time, as a Jalali date and the agent's local time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.locale import format_jalali, normalize_phone, to_persian_digits
from core.plugin_types import Records, SyncRecord
from core.schemas.events import Event
from core.schemas.leads import Lead
from core.schemas.messages import Template, TemplateComponent
from core.schemas.parties import Agent
from plugins.whatsapp.outbound import template_body
from plugins.whatsapp.settings import WhatsAppSettings

#: The events that make a reminder, and the setting naming each one's template.
SLA_BREACHED = "lead.first_response_overdue"
SLA_DUE_SOON = "lead.first_response_due_soon"
FOLLOWUP_DUE = "task.overdue"
TEMPLATE_SETTINGS = {
    SLA_BREACHED: "sla_reminder_template",
    SLA_DUE_SOON: "sla_warning_template",
    FOLLOWUP_DUE: "followup_reminder_template",
}
SUBSCRIPTIONS = tuple(f"event.{type_}" for type_ in TEMPLATE_SETTINGS)
#: ``biz_opaque_callback_data`` of a reminder: this prefix and the event's id.
CALLBACK_PREFIX = "reminder:"


class Skip(Exception):
    """A reminder that is not sent; the message says why."""


def is_reminder(callback: object) -> bool:
    """Whether a status's ``biz_opaque_callback_data`` names a reminder, not an interaction."""
    return isinstance(callback, str) and callback.startswith(CALLBACK_PREFIX)


def map_reminder(
    records: Records, settings: WhatsAppSettings, record: SyncRecord
) -> dict[str, Any]:
    """The Graph API request of a reminder event; raises Skip saying why it is not sent."""
    event = record.data
    if not isinstance(event, Event) or event.type not in TEMPLATE_SETTINGS:
        raise Skip(f"a {record.type} is not a reminder this plugin sends")
    name = getattr(settings, TEMPLATE_SETTINGS[event.type])
    if name is None:
        raise Skip(f"no reminder: {TEMPLATE_SETTINGS[event.type]} is not configured")
    owner_id = event.payload.get("owner_id")
    if not isinstance(owner_id, str) or not owner_id:
        raise Skip(f"no reminder: {event.subject_type} {event.subject_id} has no owner")
    found = records.get("agent", owner_id)
    agent = found.data if found is not None else None
    if not isinstance(agent, Agent):
        raise Skip(f"no reminder: there is no agent {owner_id}")
    if not agent.active:
        raise Skip(f"no reminder: agent {owner_id} is not active")
    if agent.phone is None:
        raise Skip(f"no reminder: agent {owner_id} has no phone number")
    try:
        phone = normalize_phone(agent.phone)
    except ValueError as error:
        raise Skip(f"no reminder: agent {owner_id}'s phone cannot be used: {error}") from None
    language = settings.reminder_language
    parameters = [what_is_late(records, event), due_text(event, agent, language)]
    template = Template(
        name=name,
        language=language,
        components=[TemplateComponent(type="body", parameters=parameters)],
    )
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone,
        "type": "template",
        "template": template_body(template),
        "biz_opaque_callback_data": CALLBACK_PREFIX + record.id,
    }


def what_is_late(records: Records, event: Event) -> str:
    """The first parameter: the lead's name (else its id) or the task's subject."""
    if event.type in (SLA_BREACHED, SLA_DUE_SOON):
        found = records.get("lead", event.subject_id)
        lead = found.data if found is not None else None
        name = lead.contact_name or lead.company_name if isinstance(lead, Lead) else None
        return name or event.subject_id
    found = records.get("task", event.subject_id)
    subject = getattr(found.data, "subject", None) if found is not None else None
    return str(subject or event.subject_id)


def due_text(event: Event, agent: Agent, language: str) -> str:
    """The second parameter: the due time as a Jalali date and the agent's local time.

    For a warning that is the coming breach (its ``due_at``), not the warning's moment.
    """
    raw = event.payload.get("due_at")
    try:
        due = datetime.fromisoformat(raw) if isinstance(raw, str) else event.occurred_at
    except ValueError:
        due = event.occurred_at
    local = due.astimezone(ZoneInfo(agent.time_zone))
    text = f"{format_jalali(local.date())} {local:%H:%M}"
    return to_persian_digits(text) if language.startswith("fa") else text


__all__ = [
    "CALLBACK_PREFIX",
    "FOLLOWUP_DUE",
    "SLA_BREACHED",
    "SLA_DUE_SOON",
    "SUBSCRIPTIONS",
    "Skip",
    "is_reminder",
    "map_reminder",
]
