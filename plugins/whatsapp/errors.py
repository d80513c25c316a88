"""Meta's error codes, and what each one makes of a send: retry, dead with a reason, or hold.

From Meta's error-code reference. The answer (and a failed status webhook) carries
``error.code`` and ``error.error_data.details``; the code decides, never the title.

- retried with backoff: 130429 (the number's throughput), 4 and 80007 (app and account
  rate limits, slower), 131056 (too many messages to one recipient: only that message
  waits, others go on), 1, 2, 131000, 131016 (Meta's side is failing);
- dead with the reason in plain words: 131047 (the 24-hour window is closed), 131026
  (undeliverable), 131048, 131049, 131050, template errors (132xxx), bad requests (100,
  131008, 131009) and any other code;
- 190 and 0 (the token expired or was revoked) hold the plugin's sending: every message
  would fail the same way, so none spends its attempts until a person renews the token.
"""

from __future__ import annotations

from typing import Any

from core.errors import HoldSending, PermanentError, SyncError, TransientError

#: Codes retried, with the least wait (seconds) before the next attempt.
RETRY_AFTER: dict[int, float] = {
    130429: 1.0,
    4: 60.0,
    80007: 60.0,
    131056: 6.0,
    1: 0.0,
    2: 0.0,
    131000: 0.0,
    131016: 0.0,
}
#: Codes that hold sending until a person acts.
HOLD = frozenset({0, 190})
#: What a dead message's reason says for the codes people meet most.
PLAIN_WORDS: dict[int, str] = {
    131047: (
        "more than 24 hours have passed since the customer last wrote: "
        "only an approved template can reach them now"
    ),
    131026: (
        "the message cannot be delivered: the number is not on WhatsApp, has not "
        "accepted the terms, or uses an old client"
    ),
    131048: "Meta limits this number for spam reports: pause the campaign and check its quality",
    131049: "Meta chose not to deliver this marketing message; do not resend within 24 hours",
    131050: "the customer stopped marketing messages from this business",
    132000: "the template's parameters do not match its placeholders",
    132001: "the template does not exist in this language (or is not approved yet)",
    132005: "the template's text with its parameters is too long",
    132007: "the template's content breaks WhatsApp's policy",
    132012: "the template's parameters have the wrong format",
    132015: "the template is paused for low quality",
    132016: "the template is disabled",
    100: "Meta refused the request as malformed (invalid parameter)",
    131008: "Meta refused the request: a required parameter is missing",
    131009: "Meta refused the request: a parameter's value is not valid",
}


def error_of(body: Any) -> tuple[int | None, str]:
    """The code and a description (message, details) of Meta's error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "no error body"
    code = error.get("code")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    words = " - ".join(str(part) for part in (error.get("message"), details) if part)
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), words


def classify(status: int, body: Any) -> SyncError:
    """The error a failed send answer stands for (see the module docstring)."""
    code, words = error_of(body)
    said = f"WhatsApp error {code}: {words}" if code is not None else f"HTTP {status}: {words}"
    if code in HOLD:
        return HoldSending(f"{said}; renew the access token, then resume the plugin")
    if code in RETRY_AFTER:
        return TransientError(said, retry_after=RETRY_AFTER[code] or None)
    if code is None and (status >= 500 or status == 429):
        return TransientError(said)
    plain = PLAIN_WORDS.get(code) if code is not None else None
    return PermanentError(f"{plain} ({said})" if plain else said)


__all__ = ["HOLD", "PLAIN_WORDS", "RETRY_AFTER", "classify", "error_of"]
