"""Meta's calls to ``/v1/webhooks/whatsapp``: the URL check, the signature, the envelope.

- ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``: the bare challenge
  when the token is the configured ``verify_token`` (compared in constant time), else 403.
- ``POST``: ``X-Hub-Signature-256`` is ``sha256=`` + the hex HMAC-SHA256 of the raw body
  with the app secret. It is checked on the bytes as received, never on re-serialised
  JSON (Meta signs its escaped form; Persian text would never match), before anything
  of the body is read. A missing or wrong signature is 401 and stores nothing.
- The body is ``object: whatsapp_business_account`` -> ``entry[]`` -> ``changes[]`` ->
  ``value``; every entry and change is read. Each inbound message becomes one event
  keyed by its wamid, each status one event keyed by (wamid, status), each error not
  tied to a message one event keyed by its content, so a call Meta repeats (it retries
  for up to 7 days) stores nothing twice. Items are only checked for the key they are
  stored by: a message the plugin cannot apply is kept and shows up as a failed
  inbound event with the reason, instead of refusing (and so losing) the whole call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from core.connectors.webhook import read_json
from core.errors import WebhookRejected
from core.plugin_types import InboundEvent

SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
#: Longest wamid stored (the inbox keys events by at most 256 characters).
MAX_WAMID = 200
#: Longest challenge echoed back.
MAX_CHALLENGE = 256

MESSAGE = "message"
STATUS = "status"
ERROR = "error"
CHANGE = "change"


def verify(query: Mapping[str, str], verify_token: SecretStr | None) -> str:
    """The challenge to answer Meta's URL check with; WebhookRejected(403) otherwise."""
    if verify_token is None:
        raise WebhookRejected(403, "the whatsapp plugin has no verify_token configured")
    if query.get("hub.mode") != "subscribe":
        raise WebhookRejected(403, "hub.mode must be 'subscribe'")
    token = query.get("hub.verify_token", "")
    expected = verify_token.get_secret_value()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise WebhookRejected(403, "the verify token does not match")
    challenge = query.get("hub.challenge", "")
    if not 1 <= len(challenge) <= MAX_CHALLENGE or not challenge.isprintable():
        raise WebhookRejected(
            403, f"hub.challenge must be 1 to {MAX_CHALLENGE} printable characters"
        )
    return challenge


def check_signature(app_secret: SecretStr | None, headers: Mapping[str, str], body: bytes) -> None:
    """Refuse (401) a call whose X-Hub-Signature-256 is missing or not the body's HMAC."""
    if app_secret is None:
        raise WebhookRejected(401, "the whatsapp plugin has no app_secret configured")
    header = headers.get(SIGNATURE_HEADER)
    if header is None:
        raise WebhookRejected(401, "the X-Hub-Signature-256 header is missing")
    found = _SIGNATURE.fullmatch(header.strip())
    if found is None:
        raise WebhookRejected(401, "X-Hub-Signature-256 must be 'sha256=' and 64 hex digits")
    expected = hmac.new(app_secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(found.group(1).lower(), expected):
        raise WebhookRejected(401, "the X-Hub-Signature-256 signature does not match the body")


def parse(
    app_secret: SecretStr | None, headers: Mapping[str, str], body: bytes
) -> list[InboundEvent]:
    """Verify one call and return its events (see the module docstring)."""
    check_signature(app_secret, headers, body)
    parsed = read_json(body)
    if not isinstance(parsed, dict) or parsed.get("object") != "whatsapp_business_account":
        raise WebhookRejected(422, "object must be 'whatsapp_business_account'")
    entries = _list(parsed.get("entry"), "entry")
    events: list[InboundEvent] = []
    for e, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise WebhookRejected(422, f"entry[{e}] must be an object")
        waba_id = entry.get("id")
        for c, change in enumerate(_list(entry.get("changes"), f"entry[{e}].changes")):
            where = f"entry[{e}].changes[{c}]"
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise WebhookRejected(422, f"{where}.value must be an object")
            events.extend(_change_events(where, waba_id, change))
    return events


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise WebhookRejected(422, f"{where} must be a list")
    return value


def _change_events(where: str, waba_id: Any, change: dict[str, Any]) -> list[InboundEvent]:
    """The events of one ``changes[]`` item."""
    field = change.get("field")
    value: dict[str, Any] = change["value"]
    metadata = value.get("metadata")
    phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    common = {"waba_id": waba_id, "phone_number_id": phone_number_id}
    if field != "messages":
        return [_keyed(CHANGE, {**common, "field": field, "value": value})]
    events: list[InboundEvent] = []
    contacts = {
        item.get("wa_id"): item
        for item in value.get("contacts") or []
        if isinstance(item, dict) and isinstance(item.get("wa_id"), str)
    }
    for m, message in enumerate(_list(value.get("messages") or [], f"{where}.value.messages")):
        wamid = _wamid(message, f"{where}.value.messages[{m}]")
        sender = message.get("from")
        payload = {**common, "message": message, "contact": contacts.get(sender)}
        events.append(InboundEvent(f"{MESSAGE}:{wamid}", MESSAGE, payload, _time(message)))
    for s, item in enumerate(_list(value.get("statuses") or [], f"{where}.value.statuses")):
        wamid = _wamid(item, f"{where}.value.statuses[{s}]")
        state = item.get("status")
        if not isinstance(state, str) or not re.fullmatch(r"[a-z_]{1,32}", state):
            raise WebhookRejected(422, f"{where}.value.statuses[{s}].status must be a status name")
        payload = {**common, "status": item}
        events.append(InboundEvent(f"{STATUS}:{wamid}:{state}", STATUS, payload, _time(item)))
    errors = value.get("errors")
    if errors:
        events.append(_keyed(ERROR, {**common, "errors": _list(errors, f"{where}.value.errors")}))
    return events


def _wamid(item: Any, where: str) -> str:
    if not isinstance(item, dict):
        raise WebhookRejected(422, f"{where} must be an object")
    wamid = item.get("id")
    if not isinstance(wamid, str) or not 1 <= len(wamid) <= MAX_WAMID or not wamid.isprintable():
        raise WebhookRejected(
            422, f"{where}.id must be a message id of 1 to {MAX_WAMID} characters"
        )
    return wamid


def _keyed(type_: str, payload: dict[str, Any]) -> InboundEvent:
    """An event with no id of its own, keyed by its content (a repeat stores nothing)."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return InboundEvent(f"{type_}:{digest}", type_, payload)


def _time(item: dict[str, Any]) -> datetime | None:
    """Meta's ``timestamp`` (unix seconds as text) as an aware time; None if unreadable."""
    return unix_time(item.get("timestamp"))


def unix_time(value: Any) -> datetime | None:
    """Unix seconds (text or a number) as an aware UTC time; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value):
        value = int(value)
    if not isinstance(value, int) or not 0 < value < 253402300800:
        return None
    return datetime.fromtimestamp(value, UTC)


def body_schema() -> dict[str, Any]:
    """The JSON Schema of a webhook call's body, for the OpenAPI document."""
    value = {"type": "object", "description": "metadata with messages+contacts, statuses or errors"}
    change = {
        "type": "object",
        "required": ["field", "value"],
        "properties": {"field": {"type": "string"}, "value": value},
    }
    entry = {
        "type": "object",
        "required": ["id", "changes"],
        "properties": {
            "id": {"type": "string"},
            "changes": {"type": "array", "items": change},
        },
    }
    return {
        "title": "WhatsApp Cloud API webhook call",
        "type": "object",
        "required": ["object", "entry"],
        "properties": {
            "object": {"const": "whatsapp_business_account"},
            "entry": {"type": "array", "items": entry},
        },
    }


__all__ = ["body_schema", "check_signature", "parse", "unix_time", "verify"]
