"""Lead assignment: duplicates, plugins, sticky owners, rules and a fair rotation.

``AssignmentService.assign`` decides who gets a new lead, in this order:

1. a lead that already has an assignment keeps it (assigning is idempotent);
2. a lead that arrives with an owner from the CRM keeps that owner (``adopted``);
3. a duplicate of an open, assigned lead (same E.164 phone or e-mail) is linked to it
   and gets the same owner, without a rotation turn or an SLA clock of its own;
4. a plugin implementing ``crm_sync_assign_lead`` may take over;
5. a known customer's lead goes to the customer's owner (``sticky``), matched by
   normalised phone, e-mail or national id;
6. otherwise the rules: the first rule whose ``when`` matches and that leaves agents
   after eligibility (team, skills, product line, language, territory, active, not
   away) and capacity (open leads, daily quota) is the pool; agents at work now are
   preferred (when nobody is, all of them remain and the SLA clock starts at the next
   opening); the agent with the fewest turns in the pool gets the lead, ties broken at
   random.

The turn is taken in the database: the pool's row is bumped with an upsert that
returns the new turn and stays locked until the transaction that records the
assignment commits, so two workers never take the same turn or both give a lead to
the agent with the fewest turns. When ``assign`` decides, the whole decision (turn,
history row, current assignment, first-response timer, owner written onto the lead
with its outbox rows, timeline event) is one transaction; the other paths
(reassignment, escalation, follow-ups) write the decision first and then apply it to
the lead record and its timeline, and a decision committed but not applied is applied
again later.

``assign`` is the hot path of the scoring job, so it reads everything it needs (the
lead and its assignment, duplicates, agents and who is away, capacity counts,
customers for a sticky owner) on one connection with statements built once, and its
writes go through prebuilt statements with bound parameters: building a SQLAlchemy
statement costs more CPU than running it, and each connection costs a ``BEGIN`` on
SQLite and a pool check-out (with its ping) on PostgreSQL.

The service is built in layers, one module each: :mod:`.reads` (state and reads),
:mod:`.choice` (the decision), :mod:`.writes` (turn, history, assignment, owner),
:mod:`.measures` (first response and SLA), with :mod:`.statements`, :mod:`.outcomes`
and :mod:`.timers` below them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from core.db.engine import reading
from core.db.types import utcnow
from core.kinds import KINDS_BY_TYPE
from core.store import StoredRecord
from lead_scoring.assignment.measures import AssignmentMeasures
from lead_scoring.assignment.outcomes import (
    AlreadyAssigned,
    AssignmentOutcome,
    Choice,
    LeadMeasures,
    Prepared,
    StaleAgents,
    UnknownRecord,
)
from lead_scoring.assignment.reads import rules_from_environment
from lead_scoring.assignment.rules import AssignmentRules
from lead_scoring.assignment.statements import _SELECT_LEAD, OPEN_STATUSES, RULES_ENV, Clock
from lead_scoring.assignment.timers import cancel_timers, schedule_timer, sla_state

log = logging.getLogger(__name__)

#: Decisions of one ``assign`` that may find the chosen agent gone before it gives up.
STALE_AGENT_RETRIES = 3


class AssignmentService(AssignmentMeasures):
    """Assigns leads, reassigns them, and keeps their first-response measures.

    ``subscribers`` and ``dispatch`` are the runtime's (so plugins hear of owner
    changes and ``event.lead.assigned``); ``host`` is asked through
    ``crm_sync_assign_lead``; ``clock`` gives "now" (tests move it by hand).
    """

    @classmethod
    def from_runtime(
        cls, runtime: Any, *, rules: AssignmentRules | None = None, clock: Clock = utcnow
    ) -> AssignmentService:
        """A service on a ``SyncRuntime``'s database, plugins and dispatch."""
        return cls(
            runtime.engine,
            rules or rules_from_environment(),
            host=runtime.host,
            subscribers=runtime.host.subscribers,
            dispatch=runtime.dispatch,
            clock=clock,
        )

    def assign(self, lead_id: str, *, national_id: str | None = None) -> AssignmentOutcome:
        """Give a lead without an assignment to somebody (see the module docstring).

        Everything the decision depends on is read on one connection (:meth:`prepare`),
        plugins are asked with no connection held (:meth:`choose`), and the decision
        and its effects on the lead are then written in one transaction (``_decide``).
        When the chosen agent turns out no longer available there (the kept agents were
        stale), the agents are read again and the lead decided again.
        """
        for attempt in range(STALE_AGENT_RETRIES):
            now = self.clock()
            with reading(self.engine) as connection:
                row = connection.execute(_SELECT_LEAD, {"lead_id": lead_id}).first()
                if row is None:
                    raise UnknownRecord(f"there is no lead with id {lead_id!r}")
                stored = StoredRecord(
                    KINDS_BY_TYPE["lead"], row.id, row.version, row.data, row.created_at,
                    row.updated_at,
                )  # fmt: skip
                prepared = self.prepare(connection, stored, now, national_id=national_id)
            choice = self.choose(prepared, now)
            if isinstance(choice, AssignmentOutcome):
                return choice
            try:
                return self._decide(stored, choice, now)
            except StaleAgents:
                self.forget_agents()
                if attempt == STALE_AGENT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def choose(self, prepared: Prepared, now: datetime) -> Choice | AssignmentOutcome:
        """Decide from what :meth:`prepare` read: a :class:`Choice` to record, or the outcome.

        Plugins implementing ``crm_sync_assign_lead`` are asked here, so call it with no
        connection held. A lead that already has an assignment gets its unapplied steps
        applied; a lead nobody can take has ``lead.assignment_failed`` published.
        """
        stored = prepared.stored
        lead, lead_id = stored.data, stored.id
        if prepared.existing is not None:
            for history_id in prepared.pending:
                self.apply(history_id)
            return self._outcome(prepared.existing, "existing")
        if lead.get("status") not in OPEN_STATUSES:
            return AssignmentOutcome(
                lead_id, None, "unassigned", reason=f"lead is {lead['status']}"
            )
        if lead.get("owner_id"):
            return Choice(lead["owner_id"], "adopted", "crm")
        assert prepared.decision is not None
        original, agents, rule, candidates, reason, sticky = prepared.decision
        if original is not None:
            return Choice(original.owner_id, "linked", "rules", linked_to=original.lead_id)
        chosen = self.ask_plugins(stored, candidates)
        if chosen is not None:
            if chosen in agents and agents[chosen].active:
                return Choice(chosen, "plugin", "plugin", rule=rule, agents=agents)
            log.warning("a plugin chose %r for lead %s, who is no active agent", chosen, lead_id)
        if sticky is not None:
            return Choice(
                sticky[0], "sticky", "rules", rule=rule, details={"customer": sticky[1]},
                agents=agents,
            )  # fmt: skip
        if rule is None:
            self.publish(
                f"unassigned-{lead_id}-{stored.version}",
                "lead.assignment_failed",
                "lead",
                lead_id,
                {"reason": reason},
                now,
            )
            return AssignmentOutcome(lead_id, None, "unassigned", reason=reason)
        return Choice(None, "rotation", "rules", rule=rule, agents=agents, pool=candidates)


__all__ = [
    "RULES_ENV",
    "AlreadyAssigned",
    "AssignmentOutcome",
    "AssignmentService",
    "Choice",
    "Clock",
    "LeadMeasures",
    "Prepared",
    "StaleAgents",
    "UnknownRecord",
    "cancel_timers",
    "rules_from_environment",
    "schedule_timer",
    "sla_state",
]
