"""Retry delays: exponential backoff with jitter, never shorter than the target asked."""

from __future__ import annotations

import random


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
    ceiling = min(maximum, minimum * 2 ** max(0, attempt - 1))
    delay = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
