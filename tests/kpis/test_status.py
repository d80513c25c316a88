"""Green, amber and red against each kind of target."""

from __future__ import annotations

import pytest

from kpis.settings import KpiTarget, TeamTarget
from kpis.status import change, status


@pytest.mark.parametrize(
    ("target", "value", "previous", "expected"),
    [
        (KpiTarget(direction="at_least", value=35, amber=5), 35, None, "green"),
        (KpiTarget(direction="at_least", value=35, amber=5), 30, None, "amber"),
        (KpiTarget(direction="at_least", value=35, amber=5), 29.9, None, "red"),
        (KpiTarget(direction="above", value=90, amber=5), 90, None, "amber"),
        (KpiTarget(direction="above", value=90, amber=5), 90.1, None, "green"),
        (KpiTarget(direction="below", value=60, amber=15), 60, None, "amber"),
        (KpiTarget(direction="below", value=60, amber=15), 76, None, "red"),
        (KpiTarget(direction="at_most", value=15, amber=5), 15, None, "green"),
        (KpiTarget(direction="between", value=3, high=5, amber=1), 5.5, None, "amber"),
        (KpiTarget(direction="between", value=3, high=5, amber=1), 1.9, None, "red"),
        (KpiTarget(direction="rising"), 10, 9, "green"),
        (KpiTarget(direction="rising"), 10, 10, "amber"),
        (KpiTarget(direction="rising"), 10, 11, "red"),
        (KpiTarget(direction="rising"), 10, None, "no_data"),
        (KpiTarget(direction="at_least", value=35), None, 40, "no_data"),
        (None, 12, None, "no_target"),
    ],
)
def test_status(
    target: KpiTarget | None, value: float | None, previous: float | None, expected: str
) -> None:
    assert status(target, value, previous) == expected


def test_a_team_target_replaces_the_value_only() -> None:
    target = KpiTarget(direction="above", value=90, amber=5, teams={"south": TeamTarget(value=40)})
    assert target.for_team("south").value == 40
    assert target.for_team("south").amber == 5
    assert target.for_team("north").value == 90
    assert change(10, None) is None
    assert change(12.5, 10) == 2.5
