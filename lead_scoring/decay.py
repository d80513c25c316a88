"""Engagement decay and the time arithmetic that both scoring paths share.

An event ``d`` whole days old gives ``round(points * 0.5 ** (d / half_life_days))``
hundredths of a point. The factors come from one table built here, and ages are whole
days computed with integer arithmetic, so the per-lead and the bulk path produce the
same hundredths to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Microseconds in one day: ages are whole days, computed on integer microseconds.
DAY_US = 86_400_000_000

#: Past this many half-lives an event is worth nothing (2**-40 of 10,000 points is far
#: below a hundredth of a point), so the table stops there with a final 0.0.
HORIZON_HALF_LIVES = 40

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Return a timezone-aware datetime as exact integer microseconds since 1970 UTC."""
    return (moment - _EPOCH) // _MICROSECOND


def age_days(now_us: int, at_us: int) -> int:
    """Return how many whole days have passed from ``at_us`` to ``now_us`` (never negative).

    An event stamped slightly after ``now`` (clock skew between systems) counts as new.
    """
    return max(0, (now_us - at_us) // DAY_US)


@dataclass(frozen=True)
class Decay:
    """The decay factor for each whole-day age, from a half-life (None: no decay)."""

    half_life_days: float | None
    factors: tuple[float, ...]

    @classmethod
    def from_half_life(cls, half_life_days: float | None) -> Decay:
        """Build the factor table; the last entry applies to every older age."""
        if half_life_days is None:
            return cls(None, (1.0,))
        horizon = int(half_life_days * HORIZON_HALF_LIVES) + 1
        factors = tuple(0.5 ** (day / half_life_days) for day in range(horizon))
        return cls(half_life_days, (*factors, 0.0))

    def factor(self, days: int) -> float:
        """Return the factor for an age in whole days."""
        return self.factors[min(days, len(self.factors) - 1)]

    def decayed(self, base_cents: int, days: int) -> int:
        """Return ``base_cents`` decayed for ``days``, rounded half to even to a hundredth."""
        return round(base_cents * self.factor(days))
