"""First-response SLA: reminder, escalation, the clock stopping, follow-ups; exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from lead_scoring.assignment.tables import TIMER_FAILED, Timer
from lead_scoring.sla import create_followup, fire_due, reassign_task, run_timers, snooze
from lead_scoring.sla.timers import MAX_ATTEMPTS, claim_due, fire_one
from tests.lead_scoring.assignment.conftest import World, tehran


def timers(world: World) -> list[Any]:
    with world.engine.connect() as connection:
        return list(connection.execute(select(Timer.__table__).order_by(Timer.id)))


def types(world: World, type_: str, record_id: str) -> list[str]:
    return [event["type"] for event in world.events(type_, record_id)]


def test_reminder_at_the_deadline_then_escalation_to_the_next_agent(world: World) -> None:
    world.agent("a1")
    world.agent("a2")
    service = world.service()
    world.lead("L")
    first = service.assign("L")
    assert first.first_response_due_at == tehran(2025, 6, 1, 10, 15)

    world.clock.advance(minutes=14)
    assert fire_due(service) == 0
    assert service.measures(["L"])["L"].sla == "pending"

    world.clock.advance(minutes=1)
    assert fire_due(service) == 1
    assert types(world, "lead", "L")[-1] == "lead.first_response_overdue"
    task = world.owner("task", "sla-reminder-1")
    assert task == first.owner_id
    assert service.measures(["L"])["L"].sla == "breached"

    # Escalation comes 30 working minutes after the deadline, not before.
    world.clock.advance(minutes=29)
    assert fire_due(service) == 0
    world.clock.advance(minutes=1)
    assert fire_due(service) == 1
    other = "a2" if first.owner_id == "a1" else "a1"
    assert world.owner("lead", "L") == other
    steps = world.history("L")
    assert [step.action for step in steps] == ["rotation", "escalation"]
    assert (steps[1].from_agent, steps[1].to_agent, steps[1].by) == (first.owner_id, other, "sla")
    assert types(world, "lead", "L")[-1] == "lead.escalated"
    measures = service.measures(["L"])["L"]
    assert (measures.owner_id, measures.escalations, measures.sla) == (other, 1, "breached")
    # The new owner has a fresh deadline of their own.
    assert measures.first_response_due_at == world.clock.now + timedelta(minutes=15)

    # Nothing fires twice, however often the job runs.
    for _ in range(3):
        fire_due(service)
    assert types(world, "lead", "L").count("lead.first_response_overdue") == 1
    assert len(world.history("L")) == 2


def test_escalation_to_the_team_lead(world: World) -> None:
    world.agent("a1")
    world.agent("boss")
    rules = """
[defaults]
escalate_after_minutes = 10
escalate_to = "team_lead"
[teams.sales]
lead = "boss"
[[rules]]
name = "sales"
team = "sales"
"""
    service = world.service(rules)
    world.agent("boss", team="managers")
    world.lead("L")
    assert service.assign("L").owner_id == "a1"
    world.clock.advance(minutes=15)
    fire_due(service)
    world.clock.advance(minutes=10)
    fire_due(service)
    assert world.owner("lead", "L") == "boss"
    assert world.history("L")[-1].details == {"escalated_to": "team_lead"}


def test_the_first_outbound_contact_stops_the_clock(world: World) -> None:
    world.agent("a1")
    service = world.service()
    world.lead("L")
    service.assign("L")
    world.put(
        "interaction",
        "in",
        lead_id="L",
        channel="whatsapp",
        direction="inbound",
        occurred_at=tehran(2025, 6, 1, 10, 5).isoformat(),
    )
    world.put(
        "interaction",
        "out",
        lead_id="L",
        channel="whatsapp",
        direction="outbound",
        occurred_at=tehran(2025, 6, 1, 10, 12).isoformat(),
    )
    world.clock.advance(hours=2)
    fire_due(service)
    assert "lead.first_response_overdue" not in types(world, "lead", "L")
    measures = service.measures(["L"])["L"]
    assert (measures.sla, measures.first_response_at) == ("met", tehran(2025, 6, 1, 10, 12))
    assert {timer.state for timer in timers(world)} == {"cancelled"}


def test_a_late_answer_stays_a_breach(world: World) -> None:
    world.agent("a1")
    service = world.service()
    world.lead("L")
    service.assign("L")
    world.clock.advance(minutes=20)
    fire_due(service)
    world.put(
        "interaction",
        "out",
        lead_id="L",
        channel="call",
        direction="outbound",
        occurred_at=world.clock.now.isoformat(),
    )
    world.clock.advance(hours=1)
    fire_due(service)
    measures = service.measures(["L"])["L"]
    assert (measures.sla, measures.owner_id) == ("breached", "a1")
    assert "lead.escalated" not in types(world, "lead", "L")


def test_manual_reassignment_restarts_the_clock_for_the_new_owner(world: World) -> None:
    world.agent("a1")
    world.agent("a2")
    service = world.service()
    world.lead("L")
    first = service.assign("L")
    other = "a2" if first.owner_id == "a1" else "a1"
    world.clock.advance(minutes=10)
    outcome = service.reassign("L", other, by="manager", why="speaks Kurdish")
    assert outcome.first_response_due_at == world.clock.now + timedelta(minutes=15)
    world.clock.advance(minutes=14)
    assert fire_due(service) == 0  # the first owner's deadline was cancelled


def test_followups_overdue_snooze_and_ownership_history(world: World) -> None:
    world.agent("a1")
    world.agent("a2")
    service = world.service()
    world.lead("L")
    owner = service.assign("L").owner_id
    due = tehran(2025, 6, 2, 12)
    task_id = create_followup(service, "L", stage="pricing", due_at=due, by="manager")
    assert world.owner("task", task_id) == owner

    snooze(service, task_id, until=due + timedelta(days=1), by="a1", why="customer travelling")
    world.clock.now = due + timedelta(minutes=1)
    fire_due(service)
    assert "task.overdue" not in types(world, "task", task_id)
    world.clock.now = due + timedelta(days=1, minutes=1)
    fire_due(service)
    assert types(world, "task", task_id).count("task.overdue") == 1
    assert "lead.followup_overdue" in types(world, "lead", "L")

    other = "a2" if owner == "a1" else "a1"
    reassign_task(service, task_id, other, by="manager", why="a1 on leave")
    assert world.owner("task", task_id) == other
    steps = service.history("task", task_id)
    assert [step["action"] for step in steps] == ["task_created", "snoozed", "manual"]
    assert (steps[2]["by"], steps[2]["why"]) == ("manager", "a1 on leave")


def test_a_done_task_raises_no_alert(world: World) -> None:
    world.agent("a1")
    service = world.service()
    world.lead("L", owner_id="a1")
    task_id = create_followup(
        service, "L", stage="initial", due_at=world.clock.now + timedelta(hours=1), by="m"
    )
    world.put("task", task_id, subject="call", status="done")
    world.clock.advance(hours=2)
    fire_due(service)
    assert "task.overdue" not in types(world, "task", task_id)


def test_followup_validation(world: World) -> None:
    import pytest

    from lead_scoring.assignment import UnknownRecord

    world.agent("a1")
    service = world.service()
    world.lead("L")
    with pytest.raises(UnknownRecord, match="no lead"):
        create_followup(service, "nope", stage="final", due_at=world.clock.now, by="m")
    with pytest.raises(ValueError, match="stage must be one of"):
        create_followup(service, "L", stage="lunch", due_at=world.clock.now, by="m")  # type: ignore[arg-type]
    with pytest.raises(UnknownRecord, match="no active agent"):
        create_followup(service, "L", stage="final", due_at=world.clock.now, by="m", owner_id="x")


def test_a_claimed_timer_is_not_claimed_again_until_its_lease_expires(world: World) -> None:
    world.agent("a1")
    service = world.service()
    world.lead("L")
    service.assign("L")
    now = world.clock.advance(minutes=20)
    assert claim_due(service, holder="dead", now=now, lease_seconds=60) == [1]
    assert claim_due(service, holder="other", now=now + timedelta(seconds=59)) == []
    assert fire_one(service, 1, holder="other", now=now) is False
    later = now + timedelta(seconds=61)
    assert claim_due(service, holder="other", now=later) == [1]
    assert fire_one(service, 1, holder="other", now=later) is True
    assert fire_one(service, 1, holder="dead", now=later) is False
    assert types(world, "lead", "L").count("lead.first_response_overdue") == 1


def test_a_timer_that_keeps_failing_ends_failed(world: World, monkeypatch: Any) -> None:
    import lead_scoring.sla.timers as module

    world.agent("a1")
    service = world.service()
    world.lead("L")
    service.assign("L")
    world.clock.advance(minutes=20)

    def broken(*_: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(module, "_decide", broken)
    for _ in range(MAX_ATTEMPTS + 1):
        fire_due(service)
    (timer,) = timers(world)
    assert (timer.state, timer.attempts) == (TIMER_FAILED, MAX_ATTEMPTS)
    assert "database on fire" in timer.last_error


def test_a_step_committed_but_not_applied_is_applied_by_the_timer_job(
    world: World, monkeypatch: Any
) -> None:
    world.agent("a1")
    service = world.service()
    world.lead("L")
    # The decision commits, but neither its own transaction (as when the lead keeps
    # changing under the owner write) nor the follow-up apply gets to the lead.
    monkeypatch.setattr(service, "_apply_in", lambda *args, **kwargs: None)
    monkeypatch.setattr(service, "apply", lambda history_id: None)
    service.assign("L")
    assert world.owner("lead", "L") is None
    monkeypatch.undo()
    world.clock.advance(seconds=31)
    run_timers(service)
    assert world.owner("lead", "L") == "a1"
    assert types(world, "lead", "L") == ["lead.assigned"]
    assert {timer.state for timer in timers(world)} == {"pending"}


Factory = Callable[..., Any]
