"""Green, amber or red: a figure against its target, and its change from the previous period."""

from __future__ import annotations

from typing import Literal

from kpis.settings import KpiTarget

Status = Literal["green", "amber", "red", "no_data", "no_target"]


def _miss(target: KpiTarget, value: float, previous: float | None) -> float | None:
    """How far ``value`` falls short of ``target`` (0 when met); None when not judgeable."""
    low, high = target.value, target.high
    match target.direction:
        case "at_least":
            assert low is not None
            return max(0.0, low - value)
        case "above":
            assert low is not None
            return 0.0 if value > low else low - value
        case "at_most":
            assert low is not None
            return max(0.0, value - low)
        case "below":
            assert low is not None
            return 0.0 if value < low else value - low
        case "between":
            assert low is not None and high is not None
            return max(0.0, low - value, value - high)
        case "rising":
            if previous is None:
                return None
            return 0.0 if value > previous else previous - value
    raise AssertionError(target.direction)


def status(target: KpiTarget | None, value: float | None, previous: float | None) -> Status:
    """The colour of ``value`` against ``target``; ``previous`` judges a 'rising' target.

    A miss within the amber band is amber, except that a 'rising' figure that stays
    level (a miss of 0 that is not a rise) is amber as well.
    """
    if target is None:
        return "no_target"
    if value is None:
        return "no_data"
    miss = _miss(target, value, previous)
    if miss is None:
        return "no_data"
    if target.direction in ("above", "below", "rising") and miss == 0.0:
        met = {
            "above": target.value is not None and value > target.value,
            "below": target.value is not None and value < target.value,
            "rising": previous is not None and value > previous,
        }[target.direction]
        if not met:
            return "amber"
    if miss == 0.0:
        return "green"
    return "amber" if miss <= target.amber else "red"


def change(value: float | None, previous: float | None) -> float | None:
    """``value`` minus ``previous``, in the KPI's unit; None when either is missing."""
    if value is None or previous is None:
        return None
    return value - previous


__all__ = ["Status", "change", "status"]
