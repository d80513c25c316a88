"""Follow-up tasks: stages, deadlines, snoozes, overdue alerts and ownership with history.

A follow-up is a canonical Task (so the CRM and the plugins see it) about a lead, with
``stage`` one of initial, technical, pricing, final. Its deadline is a ``task_overdue``
timer: snoozing moves the task's ``due_at`` and replaces the timer; when the timer fires
while the task is still open, ``task.overdue`` (and ``lead.followup_overdue``) land on
the timelines. Every creation, snooze and change of owner is a history row with who,
when and why, like a lead's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from core.kinds import KINDS_BY_TYPE
from core.store import get_record
from lead_scoring.assignment.service import (
    AssignmentService,
    UnknownRecord,
    cancel_timers,
    schedule_timer,
)
from lead_scoring.sla.timers import TASK_OVERDUE

#: The stages a follow-up moves through.
Stage = Literal["initial", "technical", "pricing", "final"]
STAGES: tuple[str, ...] = ("initial", "technical", "pricing", "final")


def task_history(service: AssignmentService, task_id: str) -> list[dict[str, Any]]:
    """Every change of a task's owner and deadline, oldest first; UnknownRecord if no task."""
    _task(service, task_id)
    return service.history("task", task_id)


def _task(service: AssignmentService, task_id: str) -> dict[str, object]:
    stored = get_record(service.engine, KINDS_BY_TYPE["task"], task_id)
    if stored is None:
        raise UnknownRecord(f"there is no task with id {task_id!r}")
    return stored.data


def _active_agent(service: AssignmentService, agent_id: str) -> None:
    agent = service.agents().get(agent_id)
    if agent is None or not agent.active:
        raise UnknownRecord(f"there is no active agent with id {agent_id!r}")


def create_followup(
    service: AssignmentService,
    lead_id: str,
    *,
    stage: Stage,
    due_at: datetime,
    by: str,
    subject: str | None = None,
    owner_id: str | None = None,
    task_id: str | None = None,
) -> str:
    """Create a follow-up task of a lead, owned by ``owner_id`` or the lead's owner; its id."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    if due_at.tzinfo is None:
        raise ValueError("due_at needs a time zone offset")
    lead = get_record(service.engine, KINDS_BY_TYPE["lead"], lead_id)
    if lead is None:
        raise UnknownRecord(f"there is no lead with id {lead_id!r}")
    owner = owner_id or lead.data.get("owner_id")
    if owner is not None:
        _active_agent(service, str(owner))
    task_id = task_id or f"followup-{uuid.uuid4().hex[:16]}"
    service.records.update(
        "task",
        task_id,
        {
            "subject": subject or f"{stage.capitalize()} follow-up of lead {lead_id}",
            "related_type": "lead",
            "related_id": lead_id,
            "owner_id": owner,
            "due_at": due_at.isoformat(),
            "status": "open",
            "stage": stage,
        },
        create=True,
    )
    now = service.clock()
    with service.engine.begin() as connection:
        schedule_timer(connection, TASK_OVERDUE, "task", task_id, due_at, now)
        history_id = service.add_history(
            connection,
            subject_type="task",
            subject_id=task_id,
            action="task_created",
            from_agent=None,
            to_agent=owner,
            by=by,
            why=None,
            at=now,
            details={"stage": stage, "lead_id": lead_id, "due_at": due_at.isoformat()},
        )
    service.apply(history_id)
    return task_id


def snooze(service: AssignmentService, task_id: str, *, until: datetime, by: str, why: str) -> None:
    """Move an open task's deadline to ``until``; the overdue alert moves with it."""
    task = _task(service, task_id)
    if task.get("status") != "open":
        raise ValueError(f"task {task_id} is {task.get('status')}: only open tasks can be snoozed")
    if until.tzinfo is None:
        raise ValueError("until needs a time zone offset")
    now = service.clock()
    service.records.update("task", task_id, {"due_at": until.isoformat()})
    with service.engine.begin() as connection:
        cancel_timers(connection, [TASK_OVERDUE], "task", task_id)
        schedule_timer(connection, TASK_OVERDUE, "task", task_id, until, now)
        history_id = service.add_history(
            connection,
            subject_type="task",
            subject_id=task_id,
            action="snoozed",
            from_agent=task.get("owner_id"),
            to_agent=task.get("owner_id"),
            by=by,
            why=why,
            at=now,
            details={"from": task.get("due_at"), "until": until.isoformat()},
        )
    service.apply(history_id)


def reassign_task(
    service: AssignmentService, task_id: str, agent_id: str, *, by: str, why: str
) -> None:
    """Move a task to another agent, keeping who moved it, when and why."""
    task = _task(service, task_id)
    _active_agent(service, agent_id)
    with service.engine.begin() as connection:
        history_id = service.add_history(
            connection,
            subject_type="task",
            subject_id=task_id,
            action="manual",
            from_agent=task.get("owner_id"),
            to_agent=agent_id,
            by=by,
            why=why,
            at=service.clock(),
        )
    service.apply(history_id)


__all__ = ["STAGES", "Stage", "create_followup", "reassign_task", "snooze", "task_history"]
