"""The writes: the rotation's turn, history, the assignment, its timer, the owner on the lead.

A decision taken by ``assign`` is one transaction (:meth:`AssignmentWrites.decide_in`);
reassignment, escalation and follow-ups record the decision first and apply it to the
lead and its timeline after (:meth:`AssignmentWrites.apply`), so a decision committed
but not applied is applied again later (:meth:`AssignmentWrites.apply_pending`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from core.db.engine import reading, upsert
from core.db.records import AgentRow
from core.kinds import KINDS_BY_TYPE
from core.records import emit_event_in
from core.schemas.parties import Agent
from core.store import ConcurrentUpdate, StoredRecord, write_record_in
from lead_scoring.assignment.choice import AssignmentChoice
from lead_scoring.assignment.outcomes import (
    AlreadyAssigned,
    AssignmentOutcome,
    Choice,
    StaleAgents,
    UnknownRecord,
)
from lead_scoring.assignment.rules import Rule
from lead_scoring.assignment.statements import (
    _ADD_AVAILABLE_TURN,
    _ADD_TURN,
    _CANCEL_FIRST_RESPONSE,
    _HISTORY,
    _INSERT_HISTORY,
    _MARK_APPLIED,
    _SELECT_AGENT_AVAILABLE,
    _SELECT_CURRENT,
    _SELECT_LEAD,
    _SELECT_TURNS,
    DEFAULT_TIME_ZONE,
    EVENT_TYPES,
    FIRST_RESPONSE_WARNING,
    OWNER_WRITE_RETRIES,
    insert_new_assignment_pg,
)
from lead_scoring.assignment.tables import (
    TIMER_PENDING,
    AgentAway,
    AssignmentHistory,
    LeadAssignment,
    RotationCount,
)
from lead_scoring.assignment.timers import schedule_timer

log = logging.getLogger(__name__)


class AssignmentWrites(AssignmentChoice):
    """Takes turns, records and applies decisions, reassigns, and keeps who is away."""

    # -- rotation ------------------------------------------------------------------

    def take_turn(
        self,
        connection: Connection,
        pool: str,
        candidates: Sequence[str],
        *,
        available_at: datetime | None = None,
    ) -> tuple[str, int]:
        """Give the pool's next turn to the candidate with the fewest turns; (agent, turn).

        The pool row stays locked until ``connection``'s transaction ends, so concurrent
        workers queue here. An agent new to the pool starts at the fewest turns any
        candidate has, so joining late does not hand them every lead until they catch up.
        With ``available_at`` (candidates planned from kept agents) the chosen agent's
        turn counts only if the agent is active and not away then, checked in the same
        statement; else StaleAgents is raised: roll the transaction back.
        """
        chosen, turn = self._pick_turn(connection, pool, candidates)
        self._count_turn(connection, pool, chosen, available_at)
        return chosen, turn

    @staticmethod
    def _count_turn(
        connection: Connection, pool: str, agent: str, available_at: datetime | None
    ) -> None:
        """Count ``agent``'s turn in ``pool``; with ``available_at``, only if available then.

        Raises StaleAgents (roll the transaction back) when the agent is no longer active
        or is away at ``available_at``.
        """
        if available_at is None:
            connection.execute(_ADD_TURN, {"p_pool": pool, "agent": agent})
            return
        params = {"p_pool": pool, "agent": agent, "now": available_at}
        if connection.execute(_ADD_AVAILABLE_TURN, params).rowcount != 1:
            raise StaleAgents(f"agent {agent!r} is no longer active or is away")

    def _pick_turn(
        self, connection: Connection, pool: str, candidates: Sequence[str]
    ) -> tuple[str, int]:
        """The pool's next turn and the candidate it goes to; their turn is not counted yet.

        Bumps (and locks) the pool's row and adds the candidates new to the pool; the
        caller counts the chosen agent's turn in the same transaction.
        """
        turn = int(connection.execute(self._statement("bump"), {"p_pool": pool}).scalar_one())
        counts = {
            row.agent_id: row.turns
            for row in connection.execute(
                _SELECT_TURNS[connection.dialect.name], {"pool": pool, "agents": list(candidates)}
            )
        }
        missing = [agent_id for agent_id in candidates if agent_id not in counts]
        if missing:
            floor = min(counts.values()) if counts else 0
            connection.execute(
                insert(RotationCount),
                [{"pool": pool, "agent_id": agent_id, "turns": floor} for agent_id in missing],
            )
            counts.update(dict.fromkeys(missing, floor))
        fewest = min(counts.values())
        chosen = self._random.choice(sorted(a for a, n in counts.items() if n == fewest))
        return chosen, turn

    # -- recording and applying ------------------------------------------------------------

    def due_at(
        self,
        start: datetime,
        minutes: float,
        agent_id: str | None,
        connection: Connection | None = None,
        time_zone: str | None = None,
    ) -> datetime:
        """``minutes`` of working time after ``start`` in the agent's time zone.

        Pass the open ``connection`` when called inside a transaction: on SQLite a
        second connection would wait for the first one's write lock. A caller that
        already knows the agent's ``time_zone`` passes it and nothing is read.
        """
        zone = time_zone or DEFAULT_TIME_ZONE
        if agent_id is not None and time_zone is None:
            statement = select(AgentRow.data).where(AgentRow.id == agent_id)
            if connection is not None:
                data = connection.execute(statement).scalar()
            else:
                with reading(self.engine) as own:
                    data = own.execute(statement).scalar()
            if data is not None:
                zone = Agent.model_validate(data).time_zone
        return self.calendar.add(start, minutes, zone)

    def record(
        self,
        connection: Connection,
        *,
        lead_id: str,
        to_agent: str | None,
        action: str,
        by: str,
        now: datetime,
        why: str | None = None,
        rule: Rule | None = None,
        pool: str | None = None,
        turn: int | None = None,
        linked_to: str | None = None,
        new: bool = False,
        details: dict[str, Any] | None = None,
        time_zone: str | None = None,
        applied: bool = False,
        count_turn: bool = False,
    ) -> tuple[int, datetime | None]:
        """Write one assignment step in ``connection``'s transaction; (history id, due).

        With ``new`` the lead must have no assignment yet (else ``AlreadyAssigned``,
        found by the insert itself, so nothing is read first). Pending first-response
        timers of the lead are cancelled and, unless the lead is linked or already
        answered, a new one is set at the owner's deadline (``time_zone``, when the
        caller knows the owner's, saves reading it). ``applied`` marks a step whose
        owner and event the caller writes in the same transaction. ``count_turn`` counts
        ``to_agent``'s turn in ``pool`` too, only while the agent is available at ``now``
        (else ``StaleAgents``): on PostgreSQL in the same statement as a new lead's
        inserts when its rule sets no warning, otherwise with a statement of its own.
        """
        current = None if new else self.current(lead_id, connection)
        answered = current is not None and current.first_response_at is not None
        due = None
        if to_agent is not None and linked_to is None and not answered:
            due = self.due_at(
                now, self.rules.first_response_minutes(rule), to_agent, connection, time_zone
            )
        history = self._history_row(
            subject_type="lead",
            subject_id=lead_id,
            action=action,
            from_agent=current.owner_id if current is not None else None,
            to_agent=to_agent,
            by=by,
            why=why,
            rule=rule.name if rule else None,
            pool=pool,
            turn=turn,
            at=now,
            details={**(details or {}), **({"linked_to": linked_to} if linked_to else {})},
            applied=applied,
        )
        warn = self.rules.warn_before_minutes(rule)
        if current is None:
            values = {
                "lead_id": lead_id,
                "owner_id": to_agent,
                "action": action,
                "rule": rule.name if rule else None,
                "linked_to": linked_to,
                "first_assigned_at": now,
                "assigned_at": now,
                "first_response_due_at": due,
                "first_response_at": None,
                "breached": False,
                "escalations": 0,
            }
            if due is not None and not warn and connection.dialect.name == "postgresql":
                turn_of = (pool, to_agent) if count_turn else None
                history_id = self._insert_new_pg(connection, values, history, due, now, turn_of)
                return history_id, due
            inserted = connection.execute(self._statement("insert_assignment"), values).first()
            if inserted is None:
                raise AlreadyAssigned(lead_id)
        else:
            changes: dict[str, Any] = {
                "owner_id": to_agent,
                "action": action,
                "assigned_at": now,
                "linked_to": linked_to,
            }
            if rule is not None:
                changes["rule"] = rule.name
            if not answered:
                changes["first_response_due_at"] = due
            if action == "escalation":
                changes["escalations"] = current.escalations + 1
            connection.execute(
                update(LeadAssignment).where(LeadAssignment.lead_id == lead_id).values(**changes)
            )
        if count_turn:
            assert pool is not None and to_agent is not None
            self._count_turn(connection, pool, to_agent, now)
        if not new:  # a lead without an assignment has no first-response timers
            connection.execute(_CANCEL_FIRST_RESPONSE, {"lead_id": lead_id})
        if due is not None:
            schedule_timer(connection, "first_response", "lead", lead_id, due, now)
            if warn:
                minutes = self.rules.first_response_minutes(rule) - warn
                warn_at = self.due_at(now, minutes, to_agent, connection, time_zone)
                schedule_timer(connection, FIRST_RESPONSE_WARNING, "lead", lead_id, warn_at, now)
        history_id = int(connection.execute(_INSERT_HISTORY, history).scalar_one())
        return history_id, due

    @staticmethod
    def _insert_new_pg(
        connection: Connection,
        assignment: dict[str, Any],
        history: dict[str, Any],
        due: datetime,
        now: datetime,
        turn_of: tuple[str | None, str | None] | None = None,
    ) -> int:
        """PostgreSQL: insert a new assignment, its first-response timer and history at once.

        One statement instead of three (:func:`insert_new_assignment_pg`), four with
        ``turn_of`` (pool, agent: the rotation's turn counted while the agent is
        available). The history row's id; ``AlreadyAssigned`` when the lead has an
        assignment already, ``StaleAgents`` when the agent is no longer available (then
        nothing is written).
        """
        timer = {
            "kind": "first_response",
            "subject_type": "lead",
            "subject_id": assignment["lead_id"],
            "due_at": due,
            "state": TIMER_PENDING,
            "attempts": 0,
            "created_at": now,
        }
        params = {
            **{f"a_{name}": value for name, value in assignment.items()},
            **{f"t_{name}": value for name, value in timer.items()},
            **{f"h_{name}": value for name, value in history.items()},
        }
        if turn_of is not None:
            params.update({"p_pool": turn_of[0], "agent": turn_of[1], "now": now})
        statement = insert_new_assignment_pg(with_turn=turn_of is not None)
        history_id = connection.execute(statement, params).scalar()
        if history_id is not None:
            return int(history_id)
        lead_id = assignment["lead_id"]
        if turn_of is None or connection.execute(_SELECT_CURRENT, {"lead_id": lead_id}).first():
            raise AlreadyAssigned(lead_id)
        raise StaleAgents(f"agent {turn_of[1]!r} is no longer active or is away")

    @staticmethod
    def _history_row(**values: Any) -> dict[str, Any]:
        """A history row's values: every column but ``id`` (None unless given, not applied)."""
        row: dict[str, Any] = {c.name: None for c in _HISTORY.columns if c.name != "id"}
        row.update(values)
        row["details"] = row["details"] if row["details"] is not None else {}
        row["applied"] = bool(values.get("applied", False))
        return row

    @classmethod
    def add_history(cls, connection: Connection, **values: Any) -> int:
        """Insert a history row (not applied unless ``applied=True``); its id."""
        row = cls._history_row(**values)
        return int(connection.execute(_INSERT_HISTORY, row).scalar_one())

    def apply(self, history_id: int) -> None:
        """Write a recorded step to the record (owner) and its timeline; safe to repeat."""
        table = AssignmentHistory.__table__
        with reading(self.engine) as connection:
            row = connection.execute(select(table).where(table.c.id == history_id)).first()
        if row is None or row.applied:
            return
        if row.action != "snoozed" and row.to_agent is not None:
            try:
                self.records.update(row.subject_type, row.subject_id, {"owner_id": row.to_agent})
            except Exception:
                log.exception("could not set the owner of %s %s", row.subject_type, row.subject_id)
                raise
        payload = {
            "action": row.action,
            "owner_id": row.to_agent,
            "previous_owner_id": row.from_agent,
            "by": row.by,
            "why": row.why,
            "rule": row.rule,
            **row.details,
        }
        self.publish(
            f"assignment-{history_id}",
            f"{row.subject_type}.{EVENT_TYPES.get(row.action, row.action)}",
            row.subject_type,
            row.subject_id,
            payload,
            row.at,
        )
        with self.engine.begin() as connection:
            connection.execute(_MARK_APPLIED, {"p_history_id": history_id})

    def apply_pending(self, *, older_than: float = 30.0, limit: int = 100) -> int:
        """Apply steps committed at least ``older_than`` seconds ago but never applied."""
        cutoff = self.clock() - timedelta(seconds=older_than)
        statement = (
            select(AssignmentHistory.id)
            .where(AssignmentHistory.applied.is_(False), AssignmentHistory.at <= cutoff)
            .order_by(AssignmentHistory.id)
            .limit(limit)
        )
        with reading(self.engine) as connection:
            ids = list(connection.execute(statement).scalars())
        for history_id in ids:
            self.apply(history_id)
        return len(ids)

    def publish(
        self,
        event_id: str,
        type_: str,
        subject_type: str,
        subject_id: str,
        payload: dict[str, Any],
        occurred_at: datetime,
    ) -> None:
        """Store an event with a fixed id (so publishing twice stores it once) and queue it."""
        with self.engine.begin() as connection:
            _, plugins = emit_event_in(
                connection, type_, subject_type, subject_id, payload, source=self.source,
                subscribers=self.subscribers, now=occurred_at, event_id=event_id,
            )  # fmt: skip
        for plugin in plugins:
            self.dispatch(plugin, [("event", event_id)])

    def _decide(self, stored: StoredRecord, choice: Choice, now: datetime) -> AssignmentOutcome:
        """Record a new lead's assignment and apply it, all in one transaction.

        See :meth:`decide_in`. The outbox messages are sent after the commit. If the
        lead keeps changing under the write, the decision is committed unapplied and
        applied the usual way.
        """
        try:
            with self.engine.begin() as connection:
                outcome, sends = self.decide_in(connection, stored, choice, now)
        except AlreadyAssigned:
            return self._outcome(self.current(stored.id), "existing")
        if sends is None:
            assert outcome.history_id is not None
            self.apply(outcome.history_id)
        else:
            for plugin, refs in sends:
                self.dispatch(plugin, refs)
        return outcome

    def decide_in(
        self,
        connection: Connection,
        stored: StoredRecord,
        choice: Choice,
        now: datetime,
        *,
        write_owner: bool = True,
    ) -> tuple[AssignmentOutcome, list[tuple[str, list[tuple[str, str]]]] | None]:
        """Record a new lead's assignment in ``connection``'s transaction; (outcome, sends).

        A ``rotation`` takes the pool's turn first (its candidates are ``choice.pool``)
        and the chosen agent is the owner. The owner is written onto the lead (unless
        ``write_owner`` is False: the caller writes it in the same transaction) and the
        timeline event stored, so the step is committed applied. ``sends`` are the
        messages to dispatch after the commit, or None when the lead kept changing under
        the owner write (the step is then left unapplied). Raises ``AlreadyAssigned``
        when another worker assigned the lead first, and ``StaleAgents`` when the chosen
        agent (planned from the kept agents) is no longer active or is away: roll the
        transaction back.
        """
        agent_id, action, rule = choice.agent_id, choice.action, choice.rule
        turn = None
        known = choice.agents or {}
        # A rotation picks its turn here; ``record`` counts it (on PostgreSQL, when it
        # can, in the statement of the inserts).
        count_turn = action == "rotation"
        if count_turn:
            assert rule is not None
            agent_id, turn = self._pick_turn(connection, rule.name, choice.pool)
        elif action in ("sticky", "plugin"):
            params = {"agent": agent_id, "now": now}
            if not connection.execute(_SELECT_AGENT_AVAILABLE, params).scalar():
                raise StaleAgents(f"agent {agent_id!r} is no longer active or is away")
        zone = known[agent_id].time_zone if agent_id in known else None
        history_id, due = self.record(
            connection,
            lead_id=stored.id,
            to_agent=agent_id,
            action=action,
            by=choice.by,
            now=now,
            rule=rule,
            pool=rule.name if action == "rotation" and rule is not None else None,
            turn=turn,
            linked_to=choice.linked_to,
            new=True,
            details=choice.details,
            time_zone=zone,
            applied=not write_owner,
            count_turn=count_turn,
        )
        sends = self._apply_in(
            connection, stored, history_id, Choice(agent_id, action, choice.by, rule,
            choice.linked_to, choice.details), now, write_owner=write_owner,
        )  # fmt: skip
        outcome = AssignmentOutcome(
            stored.id,
            agent_id,
            action,
            rule.name if rule else None,
            linked_to=choice.linked_to,
            history_id=history_id,
            first_response_due_at=due,
        )
        return outcome, sends

    def _apply_in(
        self,
        connection: Connection,
        stored: StoredRecord,
        history_id: int,
        choice: Choice,
        now: datetime,
        *,
        write_owner: bool,
    ) -> list[tuple[str, list[tuple[str, str]]]] | None:
        """Apply a new step in its own transaction: owner onto the lead, timeline event.

        Returns the messages to send once committed, or None when the lead kept
        changing under the write (the step then stays unapplied for ``apply``).
        """
        kind = KINDS_BY_TYPE["lead"]
        sends: list[tuple[str, list[tuple[str, str]]]] = []
        agent_id = choice.agent_id
        if agent_id is not None and write_owner:
            data, version = stored.data, stored.version
            subscribers = self.subscribers("lead")
            for _ in range(OWNER_WRITE_RETRIES):
                model = kind.schema.model_validate({**data, "owner_id": agent_id})
                try:
                    result = write_record_in(
                        connection,
                        kind,
                        stored.id,
                        model,
                        subscribers=subscribers,
                        now=now,
                        origin=self.origin,
                        expected_version=version,
                    )
                except ConcurrentUpdate:
                    row = connection.execute(_SELECT_LEAD, {"lead_id": stored.id}).one()
                    data, version = row.data, row.version
                    continue
                sends.extend(
                    (plugin, [("lead", stored.id)])
                    for plugin in result.subscribers
                    if plugin != self.origin
                )
                break
            else:
                return None
        payload = {
            "action": choice.action,
            "owner_id": agent_id,
            "previous_owner_id": None,
            "by": choice.by,
            "why": None,
            "rule": choice.rule.name if choice.rule else None,
            **(choice.details or {}),
            **({"linked_to": choice.linked_to} if choice.linked_to else {}),
        }
        type_ = f"lead.{EVENT_TYPES.get(choice.action, choice.action)}"
        event_id, plugins = emit_event_in(
            connection, type_, "lead", stored.id, payload, source=self.source,
            subscribers=self.subscribers, now=now, event_id=f"assignment-{history_id}",
        )  # fmt: skip
        sends.extend((plugin, [("event", event_id)]) for plugin in plugins)
        if write_owner:  # else the step was recorded applied: nothing here can fail
            connection.execute(_MARK_APPLIED, {"p_history_id": history_id})
        return sends

    @staticmethod
    def _outcome(row: Any, action: str) -> AssignmentOutcome:
        return AssignmentOutcome(
            row.lead_id,
            row.owner_id,
            action,
            row.rule,
            linked_to=row.linked_to,
            first_response_due_at=row.first_response_due_at,
        )

    def reassign(self, lead_id: str, agent_id: str, *, by: str, why: str) -> AssignmentOutcome:
        """Give a lead to ``agent_id`` by hand; the history keeps who, when and why.

        The first-response clock restarts for the new owner unless the lead was
        already answered. Raises UnknownRecord for an unknown lead or inactive agent.
        """
        now = self.clock()
        self.lead_record(lead_id)
        agent = self.agents().get(agent_id)
        if agent is None or not agent.active:
            raise UnknownRecord(f"there is no active agent with id {agent_id!r}")
        current = self.current(lead_id)
        rule = self.rules.rule(current.rule) if current is not None else None
        with self.engine.begin() as connection:
            history_id, due = self.record(
                connection,
                lead_id=lead_id,
                to_agent=agent_id,
                action="manual",
                by=by,
                why=why,
                now=now,
                rule=rule,
            )
        self.apply(history_id)
        return AssignmentOutcome(
            lead_id,
            agent_id,
            "manual",
            rule.name if rule else None,
            history_id=history_id,
            first_response_due_at=due,
        )

    # -- availability ----------------------------------------------------------------

    def set_away(self, agent_id: str, *, until: datetime | None, reason: str | None) -> None:
        """Mark an agent away (until a time, or until cleared): rotation skips them."""
        if agent_id not in self.agents():
            raise UnknownRecord(f"there is no agent with id {agent_id!r}")
        statement = (
            upsert(self.engine, AgentAway)
            .values(agent_id=agent_id, until=until, reason=reason)
            .on_conflict_do_update(
                index_elements=[AgentAway.agent_id], set_={"until": until, "reason": reason}
            )
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
        self.forget_agents()

    def clear_away(self, agent_id: str) -> None:
        """The agent is back."""
        if agent_id not in self.agents():
            raise UnknownRecord(f"there is no agent with id {agent_id!r}")
        with self.engine.begin() as connection:
            connection.execute(delete(AgentAway).where(AgentAway.agent_id == agent_id))
        self.forget_agents()
