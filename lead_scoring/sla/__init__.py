"""The first-response SLA and follow-ups: timers in the database, fired exactly once.

``periodic_jobs(runtime)`` gives the scheduler the job that fires due timers
(reminders, escalations, overdue follow-ups) and re-applies assignment steps a crash
left half-done. See ``lead_scoring.sla.timers`` for how a timer survives a worker that
dies while firing it.
"""

from __future__ import annotations

from typing import Any

from core.sync.scheduler import PeriodicJob
from lead_scoring.assignment.service import AssignmentService
from lead_scoring.sla.followups import (
    STAGES,
    Stage,
    create_followup,
    reassign_task,
    snooze,
    task_history,
)
from lead_scoring.sla.timers import claim_due, fire_due, fire_one

#: Seconds between two looks at the due timers.
TIMER_INTERVAL = 5.0


def run_timers(service: AssignmentService) -> int:
    """One round: re-apply committed but unapplied steps, then fire what is due."""
    service.apply_pending()
    return fire_due(service)


def periodic_jobs(runtime: Any, service: AssignmentService | None = None) -> list[PeriodicJob]:
    """The scheduler jobs of assignment and SLA for a ``SyncRuntime``."""
    running = service or AssignmentService.from_runtime(runtime)
    return [PeriodicJob("assignment-timers", TIMER_INTERVAL, lambda: run_timers(running))]


__all__ = [
    "STAGES",
    "TIMER_INTERVAL",
    "Stage",
    "claim_due",
    "create_followup",
    "fire_due",
    "fire_one",
    "periodic_jobs",
    "reassign_task",
    "run_timers",
    "snooze",
    "task_history",
]
