"""Schemathesis hooks that sign webhook bodies, so a fuzzer gets past the signature check.

Load with ``SCHEMATHESIS_HOOKS=core.testing.fuzz_hooks`` and give the plugins' Standard
Webhooks secret in ``CRM_SYNC_FUZZ_WEBHOOK_SECRET``. Every request to
``/v1/webhooks/...`` then goes out with the body serialised here (exactly the bytes
signed) and fresh ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
headers, so the fuzzer tests what the plugin does with the body, not the signature.

A schema-valid body the API refuses (``positive_data_acceptance``) is a failure unless
every error it names is one of ``UNEXPRESSIBLE_RULES``: check digits and arithmetic
between fields, which no JSON Schema can state (docs/api-limits.md lists them).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import schemathesis
from schemathesis.core import NotSet
from standardwebhooks import Webhook

#: The environment variable holding the secret every fuzzed plugin is configured with.
SECRET_VARIABLE = "CRM_SYNC_FUZZ_WEBHOOK_SECRET"  # noqa: S105 (a name, not a secret)
WEBHOOK_PREFIX = "/v1/webhooks/"


def signed_body(body: Any, secret: str) -> tuple[bytes, dict[str, str]]:
    """The bytes to send for a generated ``body`` and the Standard Webhooks headers over them."""
    if isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    message_id = f"fuzz_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(message_id, now, data.decode(errors="replace"))
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return data, headers


#: Fragments of the messages of the rules the OpenAPI document cannot express.
UNEXPRESSIBLE_RULES = (
    "is not a valid Iranian national id",  # a check digit
    "is not a valid legal national id",  # a check digit
    "is not a valid economic code",  # a check digit, and it depends on the type
    "is larger than the line amount",  # discount > quantity x unit_price
    "is larger than the line's net amount",  # tax > quantity x unit_price - discount
    "is before issue_date",  # valid_until < issue_date
    "not a page cursor",  # an opaque token only a page's link gives
    "cannot be broken down by",  # which ``by`` a KPI takes depends on the KPI named
    "is before qualified_at",  # a lead's converted_at < qualified_at
    "is before opened_at",  # an opportunity's closed_at, a case's resolved_at < opened_at
    "is after resolved_at",  # a case's reopened_at > resolved_at
    "is after qualified_at",  # a lead's mql_at > qualified_at
    "is not after start_date",  # a subscription's end_date <= start_date
    "is before start_date",  # a subscription's cancelled_on < start_date
)


def only_unexpressible(problem: Any) -> bool:
    """Whether a 422 problem's errors all come from rules no JSON Schema can state."""
    if not isinstance(problem, dict) or problem.get("status") != 422:
        return False
    errors = problem.get("errors") or []
    return bool(errors) and all(
        any(rule in str(error.get("message", "")) for rule in UNEXPRESSIBLE_RULES)
        for error in errors
    )


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a refusal that only names rules no schema can express."""
    if getattr(failure, "code", None) != "ST202":
        return True
    try:
        problem = json.loads(response.content)
    except ValueError:
        return True
    return not only_unexpressible(problem)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Sign the body of every webhook call with the configured secret."""
    secret = os.environ.get(SECRET_VARIABLE)
    if secret is None or not str(case.path).startswith(WEBHOOK_PREFIX):
        return
    body = None if isinstance(case.body, NotSet) else case.body
    data, headers = signed_body(body, secret)
    kwargs["data"] = data
    case.headers = {**(case.headers or {}), **headers}


__all__ = [
    "SECRET_VARIABLE",
    "UNEXPRESSIBLE_RULES",
    "before_call",
    "filter_failure",
    "only_unexpressible",
    "signed_body",
]
