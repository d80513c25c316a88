"""Firing the SLA timers: warnings, reminders, escalations and overdue follow-ups, each once.

Timers are rows (``sla_timers``) with a due time. ``fire_due`` claims the due ones with
a lease, as the sync engine claims deliveries: ``UPDATE ... RETURNING`` over rows that
are pending, due and not leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two
processes never fire the same timer at once. Firing has three steps:

1. decide, in one transaction: store the decision in the timer row together with every
   state it changes (SLA breached, the next timer, an escalation's rotation turn and
   history row); a timer that already has a decision skips this step;
2. apply the decision's effects with ids derived from the timer (the reminder task
   ``sla-reminder-<id>``, the event ``timer-<id>``), so applying twice stores once;
3. mark the timer fired.

A process killed anywhere leaves its lease to expire; the next claim finds the stored
decision (or makes it, if the kill came first) and finishes. A timer claimed
``MAX_ATTEMPTS`` times without finishing ends ``failed`` with its last error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from core.db.engine import reading
from core.kinds import KINDS_BY_TYPE
from core.store import get_record
from core.sync.runtime import process_name
from lead_scoring.assignment.service import AssignmentService, schedule_timer
from lead_scoring.assignment.statements import FIRST_RESPONSE_WARNING
from lead_scoring.assignment.tables import (
    TIMER_FAILED,
    TIMER_FIRED,
    TIMER_PENDING,
    LeadAssignment,
    Timer,
)

log = logging.getLogger(__name__)

#: Seconds a claimed timer stays with its process before another may take it over.
LEASE_SECONDS = 60.0
#: Claims after which a timer that never finished is given up as failed.
MAX_ATTEMPTS = 5
#: Timer kinds and what they do.
FIRST_RESPONSE = "first_response"
ESCALATION = "escalation"
TASK_OVERDUE = "task_overdue"


def claim_due(
    service: AssignmentService,
    *,
    holder: str,
    now: datetime,
    limit: int = 100,
    lease_seconds: float = LEASE_SECONDS,
) -> list[int]:
    """Lease up to ``limit`` due timers to ``holder``; their ids, oldest due first."""
    free = or_(Timer.lease_until.is_(None), Timer.lease_until < now)
    due = (
        select(Timer.id)
        .where(Timer.state == TIMER_PENDING, Timer.due_at <= now, free)
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
    )
    if service.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(Timer)
        .where(Timer.id.in_(due.scalar_subquery()), Timer.state == TIMER_PENDING, free)
        .values(
            lease_owner=holder,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=Timer.attempts + 1,
        )
        .returning(Timer.id)
    )
    with service.engine.begin() as connection:
        return sorted(connection.execute(statement).scalars())


def fire_due(
    service: AssignmentService,
    *,
    now: datetime | None = None,
    holder: str | None = None,
    limit: int = 100,
    lease_seconds: float = LEASE_SECONDS,
    on_claimed: Callable[[list[int]], object] | None = None,
) -> int:
    """Fire every timer due at ``now`` (the service's clock by default); how many fired.

    ``on_claimed`` is called with the claimed ids before any is fired (tests use it
    to kill the process at the worst moment).
    """
    now = now or service.clock()
    holder = holder or f"{process_name()}:timers"
    ids = claim_due(service, holder=holder, now=now, limit=limit, lease_seconds=lease_seconds)
    if on_claimed is not None:
        on_claimed(ids)
    fired = 0
    for timer_id in ids:
        try:
            if fire_one(service, timer_id, holder=holder, now=now):
                fired += 1
        except Exception as error:
            log.exception("timer %d failed", timer_id)
            _failed(service, timer_id, holder, repr(error))
    return fired


def _timer(service: AssignmentService, timer_id: int) -> Any:
    table = Timer.__table__
    with reading(service.engine) as connection:
        return connection.execute(select(table).where(table.c.id == timer_id)).first()


def _failed(service: AssignmentService, timer_id: int, holder: str, error: str) -> None:
    """Keep the error; give the timer up after MAX_ATTEMPTS, else free it for a retry."""
    with service.engine.begin() as connection:
        connection.execute(
            update(Timer)
            .where(Timer.id == timer_id, Timer.lease_owner == holder)
            .values(last_error=error[:2000], lease_owner=None, lease_until=None)
        )
        connection.execute(
            update(Timer)
            .where(
                Timer.id == timer_id, Timer.attempts >= MAX_ATTEMPTS, Timer.state == TIMER_PENDING
            )
            .values(state=TIMER_FAILED)
        )


def fire_one(service: AssignmentService, timer_id: int, *, holder: str, now: datetime) -> bool:
    """Decide (once), apply and mark one claimed timer; False if it was not ours to fire."""
    timer = _timer(service, timer_id)
    if timer is None or timer.state != TIMER_PENDING or timer.lease_owner != holder:
        return False
    if timer.attempts > MAX_ATTEMPTS:
        _failed(service, timer_id, holder, timer.last_error or "claimed too many times")
        return False
    decision = timer.decision
    if decision is None:
        decision = _decide(service, timer, holder, now)
        if decision is None:
            return False
    _apply(service, timer, decision)
    with service.engine.begin() as connection:
        connection.execute(
            update(Timer)
            .where(Timer.id == timer_id, Timer.lease_owner == holder)
            .values(state=TIMER_FIRED, fired_at=now, lease_owner=None, lease_until=None)
        )
    return True


def _decide(
    service: AssignmentService, timer: Any, holder: str, now: datetime
) -> dict[str, Any] | None:
    """Work out what the timer does and store it with its state changes, atomically.

    Everything read from other tables is read before the transaction opens (on SQLite a
    second connection inside it would wait for its write lock); what the decision
    depends on is checked again inside it.
    """
    escalation: tuple[Any, Any, list[str]] | None = None
    overdue: dict[str, Any] | None = None
    if timer.kind in (FIRST_RESPONSE, ESCALATION, FIRST_RESPONSE_WARNING):
        service.refresh(timer.subject_id)
    if timer.kind == ESCALATION:
        escalation = _escalation_plan(service, timer, now)
    elif timer.kind == TASK_OVERDUE:
        overdue = _decide_overdue(service, timer)
    decision: dict[str, Any]
    with service.engine.begin() as connection:
        mine = connection.execute(
            select(Timer.decision).where(
                Timer.id == timer.id, Timer.lease_owner == holder, Timer.state == TIMER_PENDING
            )
        ).first()
        if mine is None or mine.decision is not None:
            return None
        if timer.kind == FIRST_RESPONSE:
            decision = _decide_reminder(service, connection, timer, now)
        elif timer.kind == FIRST_RESPONSE_WARNING:
            decision = _decide_warning(service, connection, timer, now)
        elif timer.kind == ESCALATION and escalation is not None:
            decision = _decide_escalation(service, connection, timer, now, escalation)
        elif overdue is not None:
            decision = overdue
        else:
            decision = {"outcome": "unknown kind"}
        connection.execute(update(Timer).where(Timer.id == timer.id).values(decision=decision))
    return decision


def _decide_reminder(
    service: AssignmentService, connection: Any, timer: Any, now: datetime
) -> dict[str, Any]:
    row = service.current(timer.subject_id, connection)
    if row is None or row.owner_id is None:
        return {"outcome": "unassigned"}
    if row.first_response_at is not None:
        return {"outcome": "answered"}
    connection.execute(
        update(LeadAssignment).where(LeadAssignment.lead_id == row.lead_id).values(breached=True)
    )
    rule = service.rules.rule(row.rule)
    escalate_at = service.due_at(
        timer.due_at, service.rules.escalate_after_minutes(rule), row.owner_id, connection
    )
    schedule_timer(connection, ESCALATION, "lead", row.lead_id, escalate_at, now)
    return {
        "outcome": "reminded",
        "owner_id": row.owner_id,
        "due_at": timer.due_at.isoformat(),
        "escalate_at": escalate_at.isoformat(),
    }


def _decide_warning(
    service: AssignmentService, connection: Any, timer: Any, now: datetime
) -> dict[str, Any]:
    """Warn the owner of a lead whose clock still runs and whose deadline is still ahead.

    A warning claimed late (the timers did not run for a while) at or after the
    deadline is not sent: the breach's own reminder is the one that counts then.
    """
    row = service.current(timer.subject_id, connection)
    if row is None or row.owner_id is None:
        return {"outcome": "unassigned"}
    if row.first_response_at is not None:
        return {"outcome": "answered"}
    due = row.first_response_due_at
    if row.breached or due is None or now >= due:
        return {"outcome": "too late", "due_at": due.isoformat() if due else None}
    return {
        "outcome": "warned",
        "owner_id": row.owner_id,
        "due_at": due.isoformat(),
        "warn_at": timer.due_at.isoformat(),
    }


def _escalation_plan(
    service: AssignmentService, timer: Any, now: datetime
) -> tuple[Any, Any, list[str]]:
    """(assignment row, pool rule, agents left) for escalating away from the current owner."""
    row = service.current(timer.subject_id)
    if row is None or row.owner_id is None:
        return row, None, []
    rule = service.rules.rule(row.rule)
    if rule is not None and service.rules.escalate_to(rule) == "team_lead":
        return row, None, []
    stored = get_record(service.engine, KINDS_BY_TYPE["lead"], row.lead_id)
    lead = stored.data if stored is not None else {}
    pool_rule, candidates, _ = service.plan(
        lead, service.agents(), now, exclude=[row.owner_id], only=rule
    )
    return row, pool_rule, candidates


def _decide_escalation(
    service: AssignmentService,
    connection: Any,
    timer: Any,
    now: datetime,
    plan: tuple[Any, Any, list[str]],
) -> dict[str, Any]:
    planned, pool_rule, candidates = plan
    row = service.current(timer.subject_id, connection)
    if row is None or row.owner_id is None:
        return {"outcome": "unassigned"}
    if row.first_response_at is not None:
        return {"outcome": "answered"}
    if planned is None or planned.owner_id != row.owner_id:
        return {"outcome": "owner changed", "owner_id": row.owner_id}
    rule = service.rules.rule(row.rule)
    target: str | None = None
    turn: int | None = None
    how = "team_lead"
    if pool_rule is not None and candidates:
        target, turn = service.take_turn(connection, pool_rule.name, candidates)
        how = "next_agent"
    if target is None and rule is not None and rule.team in service.rules.teams:
        target = service.rules.teams[rule.team].lead
    if target is None or target == row.owner_id:
        return {"outcome": "nobody", "owner_id": row.owner_id}
    history_id, _ = service.record(
        connection,
        lead_id=row.lead_id,
        to_agent=target,
        action="escalation",
        by="sla",
        why=f"no first response by {row.first_response_due_at.isoformat()}",
        now=now,
        rule=rule,
        pool=pool_rule.name if turn is not None else None,
        turn=turn,
        details={"escalated_to": how},
    )
    return {"outcome": "escalated", "from": row.owner_id, "to": target, "history_id": history_id}


def _decide_overdue(service: AssignmentService, timer: Any) -> dict[str, Any]:
    stored = get_record(service.engine, KINDS_BY_TYPE["task"], timer.subject_id)
    if stored is None:
        return {"outcome": "missing"}
    task = stored.data
    if task.get("status") != "open":
        return {"outcome": task.get("status", "closed")}
    return {
        "outcome": "overdue",
        "owner_id": task.get("owner_id"),
        "due_at": task.get("due_at"),
        "stage": task.get("stage"),
        "lead_id": task.get("related_id") if task.get("related_type") == "lead" else None,
    }


def _apply(service: AssignmentService, timer: Any, decision: dict[str, Any]) -> None:
    """Write the decision's effects; every id is derived from the timer, so repeats are no-ops."""
    outcome = decision.get("outcome")
    at = timer.due_at
    if timer.kind == FIRST_RESPONSE and outcome == "reminded":
        lead_id = timer.subject_id
        task_id = f"sla-reminder-{timer.id}"
        if get_record(service.engine, KINDS_BY_TYPE["task"], task_id) is None:
            service.records.update(
                "task",
                task_id,
                {
                    "subject": f"Answer lead {lead_id}: first response is overdue",
                    "related_type": "lead",
                    "related_id": lead_id,
                    "owner_id": decision["owner_id"],
                    "due_at": at.isoformat(),
                    "status": "open",
                    "stage": "initial",
                },
                create=True,
            )
        service.publish(
            f"timer-{timer.id}",
            "lead.first_response_overdue",
            "lead",
            lead_id,
            {**decision, "task_id": task_id},
            at,
        )
    elif timer.kind == FIRST_RESPONSE_WARNING and outcome == "warned":
        service.publish(
            f"timer-{timer.id}",
            "lead.first_response_due_soon",
            "lead",
            timer.subject_id,
            decision,
            at,
        )
    elif timer.kind == ESCALATION and outcome == "escalated":
        service.apply(int(decision["history_id"]))
    elif timer.kind == ESCALATION and outcome == "nobody":
        service.publish(
            f"timer-{timer.id}", "lead.escalation_failed", "lead", timer.subject_id, decision, at
        )
    elif timer.kind == TASK_OVERDUE and outcome == "overdue":
        service.publish(f"timer-{timer.id}", "task.overdue", "task", timer.subject_id, decision, at)
        if decision.get("lead_id"):
            service.publish(
                f"timer-{timer.id}-lead",
                "lead.followup_overdue",
                "lead",
                decision["lead_id"],
                {**decision, "task_id": timer.subject_id},
                at,
            )


__all__ = [
    "ESCALATION",
    "FIRST_RESPONSE",
    "FIRST_RESPONSE_WARNING",
    "LEASE_SECONDS",
    "MAX_ATTEMPTS",
    "TASK_OVERDUE",
    "claim_due",
    "fire_due",
    "fire_one",
]
