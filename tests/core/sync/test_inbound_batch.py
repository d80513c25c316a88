"""One webhook call's events are stored by one INSERT, deduplicated by the inbox's key.

On SQLite and PostgreSQL: a call of the most events a call may carry, with repeats of
events stored before and repeats inside the call itself, stores each event id once,
in the call's order, with one statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from core import InboundEvent
from core.api.webhooks import MAX_EVENTS
from core.db.engine import create_db_engine
from core.db.inbound_tables import InboxEvent
from core.db.migrate import upgrade
from core.sync.inbound import RefusedEvent, store_events


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'inbox.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    made = create_db_engine(url)
    upgrade(made)
    yield made
    made.dispose()


def statements(engine: Engine) -> list[str]:
    """The SQL statements run on ``engine`` from now on (a list that fills up)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_a_full_call_is_one_insert_and_each_event_id_is_stored_once(engine: Engine) -> None:
    before = store_events(engine, "erp", [InboundEvent("E-5", "message", {"n": 5})])
    assert len(before.ids) == 1
    events = [InboundEvent(f"E-{n}", "message", {"n": n, "text": "سلام"}) for n in range(990)]
    events += [InboundEvent(f"E-{n}", "message", {"n": n}) for n in range(10)]  # repeats
    assert len(events) == MAX_EVENTS
    seen = statements(engine)
    stored = store_events(engine, "erp", events)
    assert seen.count("INSERT") == 1
    # E-5 was stored before; E-0 to E-9 come twice in the call.
    assert (len(stored.ids), stored.duplicates) == (989, 11)
    with engine.connect() as connection:
        rows = connection.execute(
            select(InboxEvent.id, InboxEvent.event_id, InboxEvent.payload).order_by(InboxEvent.id)
        ).all()
        assert connection.execute(select(func.count()).select_from(InboxEvent)).scalar() == 990
    assert [row.id for row in rows[1:]] == stored.ids
    # The first copy of an event is the one kept, and the rows follow the call's order.
    assert [row.event_id for row in rows[1:]] == [f"E-{n}" for n in range(990) if n != 5]
    assert rows[1].payload == {"n": 0, "text": "سلام"}
    # The same call again stores nothing.
    again = store_events(engine, "erp", events)
    assert (again.ids, again.duplicates) == ([], MAX_EVENTS)


def test_a_call_with_one_bad_event_stores_none_of_them(engine: Engine) -> None:
    events = [InboundEvent("E-1", "message", {}), InboundEvent("x" * 300, "message", {})]
    with pytest.raises(RefusedEvent, match="event 1: event_id"):
        store_events(engine, "erp", events)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(InboxEvent)).scalar() == 0
