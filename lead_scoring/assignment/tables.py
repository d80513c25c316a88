"""Tables of lead assignment and the first-response SLA.

They sit beside the canonical records rather than inside them: the lead document keeps
only ``owner_id`` (what the CRM and the targets need), while who assigned it, when, why,
under which rule, and what is due next are bookkeeping that must be queried and locked
row by row. ``core/db/metadata.py`` imports this module so migrations see the tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.types import JSONDocument, UTCDateTime

#: Length of a record id column (the caller's ids).
ID_LENGTH = 128

#: Timer states.
TIMER_PENDING = "pending"
TIMER_FIRED = "fired"
TIMER_CANCELLED = "cancelled"
TIMER_FAILED = "failed"


class LeadAssignment(Base):
    """The current assignment of one lead and its first-response measures.

    ``linked_to`` is set instead of an owner of its own when the lead duplicates an open
    lead. ``first_response_due_at`` is the current owner's deadline; ``breached`` stays
    true once any deadline passed without an answer, so a late reply never turns a
    breach into "met".
    """

    __tablename__ = "assignment_leads"

    lead_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    rule: Mapped[str | None] = mapped_column(String(64))
    linked_to: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    first_assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    escalations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class AssignmentHistory(Base):
    """Every change of owner of a lead or task (and every snooze), never updated but ``applied``.

    ``action`` is rotation, sticky, plugin, linked, manual, escalation, adopted, snoozed
    or task_created. ``by`` is the API principal, or ``rules`` / ``sla`` for automatic
    steps. ``pool`` and ``turn`` record the rotation turn a rotation step used: turns are
    unique per pool, which the concurrency tests check. ``applied`` turns true once the
    record's owner and the timeline event were written (an outbox: a step committed but
    not applied is applied again by the timer job).
    """

    __tablename__ = "assignment_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    from_agent: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    to_agent: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    by: Mapped[str] = mapped_column(String(128), nullable=False)
    why: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(64))
    pool: Mapped[str | None] = mapped_column(String(64))
    turn: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    applied: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (
        Index("ix_assignment_history_subject", "subject_type", "subject_id"),
        Index("ix_assignment_history_applied", "applied", "at"),
    )


class RotationPool(Base):
    """One row per rotation pool (a rule): ``turn`` is bumped, and the row locked, per pick."""

    __tablename__ = "assignment_pools"

    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    turn: Mapped[int] = mapped_column(Integer, nullable=False)


class RotationCount(Base):
    """How many rotation turns an agent has had in a pool; the fewest gets the next one."""

    __tablename__ = "assignment_turns"

    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    turns: Mapped[int] = mapped_column(Integer, nullable=False)


class AgentAway(Base):
    """An agent who is away (leave, sick, travelling) until ``until`` or until cleared."""

    __tablename__ = "assignment_away"

    agent_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class Timer(Base):
    """Something due at ``due_at``: a first-response reminder, an escalation, an overdue task.

    The database, not a process, remembers what is due. A firing process claims a timer
    with a lease (``lease_owner``/``lease_until``), records its ``decision`` in the same
    transaction as any state it changes, applies the effects (with ids derived from the
    timer, so applying twice changes nothing) and then marks it fired. A process killed
    half-way leaves the lease to expire and the next one finishes the job; ``attempts``
    counts claims so a timer that keeps killing its worker ends ``failed``.
    """

    __tablename__ = "sla_timers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_sla_timers_due", "state", "due_at"),
        Index("ix_sla_timers_subject", "subject_type", "subject_id"),
    )


__all__ = [
    "TIMER_CANCELLED",
    "TIMER_FAILED",
    "TIMER_FIRED",
    "TIMER_PENDING",
    "AgentAway",
    "AssignmentHistory",
    "LeadAssignment",
    "RotationCount",
    "RotationPool",
    "Timer",
]
