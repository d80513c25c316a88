"""What the assignment service gives back and hands between its steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.schemas.parties import Agent
from core.store import StoredRecord
from lead_scoring.assignment.rules import Rule
from lead_scoring.assignment.statements import OPEN_STATUSES


class UnknownRecord(LookupError):
    """The lead, task or agent named does not exist (or the agent is inactive)."""


@dataclass(frozen=True)
class AssignmentOutcome:
    """What ``assign`` or ``reassign`` did.

    ``action`` is the history action (rotation, sticky, plugin, adopted, linked,
    manual, escalation), ``existing`` when the lead already had an assignment, or
    ``unassigned`` with ``reason`` when nobody could take it.
    """

    lead_id: str
    owner_id: str | None
    action: str
    rule: str | None = None
    linked_to: str | None = None
    reason: str | None = None
    history_id: int | None = None
    first_response_due_at: datetime | None = None


@dataclass(frozen=True)
class LeadMeasures:
    """The assignment and first-response measures of one lead, as the API reports them.

    ``sla`` is ``none`` (no owner yet, or a linked duplicate), ``pending`` (clock
    running), ``met`` (first outbound contact before the deadline) or ``breached``.
    """

    lead_id: str
    owner_id: str | None
    assigned_at: datetime | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    sla: str
    rule: str | None
    linked_to: str | None
    escalations: int


@dataclass
class _Reads:
    """What ``assign`` read on its one connection, handed to ``plan`` and the writes."""

    connection: Connection
    away: set[str]
    counts: tuple[dict[str, int], dict[str, int]] | None = None


@dataclass(frozen=True)
class Prepared:
    """What :meth:`AssignmentService.prepare` read about one lead, before any decision.

    ``existing`` is the lead's assignment row (``pending``: its steps not applied yet);
    ``decision`` is what a new, open, ownerless lead's decision needs: (duplicate's
    assignment, agents, rule, pool, why nobody, sticky owner), else None.
    """

    stored: StoredRecord
    existing: Any
    pending: list[int]
    decision: (
        tuple[Any, dict[str, Agent], Rule | None, list[str], str | None, tuple[str, str] | None]
        | None
    )

    @property
    def new(self) -> bool:
        """Whether the lead is open and has no assignment yet: a decision will be made."""
        return self.existing is None and self.stored.data.get("status") in OPEN_STATUSES


@dataclass(frozen=True)
class Choice:
    """A decision to record: who gets the lead (None: the rotation picks), how and why."""

    agent_id: str | None
    action: str
    by: str
    rule: Rule | None = None
    linked_to: str | None = None
    details: dict[str, Any] | None = None
    agents: dict[str, Agent] | None = None
    pool: Sequence[str] = ()


class AlreadyAssigned(Exception):
    """Another worker assigned the lead first: roll the transaction back."""


class StaleAgents(Exception):
    """The agent chosen from the kept agents is no longer active or is away: read again."""
