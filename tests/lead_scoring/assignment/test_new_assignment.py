"""A new lead's assignment, first-response timer and history are written together or not at all.

On PostgreSQL the three are one statement, on SQLite three; both must write the same
rows, and neither may write a timer or a history row for a lead another worker
assigned first.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db.engine import reading
from core.kinds import KINDS_BY_TYPE
from core.store import StoredRecord
from lead_scoring.assignment.service import Choice
from lead_scoring.assignment.statements import _SELECT_LEAD
from lead_scoring.assignment.tables import RotationCount, Timer
from tests.lead_scoring.assignment.conftest import RULES, SUNDAY_MORNING, World

#: The SQL differs between the two databases: every test runs on both.
pytestmark = pytest.mark.parametrize("world", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def both(world: World) -> World:
    """The test's database (SQLite or PostgreSQL) with two sales agents."""
    world.agent("a1")
    world.agent("a2")
    return world


def timers(world: World, lead_id: str) -> list[tuple[str, str]]:
    """(kind, state) of a lead's timers."""
    with world.engine.connect() as connection:
        rows = connection.execute(
            select(Timer.kind, Timer.state).where(Timer.subject_id == lead_id).order_by(Timer.id)
        )
        return [(row.kind, row.state) for row in rows]


def turns_counted(world: World) -> dict[str, int]:
    """The rotation turns counted per agent in the ``sales`` pool."""
    with world.engine.connect() as connection:
        rows = connection.execute(
            select(RotationCount.agent_id, RotationCount.turns).where(RotationCount.pool == "sales")
        )
        return {row.agent_id: row.turns for row in rows}


def stored_lead(world: World, lead_id: str) -> StoredRecord:
    """The lead as a decision reads it."""
    with reading(world.engine) as connection:
        row = connection.execute(_SELECT_LEAD, {"lead_id": lead_id}).one()
    return StoredRecord(
        KINDS_BY_TYPE["lead"], row.id, row.version, row.data, row.created_at, row.updated_at
    )


def test_a_new_assignment_writes_its_timer_and_history(both: World) -> None:
    both.lead("L1")
    outcome = both.service().assign("L1")
    assert outcome.action == "rotation" and outcome.owner_id in {"a1", "a2"}
    assert outcome.first_response_due_at is not None
    assert outcome.first_response_due_at > SUNDAY_MORNING
    assert timers(both, "L1") == [("first_response", "pending")]
    [history] = both.history("L1")
    assert (history.action, history.to_agent, history.rule, history.pool, history.turn) == (
        "rotation",
        outcome.owner_id,
        "sales",
        "sales",
        1,
    )
    assert history.id == outcome.history_id and history.applied
    assert both.owner("lead", "L1") == outcome.owner_id


def test_a_lead_assigned_first_by_another_worker_gets_no_second_timer_or_history(
    both: World,
) -> None:
    both.lead("L1")
    late, first = both.service(), both.service()
    now = both.clock()
    stored = stored_lead(both, "L1")
    with reading(both.engine) as connection:
        prepared = late.prepare(connection, stored, now)
    choice = late.choose(prepared, now)
    assert isinstance(choice, Choice)
    winner = first.assign("L1")
    outcome = late._decide(stored, choice, now)
    assert (outcome.action, outcome.owner_id) == ("existing", winner.owner_id)
    assert timers(both, "L1") == [("first_response", "pending")]
    assert [row.id for row in both.history("L1")] == [winner.history_id]


def test_with_a_warning_the_turn_is_counted_on_its_own_and_a_stale_agent_gets_nothing(
    both: World,
) -> None:
    """A rule with a first-response warning takes the general path on both databases."""
    warning = "escalate_after_minutes = 30\nwarn_before_minutes = 5"
    service = both.service(RULES.replace("escalate_after_minutes = 30", warning))
    for number in range(3):
        both.lead(f"L{number}")
        service.assign(f"L{number}")
    histories = [both.history(f"L{number}")[0] for number in range(3)]
    assert [history.turn for history in histories] == [1, 2, 3]
    owners = [history.to_agent for history in histories]
    assert turns_counted(both) == {agent: owners.count(agent) for agent in ("a1", "a2")}
    assert sorted(set(owners)) == ["a1", "a2"]
    assert [kind for kind, _ in timers(both, "L0")] == ["first_response", "first_response_warning"]
    # The agent with fewer leads is the only next pick; deactivated while the service
    # still keeps the agents, the pick is refused in the transaction and made again.
    fewer = min(("a1", "a2"), key=owners.count)
    both.agent(fewer, active=False)
    both.lead("L3")
    outcome = service.assign("L3")
    assert outcome.owner_id == ({"a1", "a2"} - {fewer}).pop()
    assert both.history("L3")[0].turn == 4
    assert turns_counted(both)[outcome.owner_id] == owners.count(outcome.owner_id) + 1
    assert turns_counted(both)[fewer] == owners.count(fewer)
