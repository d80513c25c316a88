"""Retry delays and when a failing job gives up (shared by pushes and inbound events)."""

from __future__ import annotations

import random

import pytest

from core.errors import PermanentError, TransientError
from core.settings import SyncSettings
from core.sync.backoff import exhausted, plan_retry, retry_delay


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0)])
def test_the_delay_doubles_up_to_the_maximum_with_equal_jitter(
    attempt: int, ceiling: float
) -> None:
    rng = random.Random(3)
    delays = [retry_delay(attempt, minimum=1.0, maximum=10.0, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert max(delays) - min(delays) > ceiling / 4  # spread out, not all the same


def test_retry_after_is_a_floor() -> None:
    assert retry_delay(1, minimum=1.0, maximum=10.0, retry_after=120) == 120
    assert retry_delay(6, minimum=1.0, maximum=10.0, retry_after=0.5) >= 5.0


def test_a_plan_retries_transient_failures_until_the_last_attempt() -> None:
    settings = SyncSettings(max_attempts=3, min_backoff_seconds=1, max_backoff_seconds=8)
    first = plan_retry(TransientError("busy", retry_after=30), 1, settings)
    assert first.delay == 30 and first.message == "busy"
    last = plan_retry(TransientError("busy"), 3, settings)
    assert (last.delay, last.message) == (None, "gave up after 3 attempts: busy")
    refused = plan_retry(PermanentError("no such product"), 1, settings)
    assert (refused.delay, refused.message) == (None, "no such product")


def test_a_job_claimed_past_its_attempts_is_given_up_with_the_last_reason() -> None:
    settings = SyncSettings(max_attempts=3)
    assert exhausted(3, settings, None) is None
    crashed = exhausted(4, settings, None)
    assert crashed is not None
    assert str(crashed) == "gave up after 3 attempts: the worker stopped during every attempt"
    timed_out = exhausted(4, settings, "read timeout")
    assert timed_out is not None and str(timed_out) == "gave up after 3 attempts: read timeout"
