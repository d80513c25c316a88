"""A small sales history with hand-computed KPIs, on SQLite and on PostgreSQL.

Mehr 1404 runs from 2025-09-23 to 2025-10-22; Tehran is UTC+03:30. The office works
08:00-17:00 Saturday to Wednesday and 08:00-13:00 on Thursday. Every record goes
through the store's write path, with the store's clock set to when it happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from core.kinds import KINDS_BY_TYPE
from core.store import write_record
from core.testing.services import POSTGRES, create_postgres_database, drop_postgres_database
from lead_scoring.assignment.rules import CalendarRules

TEHRAN = ZoneInfo("Asia/Tehran")
CALENDAR = CalendarRules(hours="08:00-17:00", thursday="08:00-13:00").build()


def tehran(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2025) -> datetime:
    """A Tehran wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=TEHRAN).astimezone(UTC)


def iso(at: datetime) -> str:
    """``at`` written with the Tehran offset, as a CRM would send it."""
    return at.astimezone(TEHRAN).isoformat()


def put(engine: Engine, type_: str, record_id: str, body: dict[str, Any], at: datetime) -> None:
    """Write one record through the store with its clock at ``at``."""
    kind = KINDS_BY_TYPE[type_]
    write_record(engine, kind, record_id, kind.schema.model_validate(body), subscribers=(), now=at)


#: The channel each lead came in on; L4, L5 and L9 name none.
LEAD_CHANNELS = {"L1": "whatsapp", "L2": "web", "L3": "whatsapp"}


def seed(engine: Engine) -> None:
    """Write the sales history the tests compute by hand (see each test's comments)."""
    early = tehran(9, 1)
    put(engine, "agent", "A1", {"name": "Ali", "team": "north"}, early)
    put(engine, "agent", "A2", {"name": "Sara", "team": "south"}, early)
    put(engine, "customer", "C1", {"type": "person", "name": "رضا"}, early)

    def lead(lid: str, owner: str, source: str, created: datetime, **dates: datetime) -> None:
        body: dict[str, Any] = {"contact_name": lid, "owner_id": owner, "source": source}
        body["channel"] = LEAD_CHANNELS.get(lid)
        body.update({name: iso(value) for name, value in dates.items()})
        put(engine, "lead", lid, body, created)

    lead("L1", "A1", "web", tehran(9, 24, 10), qualified_at=tehran(9, 25, 10),
         converted_at=tehran(10, 6, 10), mql_at=tehran(9, 24, 12))  # fmt: skip
    lead("L2", "A1", "web", tehran(9, 25, 16), qualified_at=tehran(9, 27, 9),
         mql_at=tehran(9, 26, 9))  # fmt: skip
    lead("L3", "A2", "expo", tehran(9, 28, 9), qualified_at=tehran(9, 21, 9))
    lead("L4", "A2", "expo", tehran(9, 22, 23, 50), qualified_at=tehran(9, 22, 23, 55))
    # Ordibehesht 1405, a period of its own: a source that a spreadsheet would evaluate.
    formula = '=HYPERLINK("http://evil.example","مشتری")'
    lead("L9", "A2", formula, tehran(5, 1, year=2026), qualified_at=tehran(5, 1, year=2026))
    lead("L5", "A2", "expo", tehran(9, 23, 0, 10), qualified_at=tehran(9, 23, 12),
         converted_at=tehran(10, 2, 10))  # fmt: skip

    def talk(iid: str, channel: str, direction: str, at: datetime, **who: str) -> None:
        body = {"channel": channel, "direction": direction, "occurred_at": iso(at), **who}
        put(engine, "interaction", iid, body, at)

    talk("I1", "call", "outbound", tehran(9, 24, 10, 30), lead_id="L1")
    talk("I2", "whatsapp", "outbound", tehran(9, 28, 10), lead_id="L1")
    talk("I3", "visit", "outbound", tehran(10, 5, 10), lead_id="L1")
    talk("I4", "note", "outbound", tehran(10, 5, 11), lead_id="L1")
    talk("I5", "email", "outbound", tehran(10, 10, 10), lead_id="L1")
    talk("I6", "whatsapp", "outbound", tehran(9, 27, 8, 20), lead_id="L2")
    talk("I7", "note", "outbound", tehran(9, 28, 9, 5), lead_id="L3")
    talk("I8", "email", "outbound", tehran(9, 23, 8, 45), lead_id="L5")
    talk("I9", "call", "outbound", tehran(9, 30, 10), lead_id="L5")
    talk("I10", "call", "outbound", tehran(9, 22, 23, 59), lead_id="L4")
    talk("M1", "whatsapp", "inbound", tehran(9, 24, 9), customer_id="C1")
    talk("M2", "whatsapp", "inbound", tehran(9, 24, 9, 5), customer_id="C1")
    talk("M3", "whatsapp", "outbound", tehran(9, 24, 9, 20), customer_id="C1")
    talk("M4", "whatsapp", "inbound", tehran(9, 25, 12, 50), customer_id="C1")
    talk("M5", "whatsapp", "outbound", tehran(9, 27, 8, 5), customer_id="C1")
    talk("M6", "email", "inbound", tehran(10, 1, 10), customer_id="C1")
    talk("M7", "note", "outbound", tehran(10, 1, 10, 10), customer_id="C1")

    def deal(oid: str, owner: str, line: str, opened: datetime, **fields: Any) -> None:
        body: dict[str, Any] = {
            "customer_id": "C1", "title": oid, "stage": fields.pop("stage", "proposal"),
            "owner_id": owner, "product_line": line, "opened_at": iso(opened),
        }  # fmt: skip
        for name, value in fields.items():
            body[name] = iso(value) if isinstance(value, datetime) else value
        put(engine, "opportunity", oid, body, opened)

    deal("O1", "A1", "pumps", tehran(9, 26), lead_id="L1", status="won", amount="1000000",
         closed_at=tehran(10, 6))  # fmt: skip
    deal("O2", "A2", "valves", tehran(9, 28), lead_id="L3", status="lost", amount="4000000",
         lost_reason="price", closed_at=tehran(10, 12))  # fmt: skip
    deal("O3", "A2", "pumps", tehran(10, 24), lead_id="L5", amount="9000000")
    deal("O4", "A2", "pumps", tehran(9, 13), status="won", amount="2000000",
         closed_at=tehran(10, 13))  # fmt: skip
    deal("O5", "A1", "valves", tehran(10, 12), status="lost", lost_reason="price",
         closed_at=tehran(10, 30))  # fmt: skip
    deal("O6", "A1", "valves", tehran(9, 24), status="lost", lost_reason="timing",
         closed_at=tehran(9, 30))  # fmt: skip
    deal("O7", "A1", "pumps", tehran(10, 7), amount="5000000", probability=50, stage="deal",
         expected_close_date="2025-11-20")  # fmt: skip

    def task(tid: str, owner: str, due: datetime, status: str, at: datetime, **more: Any) -> None:
        body = {"subject": tid, "owner_id": owner, "due_at": iso(due), "status": status}
        body.update({k: iso(v) for k, v in more.items()})
        put(engine, "task", tid, body, at)

    task("T1", "A1", tehran(9, 25, 17), "done", tehran(9, 25, 16), done_at=tehran(9, 25, 16))
    task("T2", "A1", tehran(9, 27, 12), "done", tehran(9, 28, 9), done_at=tehran(9, 27, 11))
    task("T3", "A2", tehran(9, 29, 12), "open", tehran(9, 24))
    task("T4", "A2", tehran(9, 30, 12), "cancelled", tehran(9, 24))
    task("T5", "A2", tehran(10, 1, 12), "done", tehran(10, 1, 11))
    task("T6", "A2", tehran(10, 25, 12), "open", tehran(9, 24))
    seed_service(engine)
    seed_revenue(engine)


def seed_service(engine: Engine) -> None:
    """Service cases and survey answers of Mehr 1404 (tests/kpis/test_service_kpis.py).

    Only outbound interactions on customers of their own, so the response-time figures
    of the sales history above do not change.
    """
    early = tehran(9, 1)
    for cid in ("C2", "C3", "C4", "C5"):
        put(engine, "customer", cid, {"type": "person", "name": cid}, early)

    def case(kid: str, owner: str, channel: str, resolved: datetime | None, **more: Any) -> None:
        body: dict[str, Any] = {
            "customer_id": "C2", "subject": kid, "owner_id": owner, "channel": channel,
            "opened_at": iso(tehran(9, 24, 9)), "status": "resolved" if resolved else "open",
        }  # fmt: skip
        if resolved is not None:
            body["resolved_at"] = iso(resolved)
        body.update({k: iso(v) if isinstance(v, datetime) else v for k, v in more.items()})
        put(engine, "service_case", kid, body, tehran(9, 24, 9))

    case("K1", "A1", "whatsapp", tehran(9, 24, 12))
    case("K2", "A1", "email", tehran(9, 25, 12))
    case("K3", "A2", "whatsapp", tehran(10, 1, 12), agent_interactions=1,
         reopened_at=tehran(9, 28, 9))  # fmt: skip
    case("K4", "A2", "call", tehran(10, 2, 12), agent_interactions=0)
    case("K5", "A1", "whatsapp", tehran(10, 3, 12), agent_interactions=1)
    case("K6", "A1", "whatsapp", None, reopened_at=tehran(10, 4, 9))
    case("K7", "A1", "whatsapp", tehran(10, 25, 12), agent_interactions=1)
    for iid, kid, channel, hour in [
        ("H1", "K1", "call", 10),
        ("H2", "K1", "note", 11),
        ("H3", "K2", "email", 10),
        ("H4", "K2", "call", 11),
    ]:
        body = {"customer_id": "C2", "channel": channel, "direction": "outbound",
                "occurred_at": iso(tehran(9, 24, hour)), "case_id": kid}  # fmt: skip
        put(engine, "interaction", iid, body, tehran(9, 24, hour))

    def answer(sid: str, scale: str, rating: int, agent: str, channel: str, at: datetime) -> None:
        body = {"scale": scale, "rating": rating, "answered_at": iso(at), "customer_id": "C2",
                "agent_id": agent, "channel": channel}  # fmt: skip
        put(engine, "survey_answer", sid, body, at)

    for n, (rating, agent, channel) in enumerate(
        [
            (5, "A1", "whatsapp"),
            (4, "A1", "email"),
            (3, "A2", "whatsapp"),
            (5, "A2", "whatsapp"),
            (5, "A2", "call"),
        ]
    ):
        answer(f"S{n}", "csat", rating, agent, channel, tehran(9, 25 + n))
    answer("S9", "csat", 1, "A1", "whatsapp", tehran(10, 30))
    for n, (rating, agent) in enumerate([(10, "A1"), (9, "A1"), (9, "A2"), (7, "A2"), (3, "A2")]):
        answer(f"P{n}", "nps", rating, agent, "whatsapp", tehran(10, 1 + n))


def seed_revenue(engine: Engine) -> None:
    """Subscriptions around Mehr 1404 (2025-09-23 to 2025-10-22; Azar from 2025-11-22)."""

    def subscription(uid: str, customer: str, line: str, amount: str, start: str,
                     end: str | None = None, billing: str = "monthly") -> None:  # fmt: skip
        body = {"customer_id": customer, "product_line": line, "amount": amount,
                "billing": billing, "start_date": start, "end_date": end}  # fmt: skip
        put(engine, "subscription", uid, body, tehran(6, 1))

    subscription("U1", "C2", "support", "10000000", "2025-06-01")
    subscription("U2", "C3", "support", "120000000", "2025-07-01", "2025-10-01", "annual")
    subscription("U3", "C3", "support", "8000000", "2025-11-25")
    subscription("U4", "C4", "hosting", "5000000", "2025-08-01", "2025-10-10")
    subscription("U5", "C4", "hosting", "7000000", "2025-10-10")
    subscription("U6", "C5", "hosting", "20000000", "2025-10-01")


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new empty database: a SQLite file in ``folder`` or a PostgreSQL one."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'kpis.db'}"
        return
    server = POSTGRES.require()
    name = f"crm_sync_test_kpis_{uuid.uuid4().hex[:12]}"
    url = create_postgres_database(server, name)
    try:
        yield url
    finally:
        drop_postgres_database(server, name)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated, seeded database shared by a module's tests, which only read it."""
    with database(request.param, tmp_path_factory.mktemp("kpis")) as url:
        built = create_db_engine(url)
        upgrade(built)
        seed(built)
        yield built
        built.dispose()
