"""The first-response warning: ``warn_before_minutes`` of working time before the deadline.

It is a timer like the breach's, so it fires once at its working moment (across a
closed evening too), never once the lead was answered or the clock stopped, and once
only however often, and by however many processes, the timers are looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lead_scoring.assignment.rules import AssignmentRulesError, parse_assignment_rules
from lead_scoring.assignment.statements import FIRST_RESPONSE_WARNING
from lead_scoring.assignment.tables import Timer
from lead_scoring.sla import fire_due
from lead_scoring.sla.timers import claim_due, fire_one
from tests.lead_scoring.assignment.conftest import Clock, World, migrated_engine, tehran

DUE_SOON = "lead.first_response_due_soon"
OVERDUE = "lead.first_response_overdue"

WARNING_RULES = """
[defaults]
first_response_minutes = 15
warn_before_minutes = 5
escalate_after_minutes = 30

[calendar]
hours = "08:00-17:00"
thursday = "08:00-13:00"

[[rules]]
name = "sales"
team = "sales"
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A migrated database of each kind and a clock at Sunday 10:00 in Tehran."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warning.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = migrated_engine(url)
    yield World(engine, Clock())
    engine.dispose()


def lead_events(world: World, lead_id: str = "L") -> list[dict[str, Any]]:
    return world.events("lead", lead_id)


def types(world: World) -> list[str]:
    return [event["type"] for event in lead_events(world)]


def warning_timers(world: World) -> list[Any]:
    with world.engine.connect() as connection:
        return list(
            connection.execute(
                select(Timer.__table__)
                .where(Timer.kind == FIRST_RESPONSE_WARNING)
                .order_by(Timer.id)
            )
        )


def test_the_warning_fires_once_at_its_working_moment_before_the_breach(
    any_world: World,
) -> None:
    world = any_world
    world.agent("a1")
    service = world.service(WARNING_RULES)
    world.lead("L")
    assert service.assign("L").first_response_due_at == tehran(2025, 6, 1, 10, 15)

    world.clock.advance(minutes=9)
    fire_due(service)
    assert DUE_SOON not in types(world)
    world.clock.advance(minutes=1)
    assert fire_due(service) == 1
    (warning,) = [event for event in lead_events(world) if event["type"] == DUE_SOON]
    assert warning["payload"]["owner_id"] == "a1"
    assert datetime.fromisoformat(warning["payload"]["due_at"]) == tehran(2025, 6, 1, 10, 15)
    assert datetime.fromisoformat(warning["payload"]["warn_at"]) == tehran(2025, 6, 1, 10, 10)
    for _ in range(3):
        fire_due(service)
    assert types(world).count(DUE_SOON) == 1
    # The breach still comes at the deadline, after the warning.
    world.clock.advance(minutes=5)
    assert fire_due(service) == 1
    assert [t for t in types(world) if t in (DUE_SOON, OVERDUE)] == [DUE_SOON, OVERDUE]


def test_the_warning_counts_working_time_across_a_closed_evening(any_world: World) -> None:
    world = any_world
    world.agent("a1")
    service = world.service(WARNING_RULES)
    world.clock.now = tehran(2025, 6, 1, 16, 57)  # Sunday, three minutes before closing
    world.lead("L")
    # 3 minutes on Sunday, 12 on Monday from 08:00: due 08:12, warned at 08:07.
    assert service.assign("L").first_response_due_at == tehran(2025, 6, 2, 8, 12)
    (timer,) = warning_timers(world)
    assert timer.due_at == tehran(2025, 6, 2, 8, 7)

    world.clock.now = tehran(2025, 6, 1, 17, 2)  # five minutes of evening: not working time
    fire_due(service)
    world.clock.now = tehran(2025, 6, 2, 8, 6)
    fire_due(service)
    assert DUE_SOON not in types(world)
    world.clock.now = tehran(2025, 6, 2, 8, 7)
    assert fire_due(service) == 1
    assert types(world).count(DUE_SOON) == 1


def test_no_warning_for_a_lead_answered_before_it(any_world: World) -> None:
    world = any_world
    world.agent("a1")
    service = world.service(WARNING_RULES)
    world.lead("L")
    service.assign("L")
    world.put(
        "interaction",
        "out",
        lead_id="L",
        channel="whatsapp",
        direction="outbound",
        occurred_at=tehran(2025, 6, 1, 10, 3).isoformat(),
    )
    world.clock.advance(minutes=10)
    fire_due(service)
    world.clock.advance(hours=2)
    fire_due(service)
    assert DUE_SOON not in types(world) and OVERDUE not in types(world)
    (timer,) = warning_timers(world)
    assert timer.state == "cancelled"


def test_no_warning_once_the_deadline_passed_while_the_timers_were_stopped(
    any_world: World,
) -> None:
    world = any_world
    world.agent("a1")
    service = world.service(WARNING_RULES)
    world.lead("L")
    service.assign("L")
    # Nothing looked at the timers until after the deadline: the breach counts, not a
    # warning that would come after it.
    world.clock.advance(minutes=20)
    fire_due(service)
    assert OVERDUE in types(world) and DUE_SOON not in types(world)
    (timer,) = warning_timers(world)
    assert timer.state == "fired" and timer.decision["outcome"] == "too late"


def test_the_warning_is_not_published_twice_after_a_restart(any_world: World) -> None:
    world = any_world
    world.agent("a1")
    service = world.service(WARNING_RULES)
    world.lead("L")
    service.assign("L")
    world.clock.advance(minutes=10)
    # A process claims the warning, decides it, publishes it and dies before marking it
    # fired (it never reaches the last step); its lease then expires.
    (timer_id,) = claim_due(service, holder="dead", now=world.clock.now, lease_seconds=30)
    fire_one(service, timer_id, holder="dead", now=world.clock.now)
    with world.engine.begin() as connection:
        connection.execute(
            Timer.__table__.update()
            .where(Timer.id == timer_id)
            .values(state="pending", lease_owner="dead", lease_until=world.clock.now)
        )
    assert types(world).count(DUE_SOON) == 1
    # A restarted process (a new service on the same database) finishes it: once.
    world.clock.advance(seconds=31)
    restarted = world.service(WARNING_RULES)
    assert fire_due(restarted) == 1
    for _ in range(3):
        fire_due(restarted)
    assert types(world).count(DUE_SOON) == 1
    (timer,) = warning_timers(world)
    assert timer.state == "fired"


def test_a_new_owner_gets_a_new_warning_and_the_old_one_is_cancelled(any_world: World) -> None:
    world = any_world
    world.agent("a1")
    world.agent("a2")
    service = world.service(WARNING_RULES)
    world.lead("L")
    first = service.assign("L").owner_id
    other = "a2" if first == "a1" else "a1"
    world.clock.advance(minutes=2)
    service.reassign("L", other, by="test", why="moved")
    old, new = warning_timers(world)
    assert old.state == "cancelled" and new.state == "pending"
    assert new.due_at == world.clock.now + timedelta(minutes=10)
    world.clock.advance(minutes=10)
    fire_due(service)
    (warning,) = [event for event in lead_events(world) if event["type"] == DUE_SOON]
    assert warning["payload"]["owner_id"] == other


def test_no_warning_timer_when_warn_before_minutes_is_zero(world: World) -> None:
    world.agent("a1")
    service = world.service(WARNING_RULES.replace("warn_before_minutes = 5", ""))
    world.lead("L")
    service.assign("L")
    assert warning_timers(world) == []


@pytest.mark.parametrize(
    ("defaults", "rule", "problem"),
    [
        ("warn_before_minutes = 15", "", "warn_before_minutes (15) must be shorter"),
        ("", "warn_before_minutes = 20", "warn_before_minutes (20) must be shorter"),
        ("warn_before_minutes = -1", "", "warn_before_minutes"),
    ],
)
def test_a_warning_at_or_before_the_clock_starts_is_refused(
    defaults: str, rule: str, problem: str
) -> None:
    text = f"""
[defaults]
first_response_minutes = 15
{defaults}
[[rules]]
name = "sales"
{rule}
"""
    with pytest.raises(AssignmentRulesError) as refused:
        parse_assignment_rules(text)
    assert problem in str(refused.value)
