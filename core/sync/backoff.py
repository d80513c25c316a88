"""Retries: exponential backoff with jitter, and when a failing job gives up.

The sync engine (outbound pushes) and the inbound engine (events applied) decide the
same way: a transient failure is retried until ``max_attempts``, anything else ends
the job dead, and a job whose worker died during every attempt is given up before the
next one runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.errors import PermanentError, SyncError, TransientError
from core.settings import SyncSettings

_DEFAULT_RNG = random.Random()


def retry_delay(
    attempt: int,
    *,
    minimum: float,
    maximum: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Return the seconds to wait before attempt number ``attempt + 1``.

    The ceiling doubles with each attempt from ``minimum`` up to ``maximum``; the delay
    is drawn between half the ceiling and the ceiling ("equal jitter"), so retries of
    many deliveries spread out instead of arriving together. A target's Retry-After
    is a floor: we never come back sooner than it asked.
    """
    ceiling: float = min(maximum, minimum * 2.0 ** max(0, attempt - 1))
    generator = rng if rng is not None else _DEFAULT_RNG
    delay = ceiling / 2 + generator.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass(frozen=True)
class RetryPlan:
    """What to do after a failed attempt: retry after ``delay`` seconds, or (None) give up.

    ``message`` is what to keep as the job's last error.
    """

    delay: float | None
    message: str


def plan_retry(error: SyncError, attempts: int, settings: SyncSettings) -> RetryPlan:
    """Retry a transient failure of attempt ``attempts`` while attempts remain; else give up."""
    if isinstance(error, TransientError) and attempts < settings.max_attempts:
        delay = retry_delay(
            attempts,
            minimum=settings.min_backoff_seconds,
            maximum=settings.max_backoff_seconds,
            retry_after=error.retry_after,
        )
        return RetryPlan(delay, str(error))
    if isinstance(error, TransientError):
        return RetryPlan(None, f"gave up after {attempts} attempts: {error}")
    return RetryPlan(None, str(error))


def exhausted(
    attempts: int, settings: SyncSettings, last_error: str | None
) -> PermanentError | None:
    """The error that ends a job claimed for attempt ``attempts`` beyond ``max_attempts``.

    Attempts are counted when a job is claimed, so a job whose worker died during every
    attempt (a message that kills its worker) arrives here with no outcome recorded and
    is given up instead of being run again.
    """
    if attempts <= settings.max_attempts:
        return None
    reason = last_error or "the worker stopped during every attempt"
    return PermanentError(f"gave up after {attempts - 1} attempts: {reason}")
