"""Constants and the prebuilt statements of lead assignment.

The hot path (``assign`` inside the scoring job) binds parameters to statements built
once here: building a SQLAlchemy statement costs more CPU than running it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Select,
    any_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from core.db.records import AgentRow, CustomerRow, InteractionRow, LeadRow
from lead_scoring.assignment.tables import (
    TIMER_CANCELLED,
    TIMER_PENDING,
    AgentAway,
    AssignmentHistory,
    LeadAssignment,
    RotationCount,
    Timer,
)

#: Clock: returns the current time, aware, in UTC. Tests pass a controllable one.
Clock = Callable[[], datetime]
#: Lead statuses that count as open (for capacity and duplicates).
OPEN_STATUSES = ("new", "contacted", "qualified")
#: Timer kind of the warning some working minutes before the first-response deadline.
FIRST_RESPONSE_WARNING = "first_response_warning"
#: Timer kinds of the first response (cancelled by the first outbound contact).
FIRST_RESPONSE_TIMERS = ("first_response", "escalation", FIRST_RESPONSE_WARNING)
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
#: The databases the per-dialect statements below are built for.
DIALECTS = ("sqlite", "postgresql")


def _one_of(column: Any, name: str, dialect: str) -> Any:
    """``column`` is one of the bound list ``name``: ``= ANY(array)`` on PostgreSQL, else ``IN``.

    An expanding ``IN`` is rendered again at every execution, a parameter per item;
    PostgreSQL takes the list as one array parameter of a statement compiled once.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _among(column: Any, values: tuple[str, ...]) -> Any:
    """``column`` is one of these constants, written into the statement (no parameters)."""
    return column.in_([literal_column(f"'{value}'") for value in values])


def _select_duplicate(dialect: str) -> Select[Any]:
    """The oldest assigned open lead sharing a phone or an email with lead ``lead_id``."""
    return (
        select(_ASSIGNMENTS)
        .join_from(_ASSIGNMENTS, LeadRow, LeadRow.id == _ASSIGNMENTS.c.lead_id)
        .where(
            LeadRow.id != bindparam("lead_id"),
            _among(LeadRow.status, OPEN_STATUSES),
            or_(
                _one_of(LeadRow.phone_e164, "phones", dialect),
                _one_of(LeadRow.email, "emails", dialect),
            ),
            _ASSIGNMENTS.c.owner_id.is_not(None),
        )
        .order_by(_ASSIGNMENTS.c.first_assigned_at, _ASSIGNMENTS.c.lead_id)
        .limit(1)
    )


def _select_current_and_duplicate(dialect: str) -> Any:
    """A new lead's own assignment and its duplicate's in one round trip.

    Told apart by ``found`` (``current`` or ``duplicate``): most leads have neither,
    and both are read before anything is decided.
    """
    duplicate = _select_duplicate(dialect).subquery("duplicate")
    return union_all(
        select(*_ASSIGNMENTS.c, literal_column("'current'").label("found")).where(
            _ASSIGNMENTS.c.lead_id == bindparam("lead_id")
        ),
        select(*duplicate.c, literal_column("'duplicate'")),
    )


def _quota_where(dialect: str) -> tuple[Any, ...]:
    """Rotation turns of the agents ``quota_agents`` since ``since``."""
    return (
        _HISTORY.c.subject_type == "lead",
        _one_of(_HISTORY.c.to_agent, "quota_agents", dialect),
        _among(_HISTORY.c.action, QUOTA_ACTIONS),
        _HISTORY.c.at >= bindparam("since"),
    )


def _select_capacity(dialect: str) -> Any:
    """Open leads per owner and rotation turns since one day start, in one statement."""
    return union_all(
        select(
            literal_column("'open'").label("what"),
            LeadRow.owner_id.label("agent"),
            func.count().label("n"),
        )
        .where(
            _one_of(LeadRow.owner_id, "open_agents", dialect),
            _among(LeadRow.status, OPEN_STATUSES),
        )
        .group_by(LeadRow.owner_id),
        select(literal_column("'today'"), _HISTORY.c.to_agent, func.count())
        .where(*_quota_where(dialect))
        .group_by(_HISTORY.c.to_agent),
    )


_SELECT_DUPLICATE = {dialect: _select_duplicate(dialect) for dialect in DIALECTS}
_SELECT_ROOT = select(_ASSIGNMENTS).where(_ASSIGNMENTS.c.lead_id == bindparam("root"))
_SELECT_CURRENT_AND_DUPLICATE = {
    dialect: _select_current_and_duplicate(dialect) for dialect in DIALECTS
}
_SELECT_CAPACITY = {dialect: _select_capacity(dialect) for dialect in DIALECTS}
#: Turns with their times, when the candidates' days start at different instants.
_SELECT_TURN_TIMES = {
    dialect: select(_HISTORY.c.to_agent, _HISTORY.c.at).where(*_quota_where(dialect))
    for dialect in DIALECTS
}
#: The turns of the agents ``agents`` in pool ``pool``.
_SELECT_TURNS = {
    dialect: select(RotationCount.agent_id, RotationCount.turns).where(
        RotationCount.pool == bindparam("pool"),
        _one_of(RotationCount.agent_id, "agents", dialect),
    )
    for dialect in DIALECTS
}
#: Whether agent ``agent`` is active and not away at ``now``, read inside the decision's
#: transaction: the agents the decision was planned with may be a few seconds old.
_AGENT_AVAILABLE = exists().where(
    AgentRow.id == bindparam("agent"), AgentRow.active.is_(True)
) & ~exists().where(
    AgentAway.agent_id == bindparam("agent"),
    or_(AgentAway.until.is_(None), AgentAway.until > bindparam("now")),
)
_SELECT_AGENT_AVAILABLE = select(_AGENT_AVAILABLE)
_ADD_TURN = (
    update(RotationCount)
    .where(RotationCount.pool == bindparam("p_pool"), RotationCount.agent_id == bindparam("agent"))
    .values(turns=RotationCount.turns + 1)
)
#: The chosen agent's turn, counted only while the agent is still available (no row
#: updated: the agents were stale, see ``_AGENT_AVAILABLE``).
_ADD_AVAILABLE_TURN = _ADD_TURN.where(_AGENT_AVAILABLE)
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


@cache
def select_sticky_customers(tokens: int, national_id: bool) -> Select[Any]:
    """Customers with an owner whose search text holds one of ``tokens`` bound tokens.

    The parameters are ``token_0`` ... ``token_{tokens - 1}`` and, with
    ``national_id``, ``national_id``; newest first. Built once per shape: a lead has one
    or two phones or emails, and building the statement costs more than running it.
    """
    conditions = [CustomerRow.search.contains(bindparam(f"token_{n}")) for n in range(tokens)]
    if national_id:
        conditions.append(CustomerRow.national_id == bindparam("national_id"))
    return (
        select(CustomerRow.id, CustomerRow.data, CustomerRow.owner_id)
        .where(CustomerRow.owner_id.is_not(None), or_(*conditions))
        .order_by(CustomerRow.updated_at.desc())
    )


_ASSIGNMENT_COLUMNS = tuple(column.name for column in _ASSIGNMENTS.columns)
_HISTORY_COLUMNS = tuple(column.name for column in _HISTORY.columns if column.name != "id")


def _bound(table: Any, prefix: str, names: tuple[str, ...]) -> list[Any]:
    """Typed bound parameters ``prefix + name`` for these columns of ``table``."""
    return [bindparam(prefix + name, type_=table.c[name].type) for name in names]


@cache
def insert_new_assignment_pg(with_turn: bool = False) -> Any:
    """PostgreSQL: a new lead's assignment, its first-response timer and history in one statement.

    The assignment is inserted unless the lead has one (``ON CONFLICT DO NOTHING``); the
    timer and the history row are inserted only with it, from its ``RETURNING``, so a
    lead assigned by another worker gets nothing and the statement returns no row.
    Otherwise it returns the history row's id. Parameters: ``a_`` + each assignment
    column, ``t_`` + each timer column, ``h_`` + each history column (but ``id``).
    ``with_turn`` adds the rotation's turn of agent ``agent`` in pool ``p_pool``,
    counted only while the agent is available at ``now`` (``_ADD_AVAILABLE_TURN``), and
    inserts the assignment only when it was counted: no row then also means the agent
    was stale. SQLite has no writing ``WITH``: there the statements run one by one.
    """
    bound = _bound(_ASSIGNMENTS, "a_", _ASSIGNMENT_COLUMNS)
    if with_turn:
        took = _ADD_AVAILABLE_TURN.returning(RotationCount.agent_id).cte("took")
        new: Any = pg_insert(LeadAssignment).from_select(
            list(_ASSIGNMENT_COLUMNS), select(*bound).select_from(took)
        )
    else:
        new = pg_insert(LeadAssignment).values(dict(zip(_ASSIGNMENT_COLUMNS, bound, strict=True)))
    assigned = (
        new.on_conflict_do_nothing(index_elements=[_ASSIGNMENTS.c.lead_id])
        .returning(_ASSIGNMENTS.c.lead_id)
        .cte("assigned")
    )
    timers = Timer.__table__
    timer = (
        insert(Timer)
        .from_select(
            list(_TIMER_COLUMNS),
            select(*_bound(timers, "t_", _TIMER_COLUMNS)).select_from(assigned),
        )
        .cte("timer")
    )
    return (
        insert(AssignmentHistory)
        .from_select(
            list(_HISTORY_COLUMNS),
            select(*_bound(_HISTORY, "h_", _HISTORY_COLUMNS)).select_from(assigned),
        )
        .returning(_HISTORY.c.id)
        .add_cte(timer)
    )
