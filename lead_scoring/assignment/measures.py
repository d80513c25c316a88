"""First response and the per-lead measures: owner, due, done, SLA met or breached."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from core.db.engine import reading
from lead_scoring.assignment.outcomes import LeadMeasures
from lead_scoring.assignment.statements import _CANCEL_FIRST_RESPONSE, _FIRST_OUTBOUND
from lead_scoring.assignment.tables import LeadAssignment
from lead_scoring.assignment.timers import sla_state
from lead_scoring.assignment.writes import AssignmentWrites


class AssignmentMeasures(AssignmentWrites):
    """When a lead was first answered, and its measures as the API reports them."""

    # -- first response and measures -------------------------------------------------

    def first_outbound(self, lead_id: str) -> datetime | None:
        """When the lead was first contacted by us (its earliest outbound interaction)."""
        with reading(self.engine) as reader:
            found = reader.execute(_FIRST_OUTBOUND, {"lead_id": lead_id}).scalar()
        return found if isinstance(found, datetime) else None

    def refresh(self, lead_id: str, *, current: Any = None) -> None:
        """Stop the clock if the lead was answered: store the time, cancel its timers.

        ``current`` is the lead's assignment row when the caller has just read it.
        """
        row = current if current is not None else self.current(lead_id)
        if row is None or row.first_response_at is not None:
            return
        answered = self.first_outbound(lead_id)
        if answered is None:
            return
        changes: dict[str, Any] = {"first_response_at": answered}
        if row.first_response_due_at is not None and answered > row.first_response_due_at:
            changes["breached"] = True
        with self.engine.begin() as connection:
            connection.execute(
                update(LeadAssignment)
                .where(
                    LeadAssignment.lead_id == lead_id, LeadAssignment.first_response_at.is_(None)
                )
                .values(**changes)
            )
            connection.execute(_CANCEL_FIRST_RESPONSE, {"lead_id": lead_id})

    def measures(self, lead_ids: Sequence[str], *, refresh: bool = True) -> dict[str, LeadMeasures]:
        """The assignment measures of leads (leads never assigned get ``sla`` = none)."""
        if refresh:
            for lead_id in lead_ids:
                self.refresh(lead_id)
        table = LeadAssignment.__table__
        with reading(self.engine) as connection:
            rows = {
                row.lead_id: row
                for row in connection.execute(select(table).where(table.c.lead_id.in_(lead_ids)))
            }
        now = self.clock()
        found = {}
        for lead_id in lead_ids:
            row = rows.get(lead_id)
            if row is None:
                found[lead_id] = LeadMeasures(
                    lead_id, None, None, None, None, "none", None, None, 0
                )
                continue
            found[lead_id] = LeadMeasures(
                lead_id,
                row.owner_id,
                row.assigned_at,
                row.first_response_due_at,
                row.first_response_at,
                sla_state(row, now),
                row.rule,
                row.linked_to,
                row.escalations,
            )
        return found
