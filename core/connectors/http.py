"""Classification of HTTP outcomes into the engine's transient and permanent errors."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from core.errors import PermanentError, SyncError, TransientError

#: Statuses that say "try again later" even though they are 4xx.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for_response(response: httpx.Response) -> SyncError | None:
    """Return the error a non-2xx answer stands for, or None for a success.

    5xx, 408, 409, 425 and 429 are transient (with the target's Retry-After, if any);
    every other 4xx is permanent and carries the start of the target's answer, which is
    usually the validation message an admin needs.
    """
    if response.is_success:
        return None
    status = response.status_code
    excerpt = response.text[:500].strip()
    message = f"HTTP {status} from {response.request.url.host}: {excerpt}".rstrip(": ")
    if status >= 500 or status in RETRYABLE_4XX:
        return TransientError(
            message, retry_after=parse_retry_after(response.headers.get("retry-after"))
        )
    return PermanentError(message)


def classify_exception(error: BaseException) -> SyncError:
    """Turn any exception raised by a push into a transient or permanent error."""
    if isinstance(error, SyncError):
        return error
    if isinstance(error, httpx.TimeoutException):
        return TransientError(f"timed out: {type(error).__name__}")
    if isinstance(error, httpx.HTTPStatusError):
        return error_for_response(error.response) or PermanentError(str(error))
    if isinstance(error, httpx.TransportError):
        return TransientError(f"connection failed: {type(error).__name__}: {error}")
    return PermanentError(f"plugin error: {type(error).__name__}: {error}")
