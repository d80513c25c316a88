"""Inbound messages and statuses applied to the canonical records.

A message becomes one Interaction (channel ``whatsapp``, direction ``inbound``,
``external_message_id`` = its wamid) on the timeline of whoever owns the sender's
number. The sender is matched by E.164 key: Meta's ``from`` is digits without ``+``, so
the key is ``+`` and those digits, never a parse with Iran as the region (which would
turn ``16505551234`` into ``+9816505551234``). The owner is the customer listing that
phone, else a lead listing it, else the lead this plugin created for the number
earlier; an unknown number creates a Lead (source ``whatsapp``, the phone, the profile
name), which lead scoring scores and assigns like any new lead, starting its
first-response clock. The interaction's id is derived from the wamid, so a message
applied twice is one interaction. Each message also moves its owner's last inbound
moment forward (``Records.note_inbound``): the 24-hour window outbound text is sent in.

Statuses move an outbound interaction forward only: sent < delivered < read < played;
``failed`` is terminal and keeps Meta's errors; ``read`` may come without ``delivered``.
A status that would move it back is not applied and says why on the interaction's
timeline (``whatsapp.status_ignored``). The interaction is found by
``biz_opaque_callback_data`` (the CRM id we sent it with) or by its wamid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from core.errors import PermanentError, TransientError
from core.locale import normalize_phone
from core.plugin_types import InboundEvent, Records, SyncRecord
from core.schemas.activities import Interaction
from plugins.whatsapp.reminders import is_reminder
from plugins.whatsapp.webhook import unix_time

log = logging.getLogger(__name__)

#: Rank of each status: a status only replaces one of a lower rank. ``failed`` is final.
STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}
FAILED = "failed"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
#: The prefix of the id of a lead this plugin creates for an unknown number.
LEAD_PREFIX = "whatsapp-"
IGNORED_STATUS_EVENT = "whatsapp.status_ignored"
_DIGITS = re.compile(r"[1-9][0-9]{5,14}")


def interaction_id(wamid: str) -> str:
    """The id of the interaction of an inbound message: stable for its wamid."""
    return "wa-" + hashlib.sha256(wamid.encode()).hexdigest()[:40]


def e164_key(wa_id: str) -> str:
    """The E.164 key of a WhatsApp id (digits, no ``+``); PermanentError if it is not one."""
    if not isinstance(wa_id, str) or not _DIGITS.fullmatch(wa_id):
        raise PermanentError(f"the sender {wa_id!r} is not a WhatsApp id (6 to 15 digits)")
    return "+" + wa_id


def _valid_phone(key: str) -> bool:
    try:
        normalize_phone(key)
    except ValueError:
        return False
    return True


def _find(records: Records, type_: str, key: str) -> list[SyncRecord]:
    return records.find(type_, "phone", key) if _valid_phone(key) else []


def owner_of(records: Records, key: str, profile_name: str | None) -> dict[str, str]:
    """``customer_id`` or ``lead_id`` of whoever owns the number ``key``; a new lead if nobody."""
    customers = _find(records, "customer", key)
    if customers:
        latest = max(customers, key=lambda record: (record.updated_at, record.id))
        return {"customer_id": latest.id}
    leads = _find(records, "lead", key)
    if leads:
        open_first = sorted(
            leads,
            key=lambda record: (
                getattr(record.data, "status", "") not in ("converted", "lost", "unqualified"),
                record.updated_at,
            ),
        )
        return {"lead_id": open_first[-1].id}
    lead_id = LEAD_PREFIX + key[1:]
    if records.get("lead", lead_id) is None:
        valid = _valid_phone(key)
        lead: dict[str, Any] = {
            "source": "whatsapp",
            "phones": [key] if valid else [],
            "contact_name": (profile_name or "").strip()[:200] or (None if valid else key),
        }
        records.update("lead", lead_id, lead, create=True)
    return {"lead_id": lead_id}


def _text(value: Any, limit: int = 100_000) -> str | None:
    """Text as sent, cut to ``limit``; None for anything else or blank text."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value[:limit]


def _short(value: Any) -> str | None:
    return _text(value, 200)


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _media(body: dict[str, Any]) -> dict[str, Any]:
    """A ``MediaFile`` of Meta's media object; ``download`` pending when it has an id."""
    media_id = _short(body.get("id"))
    return {
        "id": media_id,
        "mime_type": _short(body.get("mime_type")),
        "sha256": _short(body.get("sha256")),
        "caption": _text(body.get("caption")),
        "filename": _short(body.get("filename")),
        "voice": _flag(body.get("voice")),
        "animated": _flag(body.get("animated")),
        "url": _text(body.get("url"), 2000),
        "download": "pending" if media_id else None,
    }


def _contact(card: Any) -> dict[str, Any]:
    name = card.get("name") if isinstance(card, dict) else None
    phones = card.get("phones") if isinstance(card, dict) else None
    return {
        "name": _short(name.get("formatted_name")) if isinstance(name, dict) else None,
        "phones": [
            phone
            for item in (phones if isinstance(phones, list) else [])[:20]
            if isinstance(item, dict) and (phone := _short(item.get("phone") or item.get("wa_id")))
        ],
    }


def describe(message: dict[str, Any]) -> tuple[str | None, dict[str, Any], list[dict[str, Any]]]:
    """The text, the ``MessageContent`` and the errors of one message of any documented type.

    A type this plugin does not model is kept whole in ``raw``, never dropped.
    """
    type_ = message.get("type")
    if not isinstance(type_, str) or not re.fullmatch(r"[a-z_]{1,64}", type_):
        raise PermanentError("the message has no type")
    body = message.get(type_)
    content: dict[str, Any] = {"type": type_}
    text: str | None = None
    if type_ == "text" and isinstance(body, dict):
        text = _text(body.get("body"))
    elif type_ in MEDIA_TYPES and isinstance(body, dict):
        content["media"] = _media(body)
        text = _text(body.get("caption"))
    elif type_ == "location" and isinstance(body, dict):
        latitude, longitude = _number(body.get("latitude")), _number(body.get("longitude"))
        if latitude is None or longitude is None:
            raise PermanentError("a location message needs a latitude and a longitude")
        content["location"] = {
            "latitude": latitude,
            "longitude": longitude,
            "name": _short(body.get("name")),
            "address": _text(body.get("address")),
            "url": _text(body.get("url"), 2000),
        }
        named = [part for part in (_short(body.get("name")), _short(body.get("address"))) if part]
        text = " - ".join(named) or f"{latitude}, {longitude}"
    elif type_ == "contacts" and isinstance(body, list):
        content["contacts"] = [_contact(card) for card in body[:50]]
        text = _text(", ".join(card["name"] for card in content["contacts"] if card["name"]))
    elif type_ == "interactive" and isinstance(body, dict):
        kind = body.get("type")
        reply = body.get(kind) if isinstance(kind, str) else None
        if not isinstance(reply, dict):
            content["raw"] = json.dumps(body, ensure_ascii=False)[:100_000]
        else:
            content["choice"] = {
                "kind": _short(kind),
                "id": _short(reply.get("id")),
                "title": _short(reply.get("title")),
                "description": _text(reply.get("description")),
            }
            text = _text(reply.get("title"))
    elif type_ == "button" and isinstance(body, dict):
        content["choice"] = {
            "kind": "button",
            "payload": _text(body.get("payload")),
            "title": _short(body.get("text")),
        }
        text = _text(body.get("text"))
    elif type_ == "reaction" and isinstance(body, dict):
        emoji = _short(body.get("emoji"))
        content["reaction"] = {
            "message_id": _text(body.get("message_id"), 256),
            "emoji": emoji,
            "removed": emoji is None,
        }
        text = emoji
    elif body is not None:
        content["raw"] = json.dumps(body, ensure_ascii=False)[:100_000]
    errors = [_error(item) for item in message.get("errors") or [] if isinstance(item, dict)]
    return text, content, errors[:20]


def _error(item: dict[str, Any]) -> dict[str, Any]:
    """One of Meta's ``errors[]`` items in the shape of ``DeliveryError``."""
    data = item.get("error_data")
    code = item.get("code")
    return {
        "code": code if isinstance(code, int) and not isinstance(code, bool) else None,
        "title": _short(item.get("title")),
        "message": _text(item.get("message")),
        "details": _text(data.get("details")) if isinstance(data, dict) else None,
    }


#: Downloads one media file of an interaction: (interaction id, content.media) -> changes.
Download = Callable[[str, dict[str, Any]], dict[str, Any]]


def apply_message(records: Records, event: InboundEvent, download: Download | None = None) -> None:
    """Put one inbound message on its owner's timeline, then fetch its media file.

    ``download`` (None without a ``media_dir``) runs for a media message whose file is
    not stored yet; its TransientError makes the inbound job try again later, with the
    interaction already on the timeline and the error noted on it.
    """
    message = event.payload.get("message")
    if not isinstance(message, dict):
        raise PermanentError("the event holds no message")
    wamid = message["id"]
    record_id = interaction_id(wamid)
    stored = records.get("interaction", record_id)
    if stored is None:
        _create(records, event, message, record_id)
        stored = records.get("interaction", record_id)
    current = stored.data if stored is not None else None
    if isinstance(current, Interaction):
        _note_window(records, current)
    if download is None or not isinstance(current, Interaction) or current.content is None:
        return
    media = current.content.media
    if media is None or media.id is None or media.download == "stored":
        return
    described = media.model_dump(mode="json")
    try:
        changes = download(record_id, described)
    except TransientError as error:
        _note_media(
            records, record_id, current, {"download": "pending", "download_error": str(error)}
        )
        raise
    except PermanentError as error:
        _note_media(
            records, record_id, current, {"download": "failed", "download_error": str(error)}
        )
        raise
    _note_media(records, record_id, current, changes)


def _note_window(records: Records, message: Interaction) -> None:
    """Open (or keep open) the owner's 24-hour window from this message's moment.

    Noted every time the message is applied, not only when it is created: an inbound
    job that died in between notes it on its next try, and a late or repeated message
    never moves the window back.
    """
    owner_type, owner_id = (
        ("customer", message.customer_id)
        if message.customer_id is not None
        else ("lead", message.lead_id)
    )
    if owner_id is None:
        return
    sender = message.content.sender if message.content is not None else None
    records.note_inbound(owner_type, owner_id, message.occurred_at, sender)


def _note_media(
    records: Records, record_id: str, current: Interaction, changes: dict[str, Any]
) -> None:
    """Merge ``changes`` into the interaction's ``content.media``."""
    assert current.content is not None and current.content.media is not None
    content = current.content.model_dump(mode="json")
    content["media"] = {**content["media"], **changes}
    records.update("interaction", record_id, {"content": content})


def _create(records: Records, event: InboundEvent, message: dict[str, Any], record_id: str) -> None:
    """The interaction of a message not applied before (see the module docstring)."""
    wamid = message["id"]
    key = e164_key(message.get("from"))  # type: ignore[arg-type]
    occurred_at = unix_time(message.get("timestamp")) or event.occurred_at
    if occurred_at is None:
        raise PermanentError(f"message {wamid}: the timestamp is not unix seconds")
    contact = event.payload.get("contact")
    profile = contact.get("profile") if isinstance(contact, dict) else None
    name = profile.get("name") if isinstance(profile, dict) else None
    text, content, errors = describe(message)
    context = message.get("context")
    reply_to = context.get("id") if isinstance(context, dict) else None
    interaction = {
        **owner_of(records, key, name if isinstance(name, str) else None),
        "channel": "whatsapp",
        "direction": "inbound",
        "occurred_at": occurred_at,
        "text": text,
        "external_message_id": wamid,
        "content": {**content, "sender": key},
        "reply_to": reply_to if isinstance(reply_to, str) and reply_to else None,
        "delivery_errors": errors,
    }
    records.update("interaction", record_id, interaction, create=True)


def find_message(records: Records, wamid: str, callback: Any) -> SyncRecord | None:
    """The interaction a status is about: by the CRM id it was sent with, else by wamid.

    The wamid is looked up on the interactions and on the ids the sends returned.
    """
    if isinstance(callback, str) and callback:
        try:
            found = records.get("interaction", callback)
        except PermanentError:
            found = None
        if found is not None:
            return found
    matches = records.find("interaction", "external_message_id", wamid)
    if matches:
        return matches[0]
    bound = records.find_by_external_id("interaction", wamid)
    return records.get("interaction", bound) if bound is not None else None


def apply_status(records: Records, event: InboundEvent) -> None:
    """Move an outbound interaction's delivery status forward (see the module docstring).

    A status for a message nobody knows yet is retried (its send response may still be
    on its way); after the attempts run out it is dead with that reason. The statuses of
    reminders to agents (:mod:`plugins.whatsapp.reminders`) are not tracked.
    """
    item = event.payload.get("status")
    if not isinstance(item, dict):
        raise PermanentError("the event holds no status")
    wamid, state = item["id"], item["status"]
    if is_reminder(item.get("biz_opaque_callback_data")):
        return
    found = find_message(records, wamid, item.get("biz_opaque_callback_data"))
    if found is None:
        raise TransientError(f"no interaction has the WhatsApp message id {wamid}")
    current = found.data
    assert isinstance(current, Interaction)
    at = unix_time(item.get("timestamp")) or event.occurred_at
    reason = _refusal(current.delivery_status, state)
    if reason is not None:
        records.emit(
            IGNORED_STATUS_EVENT,
            "interaction",
            found.id,
            {
                "wamid": wamid,
                "status": state,
                "at": at.isoformat() if at else None,
                "reason": reason,
            },
        )
        return
    changes: dict[str, Any] = {"delivery_status": state, "status_at": at}
    if current.external_message_id is None:
        changes["external_message_id"] = wamid
    if state == FAILED:
        changes["delivery_errors"] = [
            _error(error) for error in item.get("errors") or [] if isinstance(error, dict)
        ][:20]
    records.update("interaction", found.id, changes)


def _refusal(current: str | None, state: str) -> str | None:
    """Why ``state`` does not replace ``current``, or None when it moves it forward."""
    if current == FAILED:
        return f"the message already failed; a later {state!r} does not undo it"
    if state == FAILED:
        return None
    if state not in STATUS_RANK:
        return f"{state!r} is not a status this plugin knows"
    if current is not None and STATUS_RANK[state] <= STATUS_RANK.get(current, 0):
        return f"the message is already {current!r}; {state!r} would move it back"
    return None


__all__ = [
    "IGNORED_STATUS_EVENT",
    "STATUS_RANK",
    "apply_message",
    "apply_status",
    "describe",
    "e164_key",
    "interaction_id",
    "owner_of",
]
