"""Fixtures for assignment and SLA tests: a migrated database, a hand-moved clock, records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from core.kinds import KINDS_BY_TYPE
from core.store import timeline, write_record
from lead_scoring.assignment import AssignmentService, parse_assignment_rules
from lead_scoring.assignment.tables import AssignmentHistory
from tests.core.conftest import make_settings

__all__ = ["make_settings"]

TEHRAN = ZoneInfo("Asia/Tehran")

#: Rules most tests use: 15 working minutes to answer, escalation 30 minutes later,
#: Thursday 08:00-13:00, 14 Khordad 1404 (Wednesday 2025-06-04) a holiday.
RULES = """
[defaults]
first_response_minutes = 15
escalate_after_minutes = 30

[calendar]
hours = "08:00-17:00"
thursday = "08:00-13:00"
holidays = ["1404-03-14"]

[teams.sales]
lead = "boss"

[[rules]]
name = "english"
when.source = ["english-site"]
languages = ["en"]
territory = false

[[rules]]
name = "pumps"
when.campaign = ["pumps"]
product_line = "pumps"

[[rules]]
name = "sales"
team = "sales"
"""


def tehran(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Tehran wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=TEHRAN).astimezone(UTC)


#: Sunday 1 June 2025, 10:00 in Tehran: a working morning.
SUNDAY_MORNING = tehran(2025, 6, 1, 10)


@dataclass
class Clock:
    """A clock tests move by hand."""

    now: datetime = SUNDAY_MORNING

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class World:
    """A migrated database with helpers to write agents, leads, customers, interactions."""

    engine: Engine
    clock: Clock
    services: list[AssignmentService] = field(default_factory=list)

    def put(self, type_: str, record_id: str, **data: Any) -> None:
        kind = KINDS_BY_TYPE[type_]
        write_record(self.engine, kind, record_id, kind.schema.model_validate(data), subscribers=[])

    def agent(self, agent_id: str, **data: Any) -> None:
        data.setdefault("name", f"Agent {agent_id}")
        data.setdefault("team", "sales")
        self.put("agent", agent_id, **data)

    def lead(self, lead_id: str, **data: Any) -> None:
        data.setdefault("contact_name", f"Lead {lead_id}")
        self.put("lead", lead_id, **data)

    def service(self, rules: str = RULES, **kwargs: Any) -> AssignmentService:
        service = AssignmentService(
            self.engine, parse_assignment_rules(rules), clock=self.clock, **kwargs
        )
        self.services.append(service)
        return service

    def history(self, lead_id: str) -> list[Any]:
        table = AssignmentHistory.__table__
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(table).where(table.c.subject_id == lead_id).order_by(table.c.id)
                )
            )

    def events(self, type_: str, record_id: str) -> list[dict[str, Any]]:
        return [event.data for event in timeline(self.engine, type_, record_id, limit=500)]

    def owner(self, type_: str, record_id: str) -> str | None:
        from core.store import get_record

        stored = get_record(self.engine, KINDS_BY_TYPE[type_], record_id)
        assert stored is not None
        owner = stored.data.get("owner_id")
        return str(owner) if owner is not None else None


def migrated_engine(url: str) -> Engine:
    engine = create_db_engine(url)
    upgrade(engine)
    return engine


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A migrated database and a clock at Sunday 10:00 in Tehran.

    SQLite, unless a test asks for ``postgres`` (``parametrize("world", [...],
    indirect=True)``): the statements whose SQL differs between the two run on both.
    """
    if getattr(request, "param", "sqlite") == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'assign.db'}"
    engine = migrated_engine(url)
    yield World(engine, Clock())
    engine.dispose()


@pytest.fixture
def sales_team(world: World) -> Callable[[int], list[str]]:
    """Add ``n`` equal sales agents (a1, a2...); their ids."""

    def add(n: int) -> list[str]:
        ids = [f"a{i}" for i in range(1, n + 1)]
        for agent_id in ids:
            world.agent(agent_id)
        return ids

    return add
