"""The agents a decision is planned with are kept for a few seconds: how stale they may be.

An agent added or changed is seen after the window (or when the service forgets the
kept agents); one deactivated or set away is never given a lead, even inside the
window, because the decision's transaction checks the chosen agent again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lead_scoring.assignment.reads import AGENT_CACHE_SECONDS
from tests.lead_scoring.assignment.conftest import World

#: On PostgreSQL the chosen agent is checked in the statement that records the
#: assignment, on SQLite in one of its own: both must refuse a stale agent.
pytestmark = pytest.mark.parametrize("world", ["sqlite", "postgres"], indirect=True)


class Ticks:
    """A monotonic clock tests move by hand (the window of the kept agents)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_new_agent_is_seen_once_the_window_has_passed(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(1)
    service = world.service()
    ticks = Ticks()
    service.monotonic = ticks
    world.lead("L0")
    assert service.assign("L0").owner_id == "a1"
    world.agent("a2")
    world.lead("L1")
    assert service.assign("L1").owner_id == "a1"  # within the window: a2 not seen yet
    ticks.now += AGENT_CACHE_SECONDS
    owners = set()
    for i in range(2, 4):  # a2 joins at a1's turns: one each
        world.lead(f"L{i}")
        owners.add(service.assign(f"L{i}").owner_id)
    assert owners == {"a1", "a2"}


def test_an_agent_deactivated_inside_the_window_gets_no_lead(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(1)
    service = world.service()
    service.monotonic = Ticks()  # the window never ends on its own
    world.lead("L0")
    assert service.assign("L0").owner_id == "a1"
    world.agent("a2")
    world.agent("a1", active=False)
    for i in range(1, 4):
        world.lead(f"L{i}")
        outcome = service.assign(f"L{i}")
        assert (outcome.action, outcome.owner_id) == ("rotation", "a2")
    assert [row.to_agent for i in range(1, 4) for row in world.history(f"L{i}")] == ["a2"] * 3


def test_an_agent_set_away_by_another_process_gets_no_lead(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(2)
    service = world.service()
    service.monotonic = Ticks()
    world.lead("L0")
    service.assign("L0")
    elsewhere = world.service()  # another process: this service is not told
    elsewhere.set_away("a1", until=None, reason="leave")
    elsewhere.set_away("a2", until=world.clock.now.replace(year=2030), reason="leave")
    world.agent("a3")
    for i in range(1, 4):
        world.lead(f"L{i}")
        assert service.assign(f"L{i}").owner_id == "a3"


def test_setting_an_agent_away_here_forgets_the_kept_agents(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(2)
    service = world.service()
    service.monotonic = Ticks()
    world.lead("L0")
    service.assign("L0")
    world.agent("a3")
    service.set_away("a1", until=None, reason="leave")
    service.set_away("a2", until=None, reason="leave")
    world.lead("L1")
    assert service.assign("L1").owner_id == "a3"  # read again, so the new agent is seen


def test_a_sticky_owner_deactivated_inside_the_window_is_not_given_the_lead(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(2)
    service = world.service()
    service.monotonic = Ticks()
    world.put(
        "customer", "C1", type="person", name="Reza", phones=["09121112233"],
        emails=["reza@example.ir"], owner_id="a1",
    )  # fmt: skip
    world.lead("L0", phones=["09121112233"])
    assert (service.assign("L0").action, world.owner("lead", "L0")) == ("sticky", "a1")
    world.agent("a1", active=False)
    world.lead("L1", emails=["reza@example.ir"])  # the same customer, not a duplicate lead
    outcome = service.assign("L1")
    assert (outcome.action, outcome.owner_id) == ("rotation", "a2")
