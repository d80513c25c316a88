"""What assignment reads: agents and who is away, a lead, its assignment and history, matches.

:class:`AssignmentReads` holds the service's state (engine, rules, calendar, clock,
the plugin host and the runtime's subscribers) and its reads; the decision
(:mod:`.choice`), the writes (:mod:`.writes`) and the measures (:mod:`.measures`) build
on it, one layer each, and :class:`~lead_scoring.assignment.service.AssignmentService`
is the whole.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, or_, select
from sqlalchemy.sql import Executable

from core.db.engine import reading, upsert
from core.db.types import utcnow
from core.kinds import KINDS_BY_TYPE
from core.locale import normalize_digits, normalize_phone
from core.plugins import PluginHost
from core.records import Dispatch, RecordAccess, Subscribers
from core.schemas.parties import Agent
from core.store import StoredRecord, get_record
from lead_scoring.assignment.outcomes import UnknownRecord
from lead_scoring.assignment.rules import (
    AssignmentRules,
    default_assignment_rules,
    load_assignment_rules,
)
from lead_scoring.assignment.statements import (
    _SELECT_AGENTS,
    _SELECT_CURRENT,
    _SELECT_CURRENT_AND_DUPLICATE,
    _SELECT_DUPLICATE,
    _SELECT_ROOT,
    RULES_ENV,
    Clock,
    select_sticky_customers,
)
from lead_scoring.assignment.tables import (
    AgentAway,
    AssignmentHistory,
    LeadAssignment,
    RotationPool,
)

#: Seconds the agents and who is away, as the job read them, are kept for the next jobs.
AGENT_CACHE_SECONDS = 5.0


def rules_from_environment() -> AssignmentRules:
    """The rules file named by ``CRM_SYNC_ASSIGNMENT_RULES``, or the bundled rules."""
    path = os.environ.get(RULES_ENV)
    return load_assignment_rules(path) if path else default_assignment_rules()


def _phones(values: Iterable[str]) -> list[str]:
    found = []
    for value in values:
        try:
            found.append(normalize_phone(value))
        except ValueError:
            continue
    return found


def _duplicate_params(lead_id: str, lead: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters of the duplicate search for a lead, None without phone or email."""
    phones = _phones(lead.get("phones", []))
    emails = [email.strip().lower() for email in lead.get("emails", [])]
    if not phones and not emails:
        return None
    return {"lead_id": lead_id, "phones": phones, "emails": emails}


class AssignmentReads:
    """The service's state and its reads (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        rules: AssignmentRules,
        *,
        host: PluginHost | None = None,
        subscribers: Subscribers | None = None,
        dispatch: Dispatch | None = None,
        clock: Clock = utcnow,
        source: str = "assignment",
        origin: str | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.calendar = rules.calendar.build()
        self.host = host
        self.subscribers: Subscribers = subscribers or (lambda _type: [])
        self.dispatch: Dispatch = dispatch or (lambda _plugin, _refs: None)
        self.clock = clock
        self.source = source
        self.origin = origin or source
        self.records = RecordAccess(engine, self.origin, self.subscribers, self.dispatch)
        self._random = random.Random()
        self._agent_cache: dict[tuple[str, str], Agent] = {}
        self.agent_cache_seconds = AGENT_CACHE_SECONDS
        self.monotonic: Callable[[], float] = time.monotonic
        self._agent_rows: tuple[float, list[tuple[str, Agent, bool, datetime | None]]] | None
        self._agent_rows = None
        self._dialect_statements: dict[str, Executable] = {}

    # -- reading ----------------------------------------------------------------

    def agents(self) -> dict[str, Agent]:
        """Every agent, active or not, by id."""
        with reading(self.engine) as connection:
            return self._agents_and_away(connection, self.clock())[0]

    def forget_agents(self) -> None:
        """Read the agents and who is away again on the next decision."""
        self._agent_rows = None

    def _agents_and_away(
        self, connection: Connection, now: datetime, *, kept: bool = False
    ) -> tuple[dict[str, Agent], set[str]]:
        """Every agent by id and those away at ``now``, in one statement.

        A document is validated once per digest: agents rarely change, and validating
        every agent for every lead would cost more than the query. With ``kept`` the
        rows read by an earlier call are used while younger than ``agent_cache_seconds``
        (a statement per lead saved): an agent added, changed, deactivated or set away
        in that window is seen that much later. Who gets a lead stays right, as the
        decision's transaction checks that the chosen agent is still active and not
        away (``StaleAgents``, then the agents are read again); this service forgets
        the kept rows when it sets an agent away or back.
        """
        rows = None
        if kept and self._agent_rows is not None:
            read_at, rows = self._agent_rows
            if not 0 <= self.monotonic() - read_at < self.agent_cache_seconds:
                rows = None
        if rows is None:
            read_at = self.monotonic()
            rows = []
            cache = self._agent_cache
            for row in connection.execute(_SELECT_AGENTS):
                key = (row.id, row.digest)
                agent = cache.get(key)
                if agent is None:
                    if len(cache) > 10_000:
                        cache.clear()
                    agent = cache[key] = Agent.model_validate(row.data)
                rows.append((row.id, agent, row.away_id is not None, row.until))
            self._agent_rows = (read_at, rows)
        agents: dict[str, Agent] = {}
        away: set[str] = set()
        for agent_id, agent, has_away, until in rows:
            agents[agent_id] = agent
            if has_away and (until is None or until > now):
                away.add(agent_id)
        return agents, away

    def _statement(self, name: str) -> Executable:
        """A dialect-specific upsert of the hot path, built once per service."""
        found = self._dialect_statements.get(name)
        if found is not None:
            return found
        if name == "bump":
            built: Executable = (
                upsert(self.engine, RotationPool)
                .values(pool=bindparam("p_pool"), turn=1)
                .on_conflict_do_update(
                    index_elements=[RotationPool.pool], set_={"turn": RotationPool.turn + 1}
                )
                .returning(RotationPool.turn)
            )
        else:
            built = (
                upsert(self.engine, LeadAssignment)
                .on_conflict_do_nothing(index_elements=[LeadAssignment.lead_id])
                .returning(LeadAssignment.lead_id)
            )
        self._dialect_statements[name] = built
        return built

    def away(self, now: datetime) -> set[str]:
        """Agents away at ``now``."""
        statement = select(AgentAway.agent_id).where(
            or_(AgentAway.until.is_(None), AgentAway.until > now)
        )
        with reading(self.engine) as connection:
            return set(connection.execute(statement).scalars())

    def current(self, lead_id: str, connection: Connection | None = None) -> Any:
        """The current assignment row of a lead, or None."""
        params = {"lead_id": lead_id}
        if connection is not None:
            return connection.execute(_SELECT_CURRENT, params).first()
        with reading(self.engine) as own:
            return own.execute(_SELECT_CURRENT, params).first()

    def history(self, subject_type: str, subject_id: str) -> list[dict[str, Any]]:
        """Every owner change (and snooze) of a lead or task, oldest first."""
        table = AssignmentHistory.__table__
        statement = (
            select(table)
            .where(table.c.subject_type == subject_type, table.c.subject_id == subject_id)
            .order_by(table.c.id)
        )
        with reading(self.engine) as connection:
            rows = connection.execute(statement).all()
        return [
            {
                "id": row.id,
                "action": row.action,
                "from_agent": row.from_agent,
                "to_agent": row.to_agent,
                "by": row.by,
                "why": row.why,
                "rule": row.rule,
                "turn": row.turn,
                "at": row.at,
                "details": row.details,
            }
            for row in rows
        ]

    # -- assignment ----------------------------------------------------------------

    def lead_record(self, lead_id: str) -> StoredRecord:
        """The stored lead; UnknownRecord if there is none."""
        stored = get_record(self.engine, KINDS_BY_TYPE["lead"], lead_id)
        if stored is None:
            raise UnknownRecord(f"there is no lead with id {lead_id!r}")
        return stored

    # -- matching ------------------------------------------------------------------

    def _duplicate_of(self, connection: Connection, lead_id: str, lead: dict[str, Any]) -> Any:
        """``duplicate_of`` on an open connection: one statement (two for a linked one)."""
        params = _duplicate_params(lead_id, lead)
        if params is None:
            return None
        return self._root_of(
            connection,
            connection.execute(_SELECT_DUPLICATE[connection.dialect.name], params).first(),
        )

    def _current_and_duplicate(
        self, connection: Connection, lead_id: str, lead: dict[str, Any]
    ) -> tuple[Any, Any]:
        """A lead's own assignment row and its duplicate's (each None when there is none).

        One statement for both when the lead has a phone or an email (a linked duplicate
        costs one more), else the lead's own row alone.
        """
        params = _duplicate_params(lead_id, lead)
        if params is None:
            return connection.execute(_SELECT_CURRENT, {"lead_id": lead_id}).first(), None
        current = duplicate = None
        for row in connection.execute(
            _SELECT_CURRENT_AND_DUPLICATE[connection.dialect.name], params
        ):
            if row.found == "current":
                current = row
            else:
                duplicate = row
        return current, self._root_of(connection, duplicate)

    def _root_of(self, connection: Connection, row: Any) -> Any:
        """The assignment a duplicate's row is linked to, or the row itself."""
        if row is not None and row.linked_to is not None:
            root = connection.execute(_SELECT_ROOT, {"root": row.linked_to}).first()
            return root or row
        return row

    def _sticky_owner(
        self,
        connection: Connection,
        lead: dict[str, Any],
        agents: dict[str, Agent],
        national_id: str | None,
    ) -> tuple[str, str] | None:
        """``sticky_owner`` on an open connection."""
        phones = set(_phones(lead.get("phones", [])))
        emails = {email.strip().lower() for email in lead.get("emails", [])}
        nid = normalize_digits(national_id.strip()) if national_id else None
        tokens = [*phones, *emails, *([nid] if nid else [])]
        if not tokens:
            return None
        params: dict[str, str] = {f"token_{n}": token for n, token in enumerate(tokens)}
        if nid:
            params["national_id"] = nid
        statement = select_sticky_customers(len(tokens), nid is not None)
        rows = connection.execute(statement, params).all()
        for row in rows:
            data = row.data
            same = (
                bool(phones & set(_phones(data.get("phones", []))))
                or bool(emails & {e.strip().lower() for e in data.get("emails", [])})
                or (nid is not None and normalize_digits(data.get("national_id") or "") == nid)
            )
            owner = agents.get(row.owner_id)
            if same and owner is not None and owner.active:
                return row.owner_id, row.id
        return None
