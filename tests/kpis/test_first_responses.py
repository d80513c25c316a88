"""The stored first responses follow every lead and interaction write, on SQLite and PostgreSQL.

They must equal a full recomputation from the leads and interactions
(core.first_responses.first_response_select) after any mix of writes: a new lead, an
answer before its lead, a note, an inbound message, an edited or moved interaction,
a plugin's write-back, assignment and reassignment, and two writes at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.db.engine import create_db_engine
from core.db.migrate import downgrade, upgrade
from core.first_responses import first_response_select, first_responses
from core.kinds import KINDS_BY_TYPE
from core.store import RecordUpdate, get_record, update_records_in
from kpis.catalog import KPIS, Context, Figure
from kpis.periods import parse_period
from kpis.queries import Bounds, Dimension
from tests.kpis.conftest import CALENDAR, database, iso, put, seed, tehran

MEHR = parse_period("1404-07")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database with the seeded history (each test writes its own)."""
    with database(request.param, tmp_path) as url:
        built = create_db_engine(url)
        upgrade(built)
        seed(built)
        yield built
        built.dispose()


def stored(engine: Engine) -> dict[str, tuple[datetime, datetime | None]]:
    """The table: lead -> (clock start, first answer)."""
    c = first_responses.c
    with engine.connect() as connection:
        rows = connection.execute(select(c.lead_id, c.started_at, c.answered_at))
        return {lead: (started, answered) for lead, started, answered in rows}


def recomputed(engine: Engine) -> dict[str, tuple[datetime, datetime | None]]:
    """The same pairs computed from every lead and interaction."""
    with engine.connect() as connection:
        rows = connection.execute(first_response_select([]))
        return {lead: (started, answered) for lead, started, answered in rows}


def talk(engine: Engine, iid: str, direction: str, at: datetime, **who: Any) -> None:
    channel = who.pop("channel", "whatsapp")
    body = {"channel": channel, "direction": direction, "occurred_at": iso(at), **who}
    put(engine, "interaction", iid, body, at)


def lead(engine: Engine, lid: str, owner: str | None, at: datetime) -> None:
    body = {"contact_name": lid, "owner_id": owner, "source": "web"}
    put(engine, "lead", lid, body, at)


def frt(engine: Engine, by: Dimension | None = None) -> dict[Any, Figure]:
    with engine.connect() as connection:
        bounds = Bounds(MEHR.start, MEHR.end)
        return KPIS["first_response_time"].figures(connection, bounds, by, Context(CALENDAR))


def test_the_seeded_first_responses(engine: Engine) -> None:
    table = stored(engine)
    assert table == recomputed(engine)
    assert table["L1"] == (tehran(9, 24, 10), tehran(9, 24, 10, 30))
    assert table["L3"] == (tehran(9, 28, 9), None)  # only a note
    assert table["L4"] == (tehran(9, 22, 23, 50), tehran(9, 22, 23, 59))


def test_a_mix_of_writes_keeps_the_table(engine: Engine) -> None:
    # An answer to a lead the CRM has not sent yet, then the lead itself.
    talk(engine, "X1", "outbound", tehran(10, 4, 9, 30), lead_id="L20")
    assert "L20" not in stored(engine)
    lead(engine, "L20", None, tehran(10, 4, 9))
    assert stored(engine)["L20"] == (tehran(10, 4, 9), tehran(10, 4, 9, 30))
    # A new lead: inbound messages and notes do not answer it; an outbound call does.
    lead(engine, "L21", "A1", tehran(10, 5, 9))
    talk(engine, "X2", "inbound", tehran(10, 5, 9, 10), lead_id="L21")
    talk(engine, "X3", "outbound", tehran(10, 5, 9, 20), lead_id="L21", channel="note")
    assert stored(engine)["L21"] == (tehran(10, 5, 9), None)
    talk(engine, "X4", "outbound", tehran(10, 5, 11), lead_id="L21", channel="call")
    assert stored(engine)["L21"] == (tehran(10, 5, 9), tehran(10, 5, 11))
    # An earlier answer arrives late; then it is edited to later than the call.
    talk(engine, "X5", "outbound", tehran(10, 5, 10), lead_id="L21")
    assert stored(engine)["L21"][1] == tehran(10, 5, 10)
    talk(engine, "X5", "outbound", tehran(10, 5, 12), lead_id="L21")
    assert stored(engine)["L21"][1] == tehran(10, 5, 11)
    # The call was logged on the wrong lead: moved to L20, it leaves L21 with X5 only,
    # and an interaction turned inbound no longer answers anyone.
    talk(engine, "X4", "outbound", tehran(10, 5, 11), lead_id="L20", channel="call")
    assert stored(engine)["L21"][1] == tehran(10, 5, 12)
    talk(engine, "X5", "inbound", tehran(10, 5, 12), lead_id="L21")
    assert stored(engine)["L21"][1] is None
    # Moved to a customer's timeline: L1 keeps its other answers.
    talk(engine, "I1", "outbound", tehran(9, 24, 10, 30), customer_id="C1")
    assert stored(engine)["L1"][1] == tehran(9, 28, 10)
    # Assignment and reassignment change the owner, not the clock.
    lead(engine, "L21", "A2", tehran(10, 6))
    lead(engine, "L20", "A2", tehran(10, 6))
    assert stored(engine)["L20"] == (tehran(10, 4, 9), tehran(10, 4, 9, 30))
    assert stored(engine) == recomputed(engine)
    # L20: 30 working minutes, for its current owner A2; L21 unanswered.
    assert frt(engine, "agent")["A2"].details["unanswered"] == 2


def test_a_write_back_by_a_plugin_keeps_the_table(engine: Engine) -> None:
    kind = KINDS_BY_TYPE["interaction"]
    answer = get_record(engine, kind, "I8")  # L5's first answer
    assert answer is not None
    moved = kind.schema.model_validate({**answer.data, "lead_id": "L3"})
    with engine.begin() as connection:
        versions = update_records_in(
            connection,
            kind,
            [RecordUpdate("I8", moved, answer.version, "wa-I8")],
            subscribers=("whatsapp",),
            origin="whatsapp",
            now=tehran(10, 2),
        )
    assert versions == {"I8": answer.version + 1}
    table = stored(engine)
    assert table == recomputed(engine)
    assert table["L5"][1] == tehran(9, 30, 10)
    assert table["L3"][1] == tehran(9, 23, 8, 45)


def test_the_migration_fills_the_table_from_stored_records(engine: Engine) -> None:
    before = stored(engine)
    downgrade(engine, "kv001_customer_turns")
    upgrade(engine)
    assert stored(engine) == before


@pytest.mark.postgres
def test_two_transactions_writing_one_lead_at_once(tmp_path: Path) -> None:
    # The lead and its first answer written at the same moment: whichever commits
    # last must see the other, so the row ends answered.
    with database("postgres", tmp_path) as url:
        built = create_db_engine(url)
        try:
            upgrade(built)
            failures: list[BaseException] = []

            def write(start: threading.Barrier, lid: str, answer: bool) -> None:
                try:
                    start.wait()
                    if answer:
                        talk(built, f"Y{lid}", "outbound", tehran(10, 5, 10), lead_id=lid)
                    else:
                        lead(built, lid, "A1", tehran(10, 5, 9))
                except BaseException as error:  # reported by the test below
                    failures.append(error)

            for attempt in range(5):
                start, lid = threading.Barrier(2), f"L{attempt}"
                threads = [
                    threading.Thread(target=write, args=(start, lid, answer))
                    for answer in (False, True)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                assert failures == []
                assert stored(built)[lid] == (tehran(10, 5, 9), tehran(10, 5, 10))
            assert stored(built) == recomputed(built)
        finally:
            built.dispose()
