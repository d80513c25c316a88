"""First-response and escalation timers: scheduling, cancelling, and a lead's SLA state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, update

from lead_scoring.assignment.statements import _INSERT_DECIDED_TIMER, _INSERT_TIMER
from lead_scoring.assignment.tables import TIMER_CANCELLED, TIMER_PENDING, Timer


def sla_state(row: Any, now: datetime) -> str:
    """none, pending, met or breached for an assignment row at ``now``."""
    if row.owner_id is None or row.linked_to is not None:
        return "none"
    if row.breached:
        return "breached"
    due = row.first_response_due_at
    if row.first_response_at is not None:
        return "met" if due is None or row.first_response_at <= due else "breached"
    if due is not None and now > due:
        return "breached"
    return "pending"


def schedule_timer(
    connection: Connection,
    kind: str,
    subject_type: str,
    subject_id: str,
    due_at: datetime,
    now: datetime,
    decision: dict[str, Any] | None = None,
) -> int:
    """Insert a pending timer in ``connection``'s transaction; its id."""
    values: dict[str, Any] = {
        "kind": kind,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "due_at": due_at,
        "state": TIMER_PENDING,
        "attempts": 0,
        "created_at": now,
    }
    if decision is not None:  # a JSON None would be stored as 'null', not as NULL
        values["decision"] = decision
        return int(connection.execute(_INSERT_DECIDED_TIMER, values).scalar_one())
    return int(connection.execute(_INSERT_TIMER, values).scalar_one())


def cancel_timers(
    connection: Connection, kinds: Sequence[str], subject_type: str, subject_id: str
) -> None:
    """Cancel the pending timers of these kinds about one record."""
    connection.execute(
        update(Timer)
        .where(
            and_(
                Timer.subject_type == subject_type,
                Timer.subject_id == subject_id,
                Timer.kind.in_(kinds),
                Timer.state == TIMER_PENDING,
            )
        )
        .values(state=TIMER_CANCELLED)
    )
