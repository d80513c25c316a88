"""Retry delays: exponential backoff with jitter, never shorter than the target asked."""

from __future__ import annotations

import random

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
