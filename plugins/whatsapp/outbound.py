"""Outbound WhatsApp messages: the 24-hour window, the Graph API call, and sends in doubt.

The sync engine hands every changed interaction to the plugin; only an outbound
WhatsApp interaction that was never sent is sent, anything else is passed with a note.

- **Window.** Free-form text goes only within 24 hours of the customer's (or lead's)
  last inbound WhatsApp message, kept per owner (``Records.last_inbound``); outside it an approved
  template is required: the record's own (``content.template``), else the configured
  re-engagement template, else the message is refused before any call, with the reason.
- **Call.** ``POST {graph_url}/{phone_number_id}/messages`` with the bearer token, the
  interaction's id as ``biz_opaque_callback_data`` (so a status webhook finds the
  message even when the answer was lost) and its ``reply_to`` as ``context``.
- **Throughput.** Before the call the message takes one moment of the phone number's
  limit (``messages_per_second``) and one of its recipient's (``pair_interval_seconds``)
  in the database, all or none, shared by every worker on every machine
  (:mod:`core.sync.rate`). A moment less than :data:`MAX_SLEEP` away is waited for;
  one further away makes the message wait (``core.RateLimited``): no attempt spent, due
  again when the limits allow, and the other messages go on.
- **No duplicates.** The Cloud API has no idempotency key, so before the call the
  interaction is marked ``delivery_status: pending`` with ``status_at`` = now. A call
  that provably never left (connection refused, :class:`NeverLeft`) or that Meta
  refused clears the mark and is retried or dead by its error code
  (:mod:`plugins.whatsapp.errors`). A call whose outcome is unknown (a timeout after
  the request left, a worker killed mid-call, :class:`InDoubt`) keeps the mark: it is
  not sent again, it goes to the dead list saying so, and a status webhook carrying
  its id settles it (the wamid is then stored and the next pass finds it sent).
- **One write.** The mark is the send's only write of the record. The wamid Meta
  answers becomes the delivery's external id (the engine binds it with the push's
  result) and the interaction's ``external_message_id`` with its first status webhook;
  the mark, written while this plugin pushes the record, queues nothing back to it.

This module maps one message and makes one call; :mod:`plugins.whatsapp.sending` sends
a batch of them, with the reservation, the marks and the recipients' reads done once
for the whole batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from core.errors import MappingError, PermanentError, TransientError
from core.locale import normalize_phone
from core.plugin_types import PushResult, Records, SyncRecord
from core.schemas.activities import Interaction
from core.schemas.messages import Template
from plugins.whatsapp.errors import classify
from plugins.whatsapp.settings import WhatsAppSettings

#: How long after the customer's last message free-form text may be sent.
WINDOW = timedelta(hours=24)
#: The longest a send sleeps for its moment of the rate limits; a later one waits as a
#: delivery instead, without holding the worker.
MAX_SLEEP = 1.0
#: The key of a mapped document that is not to be sent; its value says why.
SKIP = "skip"
#: The key of a mapped request whose number is the owner's first phone, read when it is
#: sent: ``[owner type, owner id]``; never sent to Meta.
OWNER = "crm_sync_owner"
IN_DOUBT = (
    "in doubt: an earlier attempt may have reached WhatsApp (started {at}) and the Cloud "
    "API has no idempotency key, so it is not sent again blindly; a status webhook "
    "settles it, else check the customer's chat and retry or resolve it"
)


def _skip(reason: str) -> dict[str, Any]:
    return {SKIP: reason}


def last_inbound(records: Records, message: Interaction) -> tuple[datetime | None, str | None]:
    """When the customer (or lead) last wrote on WhatsApp, and from which number.

    Read from the owner's row of last inbound moments, which the inbound job moves
    forward with every message it stores, not from the timeline.
    """
    contacted = records.last_inbound(*owner_of(message))
    if contacted is None:
        return None, None
    return contacted.at, contacted.sender


def owner_of(message: Interaction) -> tuple[str, str]:
    """The record the message is to: ``("customer", id)``, else ``("lead", id)``."""
    if message.customer_id is not None:
        return "customer", message.customer_id
    return "lead", message.lead_id or ""


def first_phone(owner: SyncRecord | None) -> str:
    """The first phone number of a customer or lead that normalises (E.164)."""
    phones = getattr(owner.data, "phones", []) if owner is not None else []
    for phone in phones:
        try:
            return normalize_phone(phone)
        except ValueError:
            continue
    raise MappingError("the customer has no phone number to send the WhatsApp message to")


def template_body(template: Template) -> dict[str, Any]:
    """The Graph API's ``template`` object of a template and its parameters."""
    components = []
    for component in template.components:
        item: dict[str, Any] = {
            "type": component.type,
            "parameters": [{"type": "text", "text": value} for value in component.parameters],
        }
        if component.type == "button":
            item["sub_type"] = component.sub_type or "quick_reply"
            item["index"] = str(component.index or 0)
        components.append(item)
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        body["components"] = components
    return body


def map_message(
    records: Records, settings: WhatsAppSettings, record: SyncRecord, now: datetime
) -> dict[str, Any]:
    """The Graph API request of an interaction, or a ``skip`` document saying why not."""
    message = record.data
    if not isinstance(message, Interaction):
        return _skip(f"a {record.type} is not a WhatsApp message")
    if message.channel != "whatsapp" or message.direction != "outbound":
        return _skip(f"a {message.direction} {message.channel} interaction is not sent")
    sent_as = message.external_message_id or record.external_id
    if sent_as is not None:
        return _skip(f"already sent as {sent_as}")
    if message.delivery_status == "pending" and message.status_at is not None:
        raise PermanentError(IN_DOUBT.format(at=message.status_at.isoformat()))
    if message.delivery_status is not None:
        return _skip(f"the channel already reported it {message.delivery_status}")
    template = message.content.template if message.content is not None else None
    if template is None and not message.text:
        raise MappingError("the message has neither text nor a template to send")
    # A template needs no window: the customer's timeline is only read for free text.
    wrote_at, sender = last_inbound(records, message) if template is None else (None, None)
    open_window = wrote_at is not None and now - wrote_at < WINDOW
    if template is None and not open_window:
        if settings.reengagement_template is None:
            since = "has never written" if wrote_at is None else f"last wrote at {wrote_at}"
            raise MappingError(
                f"outside the 24-hour window (the customer {since}): free-form text cannot "
                "be sent; ask for a template (content.template) or configure "
                "reengagement_template"
            )
        template = Template(
            name=settings.reengagement_template, language=settings.reengagement_language
        )
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "biz_opaque_callback_data": record.id,
    }
    # The number the customer wrote from, else their first phone: read for the whole
    # batch at once when it is sent (``plugins.whatsapp.sending``).
    if sender:
        body["to"] = sender
    else:
        body[OWNER] = list(owner_of(message))
    if template is not None:
        body["type"] = "template"
        body["template"] = template_body(template)
    else:
        body["type"] = "text"
        body["text"] = {"body": message.text, "preview_url": False}
    if message.reply_to:
        body["context"] = {"message_id": message.reply_to}
    return body


def call(
    http: httpx.Client, settings: WhatsAppSettings, body: dict[str, Any], started: datetime
) -> PushResult:
    """One ``POST .../messages`` of a request body; the wamid of the answer is the external id.

    Raises NeverLeft when the request provably never left (connection refused), the
    error of Meta's code when Meta refused it (:func:`plugins.whatsapp.errors.classify`),
    and InDoubt when its outcome is unknown (a timeout after it left, an answer without
    an id). ``started`` is when its in-flight mark was set.
    """
    if settings.access_token is None or settings.phone_number_id is None:
        raise PermanentError("the whatsapp plugin needs access_token and phone_number_id to send")
    url = f"{settings.graph_url}/{settings.phone_number_id}/messages"
    headers = {"authorization": f"Bearer {settings.access_token.get_secret_value()}"}
    try:
        answer = http.post(url, json=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise NeverLeft(f"the request never left: {type(error).__name__}: {error}") from None
    except httpx.HTTPError as error:
        raise InDoubt(
            IN_DOUBT.format(at=started.isoformat()) + f" ({type(error).__name__})"
        ) from None
    try:
        answered = answer.json()
    except ValueError:
        answered = None
    if answer.status_code != 200:
        raise classify(answer.status_code, answered)
    messages = answered.get("messages") if isinstance(answered, dict) else None
    wamid = messages[0].get("id") if isinstance(messages, list) and messages else None
    if not isinstance(wamid, str) or not wamid:
        raise InDoubt(IN_DOUBT.format(at=started.isoformat()) + " (the answer had no id)")
    return PushResult(external_id=wamid)


class NeverLeft(TransientError):
    """A send whose request provably never reached Meta (connection refused): retried."""


class InDoubt(PermanentError):
    """A send that may have reached Meta (its answer was lost): dead, never sent again blindly."""


def limits(settings: WhatsAppSettings, to: str) -> list[tuple[str, float]]:
    """The rate limits one message to ``to`` is under: its phone number's and the pair's.

    A pair limit of 0 is off and takes no row.
    """
    number = settings.phone_number_id or ""
    found = [(f"number:{number}", 1.0 / settings.messages_per_second)]
    if settings.pair_interval_seconds > 0:
        found.append((f"to:{number}:{to}", settings.pair_interval_seconds))
    return found


__all__ = [
    "IN_DOUBT",
    "MAX_SLEEP",
    "OWNER",
    "SKIP",
    "WINDOW",
    "InDoubt",
    "NeverLeft",
    "call",
    "first_phone",
    "last_inbound",
    "limits",
    "map_message",
    "owner_of",
    "template_body",
]
