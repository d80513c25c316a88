"""A stand-in for Meta's WhatsApp Cloud API in tests: signed webhook calls, as Meta sends them.

The Cloud API cannot be reached from a test, so this module builds what it would send,
following the shapes of Meta's webhook reference (``object: whatsapp_business_account``
-> ``entry[].changes[].value`` holding ``metadata`` with ``contacts`` + ``messages``, or
``statuses``, or ``errors``) and signs the raw bytes the way Meta does
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the app secret>``).

Each message builder returns one ``messages[]`` item of a documented type (text, image,
document, audio and voice, video, sticker, location, contacts, interactive button and
list replies, template quick-reply buttons, reactions and their removal, replies with
``context``, ``unsupported`` with its ``errors``). ``signed`` serialises a body the way
Meta does (``ensure_ascii``: Persian text as escapes) or as raw UTF-8, and returns the
bytes with the headers to post; a test posts them unchanged.

A plugin author's tests can use it as well::

    from core.testing import whatsapp as meta

    body = meta.envelope(meta.messages_value([meta.text("16505551234", "سلام")]))
    content, headers = meta.signed(body, "app-secret")
    client.post("/v1/webhooks/whatsapp", content=content, headers=headers)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from typing import Any

#: The WhatsApp Business Account and phone number the samples come from.
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550783881"

_serial = itertools.count(1)


def wamid(seed: str | None = None) -> str:
    """A message id shaped like Meta's (``wamid.`` + base64); unique unless ``seed`` is given."""
    text = seed if seed is not None else f"{time.time_ns()}-{next(_serial)}"
    digest = hashlib.sha256(text.encode()).digest()
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18" + digest[:27]).decode()


def _stamp(timestamp: int | None) -> str:
    """Meta's ``timestamp``: unix seconds as a string."""
    return str(int(time.time()) if timestamp is None else timestamp)


# --------------------------------------------------------------------------- envelope


def envelope(*values: dict[str, Any], waba_id: str = WABA_ID) -> dict[str, Any]:
    """One webhook body: an entry per value (Meta may also put several changes in one entry)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": waba_id, "changes": [{"value": value, "field": "messages"}]} for value in values
        ],
    }


def metadata(phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, str]:
    """The ``metadata`` of a value: which business number the event is about."""
    return {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id}


def contact(wa_id: str, name: str | None = "Sheena Nelson") -> dict[str, Any]:
    """A ``contacts[]`` item: the sender's WhatsApp id (digits, no ``+``) and profile name."""
    item: dict[str, Any] = {"wa_id": wa_id}
    if name is not None:
        item["profile"] = {"name": name}
    return item


def messages_value(
    messages: list[dict[str, Any]],
    *,
    names: dict[str, str | None] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A ``value`` carrying inbound messages and a contact for each sender."""
    names = names or {}
    senders = list(dict.fromkeys(message["from"] for message in messages))
    return {
        "messaging_product": "whatsapp",
        "metadata": metadata(phone_number_id),
        "contacts": [contact(sender, names.get(sender, "Sheena Nelson")) for sender in senders],
        "messages": messages,
    }


def statuses_value(
    statuses: list[dict[str, Any]], *, phone_number_id: str = PHONE_NUMBER_ID
) -> dict[str, Any]:
    """A ``value`` carrying delivery statuses of messages we sent."""
    return {
        "messaging_product": "whatsapp",
        "metadata": metadata(phone_number_id),
        "statuses": statuses,
    }


def errors_value(
    errors: list[dict[str, Any]], *, phone_number_id: str = PHONE_NUMBER_ID
) -> dict[str, Any]:
    """A ``value`` carrying errors not tied to one message."""
    return {
        "messaging_product": "whatsapp",
        "metadata": metadata(phone_number_id),
        "errors": errors,
    }


def error(
    code: int, title: str, message: str | None = None, details: str | None = None
) -> dict[str, Any]:
    """One ``errors[]`` item as the webhooks carry them."""
    return {
        "code": code,
        "title": title,
        "message": message or title,
        "error_data": {"details": details or title},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


# --------------------------------------------------------------------------- messages


def _message(
    sender: str,
    type_: str,
    body: dict[str, Any] | list[Any] | None,
    *,
    message_id: str | None,
    timestamp: int | None,
    context: dict[str, str] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "from": sender,
        "id": message_id or wamid(),
        "timestamp": _stamp(timestamp),
        "type": type_,
    }
    if body is not None:
        item[type_] = body
    if context is not None:
        item["context"] = context
    return item


def text(
    sender: str,
    body: str,
    *,
    message_id: str | None = None,
    timestamp: int | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """A text message; ``reply_to`` makes it a quoted reply (``context``) to that wamid."""
    context = {"from": DISPLAY_PHONE_NUMBER, "id": reply_to} if reply_to else None
    return _message(
        sender, "text", {"body": body}, message_id=message_id, timestamp=timestamp, context=context
    )


def media(
    sender: str,
    type_: str,
    *,
    media_id: str = "1003383421387256",
    mime_type: str = "image/jpeg",
    sha256: str = "McGdaH1HtQN6zQBNfv8HiSvSyZ7SuIlfw1YQ5E6AyjU=",
    caption: str | None = None,
    filename: str | None = None,
    voice: bool | None = None,
    url: str | None = None,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """An image, video, document, audio or sticker message (``sha256`` is base64, not hex)."""
    body: dict[str, Any] = {"mime_type": mime_type, "sha256": sha256, "id": media_id}
    if caption is not None:
        body["caption"] = caption
    if filename is not None:
        body["filename"] = filename
    if voice is not None:
        body["voice"] = voice
    if url is not None:
        body["url"] = url
    if type_ == "sticker":
        body["animated"] = False
    return _message(sender, type_, body, message_id=message_id, timestamp=timestamp)


def location(
    sender: str,
    latitude: float = 35.6997,
    longitude: float = 51.3380,
    *,
    name: str | None = "میدان آزادی",
    address: str | None = "تهران",
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A location message (a pin, with the place's name and address when one was chosen)."""
    body: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        body["name"] = name
    if address is not None:
        body["address"] = address
    return _message(sender, "location", body, message_id=message_id, timestamp=timestamp)


def contacts(
    sender: str,
    name: str = "Barbara J. Johnson",
    phone: str = "+1 (940) 555-1234",
    *,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A contacts message: one shared contact card."""
    card = {
        "name": {"formatted_name": name, "first_name": name.split()[0]},
        "phones": [{"phone": phone, "type": "HOME"}],
    }
    return _message(sender, "contacts", [card], message_id=message_id, timestamp=timestamp)


def button_reply(
    sender: str,
    button_id: str,
    title: str,
    *,
    reply_to: str,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The user tapped a reply button of an interactive message we sent (``reply_to``)."""
    body = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
    return _message(
        sender,
        "interactive",
        body,
        message_id=message_id,
        timestamp=timestamp,
        context={"from": DISPLAY_PHONE_NUMBER, "id": reply_to},
    )


def list_reply(
    sender: str,
    row_id: str,
    title: str,
    description: str | None = None,
    *,
    reply_to: str,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The user chose a row of an interactive list message we sent (``reply_to``)."""
    row: dict[str, Any] = {"id": row_id, "title": title}
    if description is not None:
        row["description"] = description
    return _message(
        sender,
        "interactive",
        {"type": "list_reply", "list_reply": row},
        message_id=message_id,
        timestamp=timestamp,
        context={"from": DISPLAY_PHONE_NUMBER, "id": reply_to},
    )


def template_button(
    sender: str,
    payload: str,
    text_: str,
    *,
    reply_to: str,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The user tapped a quick-reply button of a template we sent (``type: button``)."""
    return _message(
        sender,
        "button",
        {"payload": payload, "text": text_},
        message_id=message_id,
        timestamp=timestamp,
        context={"from": DISPLAY_PHONE_NUMBER, "id": reply_to},
    )


def reaction(
    sender: str,
    to_message: str,
    emoji: str | None,
    *,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A reaction to a message; ``emoji=None`` is its removal (Meta then leaves ``emoji`` out)."""
    body: dict[str, Any] = {"message_id": to_message}
    if emoji is not None:
        body["emoji"] = emoji
    return _message(sender, "reaction", body, message_id=message_id, timestamp=timestamp)


def unsupported(
    sender: str,
    *,
    kind: str = "poll_creation",
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A message of a type the Cloud API does not support, with its ``errors`` (131051)."""
    item = _message(
        sender, "unsupported", {"type": kind}, message_id=message_id, timestamp=timestamp
    )
    item["errors"] = [
        error(
            131051,
            "Message type unknown",
            "Message type unknown",
            "Message type is not currently supported",
        )
    ]
    return item


# --------------------------------------------------------------------------- statuses


def status(
    message_id: str,
    state: str,
    recipient: str,
    *,
    timestamp: int | None = None,
    callback_data: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` item: sent, delivered, read, played or failed (with ``errors``)."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": state,
        "timestamp": _stamp(timestamp),
        "recipient_id": recipient,
    }
    if callback_data is not None:
        item["biz_opaque_callback_data"] = callback_data
    if state in ("sent", "delivered"):
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "utility"}
    if errors is not None:
        item["errors"] = errors
    return item


# --------------------------------------------------------------------------- signing


def signature(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header Meta sends with ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def serialise(body: dict[str, Any], *, escaped: bool = True) -> bytes:
    """The bytes of a body: non-ASCII escaped like Meta's, or raw UTF-8."""
    return json.dumps(body, ensure_ascii=escaped).encode()


def signed(
    body: dict[str, Any], app_secret: str, *, escaped: bool = True
) -> tuple[bytes, dict[str, str]]:
    """The bytes of ``body`` and the headers Meta would post them with."""
    content = serialise(body, escaped=escaped)
    return content, {
        "content-type": "application/json",
        "x-hub-signature-256": signature(content, app_secret),
    }


__all__ = [
    "PHONE_NUMBER_ID",
    "WABA_ID",
    "button_reply",
    "contact",
    "contacts",
    "envelope",
    "error",
    "errors_value",
    "list_reply",
    "location",
    "media",
    "messages_value",
    "metadata",
    "reaction",
    "serialise",
    "signature",
    "signed",
    "status",
    "statuses_value",
    "template_button",
    "text",
    "unsupported",
    "wamid",
]
