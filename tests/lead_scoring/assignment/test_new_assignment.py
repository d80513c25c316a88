"""A new lead's assignment, first-response timer and history are written together or not at all.

On PostgreSQL the three are one statement, on SQLite three; both must write the same
rows, and neither may write a timer or a history row for a lead another worker
assigned first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.engine import reading
from core.kinds import KINDS_BY_TYPE
from core.store import StoredRecord
from lead_scoring.assignment.service import Choice
from lead_scoring.assignment.statements import _SELECT_LEAD
from lead_scoring.assignment.tables import Timer
from tests.lead_scoring.assignment.conftest import (
    SUNDAY_MORNING,
    Clock,
    World,
    migrated_engine,
)


@pytest.fixture(params=["sqlite", "postgres"])
def both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A migrated database on SQLite and on PostgreSQL, with two sales agents."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'assign.db'}"
    engine = migrated_engine(url)
    world = World(engine, Clock())
    world.agent("a1")
    world.agent("a2")
    yield world
    engine.dispose()


def timers(world: World, lead_id: str) -> list[tuple[str, str]]:
    """(kind, state) of a lead's timers."""
    with world.engine.connect() as connection:
        rows = connection.execute(
            select(Timer.kind, Timer.state).where(Timer.subject_id == lead_id).order_by(Timer.id)
        )
        return [(row.kind, row.state) for row in rows]


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
