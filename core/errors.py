"""Failure classes shared by the sync engine and plugins.

The engine decides what happens to a delivery from the class of the error a plugin
raises (or that its HTTP client raised): transient errors are retried with backoff,
permanent ones go straight to the dead list with their reason.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class of every error a plugin may raise while mapping or pushing."""


class TransientError(SyncError):
    """The target may accept the same document later: timeouts, 5xx, 429, refused connections.

    ``retry_after`` (seconds) is the target's own hint, such as an HTTP ``Retry-After``
    header; the engine waits at least that long before the next attempt.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(SyncError):
    """The target will refuse this version of the document whatever we do: validation 4xx.

    The delivery is marked dead at once with this message as the reason; an admin
    retries it after fixing the record or the target.
    """


class WaitingFor(TransientError):
    """The document needs another plugin's document first: a sale that plugin creates.

    Waiting is not failing: the engine gives the attempt back (so a dependency that is
    down for hours never kills its dependants), keeps the delivery ``failed`` with the
    reason ``waiting on <plugin>: <message>`` and the error class ``waiting-<plugin>``,
    and tries again every ``sync.wait_seconds`` until the dependency has synced.
    """

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"waiting on {plugin}: {message}")
        self.plugin = plugin


class HoldSending(SyncError):
    """The target refuses every document until a person acts: an expired or revoked token.

    Spending each delivery's attempts would only fill the dead list, so the engine pauses
    the plugin's sending instead (held in the database, obeyed by every worker), leaves
    the delivery due without counting the attempt, and reports the plugin unhealthy with
    this message until an admin resumes it.
    """


class RateLimited(SyncError):
    """The target's rate limit allows no send of this document now: send it later.

    Like :class:`WaitingFor` it spends no attempt and pauses nothing: the engine gives
    the attempt back and makes the delivery due again in ``seconds`` (reason
    ``waiting: <message>``, error class ``waiting``); the other documents of the call go on.
    """

    def __init__(self, message: str, *, seconds: float) -> None:
        super().__init__(message)
        self.seconds = max(0.0, seconds)


class MappingError(PermanentError):
    """The canonical record cannot be turned into the target's document."""


class WebhookRejected(Exception):
    """An inbound webhook is refused: bad signature (401) or a malformed body (400, 422).

    Raised by a plugin's ``crm_sync_parse_webhook``; the API answers ``status`` with the
    message as a problem detail and stores nothing.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ConfigurationError(Exception):
    """Settings are missing or invalid; the message names the plugin and the field."""
