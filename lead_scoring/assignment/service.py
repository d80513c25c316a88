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
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.sql import Executable

from core.db.engine import reading, upsert
from core.db.records import AgentRow, CustomerRow, InteractionRow, LeadRow
from core.db.types import utcnow
from core.kinds import KINDS_BY_TYPE
from core.locale import normalize_digits, normalize_phone
from core.plugin_types import SyncRecord
from core.plugins import PluginHost
from core.records import Dispatch, RecordAccess, Subscribers, emit_event_in
from core.schemas.parties import Agent
from core.store import ConcurrentUpdate, StoredRecord, get_record, write_record_in
from lead_scoring.assignment.rules import (
    AssignmentRules,
    Rule,
    default_assignment_rules,
    load_assignment_rules,
    norm,
)
from lead_scoring.assignment.tables import (
    TIMER_CANCELLED,
    TIMER_PENDING,
    AgentAway,
    AssignmentHistory,
    LeadAssignment,
    RotationCount,
    RotationPool,
    Timer,
)

log = logging.getLogger(__name__)

#: Clock: returns the current time, aware, in UTC. Tests pass a controllable one.
Clock = Callable[[], datetime]
#: Lead statuses that count as open (for capacity and duplicates).
OPEN_STATUSES = ("new", "contacted", "qualified")
#: Timer kinds of the first response (cancelled by the first outbound contact).
FIRST_RESPONSE_TIMERS = ("first_response", "escalation")
#: Time zone of an agent the agents table does not know (a team lead kept elsewhere).
DEFAULT_TIME_ZONE = "Asia/Tehran"
#: Environment variable naming the rules file (the bundled one when unset).
RULES_ENV = "CRM_SYNC_ASSIGNMENT_RULES"
#: Event type per history action.
EVENT_TYPES = {
    "rotation": "assigned",
    "sticky": "assigned",
    "plugin": "assigned",
    "adopted": "assigned",
    "linked": "duplicate_linked",
    "manual": "reassigned",
    "escalation": "escalated",
    "task_created": "assigned",
    "snoozed": "snoozed",
}
#: Actions that use a rotation turn and count toward the daily quota.
QUOTA_ACTIONS = ("rotation", "escalation")


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


_ASSIGNMENTS = LeadAssignment.__table__
_HISTORY = AssignmentHistory.__table__

# Statements of the hot path, built once (see the module docstring).
_SELECT_LEAD = select(
    LeadRow.id, LeadRow.version, LeadRow.data, LeadRow.created_at, LeadRow.updated_at
).where(LeadRow.id == bindparam("lead_id"))
_SELECT_CURRENT = select(_ASSIGNMENTS).where(_ASSIGNMENTS.c.lead_id == bindparam("lead_id"))
_SELECT_UNAPPLIED = select(_HISTORY.c.id).where(
    _HISTORY.c.subject_type == "lead",
    _HISTORY.c.subject_id == bindparam("lead_id"),
    _HISTORY.c.applied.is_(False),
)
_SELECT_AGENTS = select(
    AgentRow.id,
    AgentRow.digest,
    AgentRow.data,
    AgentAway.agent_id.label("away_id"),
    AgentAway.until,
).outerjoin(AgentAway, AgentAway.agent_id == AgentRow.id)
_SELECT_DUPLICATE = (
    select(_ASSIGNMENTS)
    .join_from(_ASSIGNMENTS, LeadRow, LeadRow.id == _ASSIGNMENTS.c.lead_id)
    .where(
        LeadRow.id != bindparam("lead_id"),
        LeadRow.status.in_(OPEN_STATUSES),
        or_(
            LeadRow.phone_e164.in_(bindparam("phones", expanding=True)),
            LeadRow.email.in_(bindparam("emails", expanding=True)),
        ),
        _ASSIGNMENTS.c.owner_id.is_not(None),
    )
    .order_by(_ASSIGNMENTS.c.first_assigned_at, _ASSIGNMENTS.c.lead_id)
    .limit(1)
)
_SELECT_ROOT = select(_ASSIGNMENTS).where(_ASSIGNMENTS.c.lead_id == bindparam("root"))
_QUOTA_WHERE = (
    _HISTORY.c.subject_type == "lead",
    _HISTORY.c.to_agent.in_(bindparam("quota_agents", expanding=True)),
    _HISTORY.c.action.in_(QUOTA_ACTIONS),
    _HISTORY.c.at >= bindparam("since"),
)
#: Open leads per owner and rotation turns since one day start, in one statement.
_SELECT_CAPACITY = union_all(
    select(
        literal_column("'open'").label("what"),
        LeadRow.owner_id.label("agent"),
        func.count().label("n"),
    )
    .where(
        LeadRow.owner_id.in_(bindparam("open_agents", expanding=True)),
        LeadRow.status.in_(OPEN_STATUSES),
    )
    .group_by(LeadRow.owner_id),
    select(literal_column("'today'"), _HISTORY.c.to_agent, func.count())
    .where(*_QUOTA_WHERE)
    .group_by(_HISTORY.c.to_agent),
)
#: Turns with their times, when the candidates' days start at different instants.
_SELECT_TURN_TIMES = select(_HISTORY.c.to_agent, _HISTORY.c.at).where(*_QUOTA_WHERE)
_SELECT_TURNS = select(RotationCount.agent_id, RotationCount.turns).where(
    RotationCount.pool == bindparam("pool"),
    RotationCount.agent_id.in_(bindparam("agents", expanding=True)),
)
_ADD_TURN = (
    update(RotationCount)
    .where(RotationCount.pool == bindparam("p_pool"), RotationCount.agent_id == bindparam("agent"))
    .values(turns=RotationCount.turns + 1)
)
_CANCEL_FIRST_RESPONSE = (
    update(Timer)
    .where(
        Timer.subject_type == "lead",
        Timer.subject_id == bindparam("lead_id"),
        Timer.kind.in_(FIRST_RESPONSE_TIMERS),
        Timer.state == TIMER_PENDING,
    )
    .values(state=TIMER_CANCELLED)
)
_TIMER_COLUMNS = ("kind", "subject_type", "subject_id", "due_at", "state", "attempts", "created_at")
_INSERT_TIMER = (
    insert(Timer).values({name: bindparam(name) for name in _TIMER_COLUMNS}).returning(Timer.id)
)
_INSERT_DECIDED_TIMER = (
    insert(Timer)
    .values({name: bindparam(name) for name in (*_TIMER_COLUMNS, "decision")})
    .returning(Timer.id)
)
_INSERT_HISTORY = insert(AssignmentHistory).returning(AssignmentHistory.id)
#: The lead's earliest outbound interaction: when its first response was given.
_FIRST_OUTBOUND = select(func.min(InteractionRow.occurred_at)).where(
    InteractionRow.lead_id == bindparam("lead_id"),
    InteractionRow.data["direction"].as_string() == "outbound",
)
_MARK_APPLIED = (
    update(AssignmentHistory)
    .where(AssignmentHistory.id == bindparam("p_history_id"))
    .values(applied=True)
)
#: Tries at writing the owner inside the decision's transaction before giving up.
OWNER_WRITE_RETRIES = 5


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


class AssignmentService:
    """Assigns leads, reassigns them, and keeps their first-response measures.

    ``subscribers`` and ``dispatch`` are the runtime's (so plugins hear of owner
    changes and ``event.lead.assigned``); ``host`` is asked through
    ``crm_sync_assign_lead``; ``clock`` gives "now" (tests move it by hand).
    """

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
        self._dialect_statements: dict[str, Executable] = {}

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

    # -- reading ----------------------------------------------------------------

    def agents(self) -> dict[str, Agent]:
        """Every agent, active or not, by id."""
        with reading(self.engine) as connection:
            return self._agents_and_away(connection, self.clock())[0]

    def _agents_and_away(
        self, connection: Connection, now: datetime
    ) -> tuple[dict[str, Agent], set[str]]:
        """Every agent by id and those away at ``now``, in one statement.

        A document is validated once per digest: agents rarely change, and validating
        every agent for every lead would cost more than the query.
        """
        agents: dict[str, Agent] = {}
        away: set[str] = set()
        cache = self._agent_cache
        for row in connection.execute(_SELECT_AGENTS):
            key = (row.id, row.digest)
            agent = cache.get(key)
            if agent is None:
                if len(cache) > 10_000:
                    cache.clear()
                agent = cache[key] = Agent.model_validate(row.data)
            agents[row.id] = agent
            if row.away_id is not None and (row.until is None or row.until > now):
                away.add(row.id)
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

    # -- eligibility, capacity, availability -----------------------------------------

    def eligible(self, rule: Rule, agent: Agent, lead: dict[str, Any]) -> bool:
        """Whether ``agent`` may take ``lead`` under ``rule`` (before capacity and hours)."""
        if not agent.active:
            return False
        if rule.team is not None and (agent.team is None or norm(agent.team) != norm(rule.team)):
            return False
        skills = {norm(skill) for skill in agent.skills}
        if any(norm(skill) not in skills for skill in rule.skills):
            return False
        if rule.product_line is not None and norm(rule.product_line) not in skills:
            return False
        if rule.languages and not set(rule.languages) & set(agent.languages):
            return False
        province = lead.get("province")
        return not (
            rule.territory
            and province
            and agent.provinces
            and norm(province) not in {norm(p) for p in agent.provinces}
        )

    def _with_capacity(
        self,
        rule: Rule,
        candidates: Sequence[str],
        agents: dict[str, Agent],
        now: datetime,
        reads: _Reads | None,
        everyone: Sequence[str] = (),
    ) -> list[str]:
        """``with_capacity`` on ``reads``' connection, counting once per ``assign``.

        With ``reads`` the counts are taken for ``everyone`` (every agent any rule may
        pick) the first time a rule needs them, and reused by the rules after it.
        """
        max_open = rule.max_open_leads or self.rules.defaults.max_open_leads
        quota = rule.daily_quota or self.rules.defaults.daily_quota
        if not candidates or (max_open is None and quota is None):
            return list(candidates)
        if reads is None:
            with reading(self.engine) as connection:
                open_counts, today = self._counts(connection, candidates, agents, now)
        else:
            if reads.counts is None:
                reads.counts = self._counts(reads.connection, everyone, agents, now)
            open_counts, today = reads.counts
        return [
            a
            for a in candidates
            if (max_open is None or open_counts.get(a, 0) < max_open)
            and (quota is None or today.get(a, 0) < quota)
        ]

    def _counts(
        self,
        connection: Connection,
        candidates: Sequence[str],
        agents: dict[str, Agent],
        now: datetime,
    ) -> tuple[dict[str, int], dict[str, int]]:
        """(open leads, rotation turns today in the agent's own day) per candidate.

        Both come from one statement when the candidates' days start at the same instant
        (one time zone, the usual case); otherwise the turns are read with their times
        and counted against each agent's own day start.
        """
        starts = {a: self._day_start(now, agents[a].time_zone) for a in candidates}
        since = min(starts.values())
        params = {
            "open_agents": list(candidates),
            "quota_agents": list(candidates),
            "since": since,
        }
        open_counts: dict[str, int] = {}
        today: dict[str, int] = {}
        same_day = len(set(starts.values())) == 1
        for what, agent_id, count in connection.execute(_SELECT_CAPACITY, params):
            if what == "open":
                open_counts[str(agent_id)] = int(count)
            elif same_day and agent_id is not None:
                today[str(agent_id)] = int(count)
        if not same_day:
            for agent_id, at in connection.execute(_SELECT_TURN_TIMES, params):
                if agent_id is not None and at >= starts[agent_id]:
                    today[agent_id] = today.get(agent_id, 0) + 1
        return open_counts, today

    @staticmethod
    def _day_start(now: datetime, time_zone: str) -> datetime:
        local = now.astimezone(ZoneInfo(time_zone))
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    def plan(
        self,
        lead: dict[str, Any],
        agents: dict[str, Agent],
        now: datetime,
        *,
        exclude: Iterable[str] = (),
        only: Rule | None = None,
        reads: _Reads | None = None,
    ) -> tuple[Rule | None, list[str], str | None]:
        """The pool for a lead: (rule, agents left, None) or (None, [], why nobody).

        ``exclude`` removes agents (the owner an escalation moves away from); ``only``
        restricts the search to one rule. ``reads`` carries what ``assign`` already
        read (who is away) and its connection for the capacity counts.
        """
        excluded = set(exclude)
        away = reads.away if reads is not None else self.away(now)
        everyone = [
            agent_id
            for agent_id, agent in sorted(agents.items())
            if agent.active and agent_id not in excluded and agent_id not in away
        ]
        matched: list[str] = []
        for rule in [only] if only is not None else self.rules.rules:
            if not rule.matches(lead):
                continue
            matched.append(rule.name)
            eligible = [
                agent_id
                for agent_id, agent in sorted(agents.items())
                if agent_id not in excluded
                and agent_id not in away
                and self.eligible(rule, agent, lead)
            ]
            left = self._with_capacity(rule, eligible, agents, now, reads, everyone)
            if not left:
                continue
            at_work = [a for a in left if self.calendar.is_open(now, agents[a].time_zone)]
            return rule, at_work or left, None
        if not matched:
            return None, [], "no rule matches the lead"
        return None, [], f"no eligible agent with capacity under rules {', '.join(matched)}"

    # -- rotation ------------------------------------------------------------------

    def take_turn(
        self, connection: Connection, pool: str, candidates: Sequence[str]
    ) -> tuple[str, int]:
        """Give the pool's next turn to the candidate with the fewest turns; (agent, turn).

        The pool row stays locked until ``connection``'s transaction ends, so concurrent
        workers queue here. An agent new to the pool starts at the fewest turns any
        candidate has, so joining late does not hand them every lead until they catch up.
        """
        turn = int(connection.execute(self._statement("bump"), {"p_pool": pool}).scalar_one())
        counts = {
            row.agent_id: row.turns
            for row in connection.execute(_SELECT_TURNS, {"pool": pool, "agents": list(candidates)})
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
        connection.execute(_ADD_TURN, {"p_pool": pool, "agent": chosen})
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
    ) -> tuple[int, datetime | None]:
        """Write one assignment step in ``connection``'s transaction; (history id, due).

        With ``new`` the lead must have no assignment yet (else ``AlreadyAssigned``,
        found by the insert itself, so nothing is read first). Pending first-response
        timers of the lead are cancelled and, unless the lead is linked or already
        answered, a new one is set at the owner's deadline (``time_zone``, when the
        caller knows the owner's, saves reading it). ``applied`` marks a step whose
        owner and event the caller writes in the same transaction.
        """
        current = None if new else self.current(lead_id, connection)
        answered = current is not None and current.first_response_at is not None
        due = None
        if to_agent is not None and linked_to is None and not answered:
            due = self.due_at(
                now, self.rules.first_response_minutes(rule), to_agent, connection, time_zone
            )
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
        if not new:  # a lead without an assignment has no first-response timers
            connection.execute(_CANCEL_FIRST_RESPONSE, {"lead_id": lead_id})
        if due is not None:
            schedule_timer(connection, "first_response", "lead", lead_id, due, now)
        history_id = self.add_history(
            connection,
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
        return history_id, due

    @staticmethod
    def add_history(connection: Connection, **values: Any) -> int:
        """Insert a history row (not applied unless ``applied=True``); its id."""
        row: dict[str, Any] = {c.name: None for c in _HISTORY.columns if c.name != "id"}
        row.update(values)
        row["details"] = row["details"] if row["details"] is not None else {}
        row["applied"] = bool(values.get("applied", False))
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

    # -- assignment ----------------------------------------------------------------

    def lead_record(self, lead_id: str) -> StoredRecord:
        """The stored lead; UnknownRecord if there is none."""
        stored = get_record(self.engine, KINDS_BY_TYPE["lead"], lead_id)
        if stored is None:
            raise UnknownRecord(f"there is no lead with id {lead_id!r}")
        return stored

    def assign(self, lead_id: str, *, national_id: str | None = None) -> AssignmentOutcome:
        """Give a lead without an assignment to somebody (see the module docstring).

        Everything the decision depends on is read on one connection (:meth:`prepare`),
        plugins are asked with no connection held (:meth:`choose`), and the decision
        and its effects on the lead are then written in one transaction (``_decide``).
        """
        now = self.clock()
        with reading(self.engine) as connection:
            row = connection.execute(_SELECT_LEAD, {"lead_id": lead_id}).first()
            if row is None:
                raise UnknownRecord(f"there is no lead with id {lead_id!r}")
            stored = StoredRecord(
                KINDS_BY_TYPE["lead"], row.id, row.version, row.data, row.created_at, row.updated_at
            )
            prepared = self.prepare(connection, stored, now, national_id=national_id)
        choice = self.choose(prepared, now)
        if isinstance(choice, AssignmentOutcome):
            return choice
        return self._decide(stored, choice, now)

    def prepare(
        self,
        connection: Connection,
        stored: StoredRecord,
        now: datetime,
        *,
        national_id: str | None = None,
    ) -> Prepared:
        """Read on ``connection`` what assigning ``stored`` (a lead) depends on; write nothing.

        The lead's current assignment (and its steps not applied yet) when it has one;
        else, for an open lead without an owner, the duplicate it would be linked to,
        the agents, the rule and pool the rules give, and a known customer's owner.
        """
        lead = stored.data
        existing = connection.execute(_SELECT_CURRENT, {"lead_id": stored.id}).first()
        if existing is not None:
            pending = list(connection.execute(_SELECT_UNAPPLIED, {"lead_id": stored.id}).scalars())
            return Prepared(stored, existing, pending, None)
        if lead.get("status") not in OPEN_STATUSES or lead.get("owner_id"):
            return Prepared(stored, None, [], None)
        decision = self._read_decision(connection, stored, national_id, now)
        return Prepared(stored, None, [], decision)

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

    def _read_decision(
        self, connection: Connection, stored: StoredRecord, national_id: str | None, now: datetime
    ) -> tuple[Any, dict[str, Agent], Rule | None, list[str], str | None, tuple[str, str] | None]:
        """What a new, open, ownerless lead's decision needs, read on ``connection``.

        (duplicate's assignment, agents, rule, pool, why nobody, sticky owner). The
        sticky owner is read before plugins are asked (they are never called while a
        connection is held) and used only when no plugin takes the lead.
        """
        lead = stored.data
        original = self._duplicate_of(connection, stored.id, lead)
        if original is not None:
            return original, {}, None, [], None, None
        agents, away = self._agents_and_away(connection, now)
        reads = _Reads(connection, away)
        rule, candidates, reason = self.plan(lead, agents, now, reads=reads)
        sticky = self._sticky_owner(connection, lead, agents, national_id)
        return None, agents, rule, candidates, reason, sticky

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
        when another worker assigned the lead first: roll the transaction back.
        """
        agent_id, action, rule = choice.agent_id, choice.action, choice.rule
        turn = None
        known = choice.agents or {}
        if action == "rotation":
            assert rule is not None
            agent_id, turn = self.take_turn(connection, rule.name, choice.pool)
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

    # -- matching ------------------------------------------------------------------

    def _duplicate_of(self, connection: Connection, lead_id: str, lead: dict[str, Any]) -> Any:
        """``duplicate_of`` on an open connection: one statement (two for a linked one)."""
        phones = _phones(lead.get("phones", []))
        emails = [email.strip().lower() for email in lead.get("emails", [])]
        if not phones and not emails:
            return None
        params = {"lead_id": lead_id, "phones": phones, "emails": emails}
        row = connection.execute(_SELECT_DUPLICATE, params).first()
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
        conditions = [CustomerRow.search.contains(token) for token in tokens]
        if nid:
            conditions.append(CustomerRow.national_id == nid)
        statement = (
            select(CustomerRow.id, CustomerRow.data, CustomerRow.owner_id)
            .where(CustomerRow.owner_id.is_not(None), or_(*conditions))
            .order_by(CustomerRow.updated_at.desc())
        )
        rows = connection.execute(statement).all()
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

    def ask_plugins(self, lead: StoredRecord, candidates: Sequence[str]) -> str | None:
        """The first agent id a plugin's ``crm_sync_assign_lead`` returns, in name order."""
        if self.host is None or not self.host.implementers("crm_sync_assign_lead"):
            return None
        record = SyncRecord(
            type="lead",
            id=lead.id,
            version=lead.version,
            data=lead.model(),
            updated_at=lead.updated_at,
        )
        answers = self.host.call_each(
            "crm_sync_assign_lead", lead=record, candidates=list(candidates)
        )
        for name, answer in answers:
            if isinstance(answer, Exception):
                log.error("plugin %s failed to assign lead %s: %r", name, lead.id, answer)
            elif isinstance(answer, str) and answer:
                return answer
        return None

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

    def clear_away(self, agent_id: str) -> None:
        """The agent is back."""
        if agent_id not in self.agents():
            raise UnknownRecord(f"there is no agent with id {agent_id!r}")
        with self.engine.begin() as connection:
            connection.execute(delete(AgentAway).where(AgentAway.agent_id == agent_id))


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


__all__ = [
    "AlreadyAssigned",
    "AssignmentOutcome",
    "AssignmentService",
    "Choice",
    "Clock",
    "LeadMeasures",
    "Prepared",
    "UnknownRecord",
    "cancel_timers",
    "rules_from_environment",
    "schedule_timer",
    "sla_state",
]
