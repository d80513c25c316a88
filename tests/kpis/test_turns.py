"""The stored customer turns follow every interaction write, on SQLite and PostgreSQL.

They must equal what walking the timelines gives (kpis.turns.walked_turns), also
when messages arrive out of order, move to another customer, are written back by a
plugin, or are written at the same time by two transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core import turns as core_turns
from core.db.engine import create_db_engine
from core.db.migrate import downgrade, upgrade
from core.kinds import KINDS_BY_TYPE
from core.store import RecordUpdate, get_record, update_records_in
from kpis import turns
from kpis.periods import parse_period
from kpis.queries import Bounds
from tests.kpis.conftest import database, iso, put, seed, tehran

MEHR = parse_period("1404-07")
WHOLE = Bounds(tehran(1, 1), tehran(12, 31))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database with the seeded history (each test writes its own)."""
    with database(request.param, tmp_path) as url:
        built = create_db_engine(url)
        upgrade(built)
        seed(built)
        yield built
        built.dispose()


def stored(engine: Engine, bounds: Bounds = WHOLE, by: Any = None) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return sorted(tuple(r) for r in turns.customer_turns(connection, bounds, by))


def walked(engine: Engine, bounds: Bounds = WHOLE, by: Any = None) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return sorted(tuple(r) for r in turns.walked_turns(connection, bounds, by))


def talk(engine: Engine, iid: str, direction: str, at: datetime, **who: str) -> None:
    body = {"channel": "whatsapp", "direction": direction, "occurred_at": iso(at), **who}
    put(engine, "interaction", iid, body, at)


def test_the_stored_turns_equal_the_walked_ones(engine: Engine) -> None:
    # C1: M1 (M2 joins its turn) answered by M3; M4 answered by M5; M6 unanswered (M7 is a note).
    assert stored(engine) == walked(engine)
    assert [(started, replied) for _, started, replied in stored(engine)] == [
        (tehran(9, 24, 9), tehran(9, 24, 9, 20)),
        (tehran(9, 25, 12, 50), tehran(9, 27, 8, 5)),
        (tehran(10, 1, 10), None),
    ]
    bounds = Bounds(MEHR.start, MEHR.end)
    assert stored(engine, bounds, "channel") == walked(engine, bounds, "channel")


def test_a_reply_arriving_before_its_message_and_a_moved_message(engine: Engine) -> None:
    talk(engine, "R1", "outbound", tehran(10, 3, 11), customer_id="C1")  # the reply first
    assert stored(engine)[-1] == (None, tehran(10, 1, 10), tehran(10, 3, 11))
    talk(engine, "N1", "inbound", tehran(10, 3, 10), lead_id="L2")
    talk(engine, "N2", "inbound", tehran(10, 3, 10, 30), lead_id="L2")
    talk(engine, "N3", "outbound", tehran(10, 3, 12), lead_id="L2")
    assert (None, tehran(10, 3, 10), tehran(10, 3, 12)) in stored(engine)
    # N1 moves to C1's timeline: L2's turn now starts at N2; on C1's, N1 follows the
    # unanswered M6 and joins its turn, which R1 answers.
    talk(engine, "N1", "inbound", tehran(10, 3, 10), customer_id="C1")
    found = stored(engine)
    assert (None, tehran(10, 3, 10, 30), tehran(10, 3, 12)) in found
    assert [t for t in found if t[1] == tehran(10, 3, 10)] == []
    assert (None, tehran(10, 1, 10), tehran(10, 3, 11)) in found
    assert found == walked(engine)


def test_a_write_back_by_a_plugin_keeps_the_turns(engine: Engine) -> None:
    kind = KINDS_BY_TYPE["interaction"]
    message = get_record(engine, kind, "M6")
    assert message is not None
    moved = kind.schema.model_validate({**message.data, "customer_id": None, "lead_id": "L3"})
    with engine.begin() as connection:
        versions = update_records_in(
            connection,
            kind,
            [RecordUpdate("M6", moved, message.version, "wa-M6")],
            subscribers=("whatsapp",),
            origin="whatsapp",
            now=tehran(10, 2),
        )
    assert versions == {"M6": message.version + 1}
    assert stored(engine) == walked(engine)
    with engine.connect() as connection:
        row = connection.execute(
            select(core_turns.turns.c.customer_id, core_turns.turns.c.lead_id).where(
                core_turns.turns.c.interaction_id == "M6"
            )
        ).one()
    assert tuple(row) == (None, "L3")


def test_the_migration_fills_the_table_from_stored_interactions(engine: Engine) -> None:
    before = stored(engine)
    downgrade(engine, "k001_kpi_columns")
    upgrade(engine)
    assert stored(engine) == before


@pytest.mark.postgres
def test_two_transactions_writing_one_timeline_at_once(tmp_path: Path) -> None:
    with database("postgres", tmp_path) as url:
        built = create_db_engine(url)
        try:
            upgrade(built)
            put(built, "customer", "C9", {"type": "person", "name": "C9"}, tehran(9, 1))
            start = threading.Barrier(2)
            failures: list[BaseException] = []

            def write(iid: str, direction: str, minute: int) -> None:
                try:
                    start.wait()
                    talk(built, iid, direction, tehran(10, 5, 10, minute), customer_id="C9")
                except BaseException as error:  # reported by the test below
                    failures.append(error)

            for attempt in range(5):
                threads = [
                    threading.Thread(target=write, args=(f"Q{attempt}", "inbound", 2 * attempt)),
                    threading.Thread(
                        target=write, args=(f"A{attempt}", "outbound", 2 * attempt + 1)
                    ),
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                assert failures == []
                assert stored(built) == walked(built)
            assert all(replied is not None for _, _, replied in stored(built))
        finally:
            built.dispose()
