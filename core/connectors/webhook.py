"""The ``webhook`` backend: signed JSON documents POSTed to a URL the target chooses.

Every request is signed per the Standard Webhooks specification (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) with the plugin's secret and carries an
``Idempotency-Key``. In batch mode the body is a JSON array of documents, each with its
own idempotency key, and the answer is one result per document. docs/receiving.md
tells a receiving team how to verify and answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, Field, HttpUrl, SecretStr, ValidationError, field_validator
from standardwebhooks import Webhook, WebhookVerificationError

from core.connectors.http import RETRYABLE_4XX, error_for_response
from core.errors import PermanentError, SyncError, TransientError, WebhookRejected
from core.json_limits import RefusedJSON, decode
from core.plugin_types import OutboundDocument, PushResult
from core.schemas.base import ID_PATTERN

#: The Standard Webhooks headers every signed call carries.
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

#: Longest ``webhook-id`` accepted: it becomes an inbound event id (256 wide), and a
#: plugin may suffix it with a document's index in a batch (``:<index>``).
MAX_WEBHOOK_ID = 200

#: Largest ``version`` a document may carry: the largest integer every JSON reader
#: (JavaScript's included) keeps exact.
MAX_VERSION = 2**53 - 1

#: Longest idempotency key and external id a document may carry.
MAX_KEY = 256

try:
    USER_AGENT = f"crm-sync/{metadata.version('crm-sync')}"
except metadata.PackageNotFoundError:
    USER_AGENT = "crm-sync"


class WebhookTarget(BaseModel):
    """Where and how a plugin's webhook backend sends documents."""

    url: HttpUrl
    secret: SecretStr = Field(description="whsec_<base64>, shared with the receiver")
    batch: bool = Field(default=False, description="send a JSON array of documents per request")
    max_batch: int = Field(default=100, ge=1, le=1000)

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret.startswith("whsec_"):
            raise ValueError("must start with whsec_ followed by base64 (Standard Webhooks)")
        try:
            key = base64.b64decode(secret.removeprefix("whsec_") + "==", validate=False)
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64 after whsec_") from None
        if len(key) < 24:
            raise ValueError("must hold at least 24 bytes of key material")
        return value


def document_body(document: OutboundDocument) -> dict[str, Any]:
    """The JSON object one document is sent as."""
    return {
        "type": document.type,
        "id": document.id,
        "version": document.version,
        "occurred_at": document.occurred_at.isoformat(),
        "idempotency_key": document.idempotency_key,
        "external_id": document.external_id,
        "data": document.payload,
    }


def document_schema(
    type_: str, data: dict[str, Any], *, title: str | None = None
) -> dict[str, Any]:
    """The JSON Schema of a signed webhook document of ``type_`` whose ``data`` is ``data``."""
    definitions = data.pop("$defs", None)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title or f"crm-sync {type_} document",
        "type": "object",
        "required": ["type", "id", "version", "occurred_at", "idempotency_key", "data"],
        "properties": {
            "type": {"const": type_},
            "id": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN},
            "version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
            "occurred_at": {"type": "string", "format": "date-time"},
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
            "external_id": {"type": ["string", "null"], "maxLength": MAX_KEY},
            "data": data,
        },
        "additionalProperties": False,
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


def _encode(value: Any) -> bytes:
    """Compact UTF-8 JSON, as ``json.dumps(ensure_ascii=False)`` writes it, a tenth as slow."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


class WebhookSender:
    """Signs and POSTs documents to one webhook target."""

    def __init__(self, target: WebhookTarget, http: httpx.Client) -> None:
        self.target = target
        self.http = http
        self.signer = Webhook(target.secret.get_secret_value())
        self.url = str(target.url)

    def _headers(self, message_id: str, body: bytes) -> dict[str, str]:
        now = datetime.now(UTC)
        return {
            "content-type": "application/json; charset=utf-8",
            "user-agent": USER_AGENT,
            "idempotency-key": message_id,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(message_id, now, body.decode()),
        }

    def push(self, documents: list[OutboundDocument]) -> list[PushResult]:
        """Send ``documents`` (one per request, or as arrays in batch mode)."""
        if self.target.batch:
            size = self.target.max_batch
            results: list[PushResult] = []
            for start in range(0, len(documents), size):
                results.extend(self._push_batch(documents[start : start + size]))
            return results
        return [self._push_one(document) for document in documents]

    def _push_one(self, document: OutboundDocument) -> PushResult:
        body = _encode(document_body(document))
        response = self.http.post(
            self.url, content=body, headers=self._headers(document.idempotency_key, body)
        )
        error = error_for_response(response)
        if error is not None:
            raise error
        return PushResult(external_id=_external_id(response))

    def _push_batch(self, documents: list[OutboundDocument]) -> list[PushResult]:
        body = _encode([document_body(document) for document in documents])
        keys = "\n".join(document.idempotency_key for document in documents)
        batch_id = "crm-sync-batch-" + hashlib.sha256(keys.encode()).hexdigest()[:40]
        response = self.http.post(self.url, content=body, headers=self._headers(batch_id, body))
        error = error_for_response(response)
        if error is not None:
            raise error
        try:
            answers = response.json()
        except ValueError:
            answers = None
        if not isinstance(answers, list) or len(answers) != len(documents):
            raise TransientError(
                f"the receiver answered a batch of {len(documents)} without one result per document"
            )
        return [_batch_result(answer) for answer in answers]


def _external_id(response: httpx.Response) -> str | None:
    if not response.content:
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    value = answer.get("external_id") if isinstance(answer, dict) else None
    return str(value) if value is not None else None


def _batch_result(answer: Any) -> PushResult:
    if not isinstance(answer, dict):
        return PushResult(error=TransientError("a batch result is not an object"))
    status = answer.get("status", 200)
    if not isinstance(status, int):
        return PushResult(error=TransientError("a batch result has no numeric status"))
    if 200 <= status < 300:
        external = answer.get("external_id")
        return PushResult(external_id=str(external) if external is not None else None)
    reason = str(answer.get("error") or f"status {status}")
    error: SyncError
    if status >= 500 or status in RETRYABLE_4XX:
        error = TransientError(f"HTTP {status} for this document: {reason}")
    else:
        error = PermanentError(f"HTTP {status} for this document: {reason}")
    return PushResult(error=error)


def verify_signature(secret: SecretStr, headers: Mapping[str, str], body: bytes) -> str:
    """Check the Standard Webhooks signature of a received body; return its ``webhook-id``.

    ``headers`` are lower-cased. Refused with 401 (``WebhookRejected``) when a header is
    missing, the timestamp is outside the library's tolerance (five minutes), no
    signature matches, or the headers or body are malformed (a signature without its
    version, a body that is not UTF-8): nothing is read before the sender is known.
    """
    missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
    if missing:
        raise WebhookRejected(401, f"missing signature headers: {', '.join(missing)}")
    signed = {name: headers[name] for name in SIGNATURE_HEADERS}
    try:
        Webhook(secret.get_secret_value()).verify(body, signed, json_parse=False)
    except WebhookVerificationError as error:
        raise WebhookRejected(401, f"bad signature: {error}") from None
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise WebhookRejected(401, "bad signature: the signature or body is malformed") from None
    webhook_id = headers["webhook-id"]
    if len(webhook_id) > MAX_WEBHOOK_ID:
        raise WebhookRejected(400, f"webhook-id is longer than {MAX_WEBHOOK_ID} characters")
    return webhook_id


def read_json(body: bytes) -> Any:
    """Decode a verified webhook body within core.json_limits.

    Refused with ``WebhookRejected`` 400 when it is not JSON, nests too deeply or holds
    a huge number, and 422 naming the field when its text holds NUL or an unpaired
    surrogate; call it after :func:`verify_signature`, instead of ``json.loads``.
    """
    try:
        return decode(body)
    except RefusedJSON as refused:
        detail = "the body is not JSON" if refused.slug == "malformed-json" else str(refused)
        raise WebhookRejected(refused.status, detail) from None


def validation_problems(error: ValidationError, *, limit: int = 5) -> str:
    """The first ``limit`` problems of a pydantic error as ``field: message; ...``.

    The values sent are not echoed, so a rejection never repeats a sender's data.
    """
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)[:limit]
    )
