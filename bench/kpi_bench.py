"""Sales KPIs on a large history: milliseconds per KPI, against DuckDB over the same rows.

    python bench/kpi_bench.py [--leads 100000] [--opportunities 50000]
                              [--interactions 1000000] [--tasks 100000] [--cases 50000]
                              [--surveys 100000] [--subscriptions 20000] [--runs 20]
                              [--database sqlite|postgres|both]

It bulk-loads a year (Jalali 1404) of leads, opportunities, interactions, tasks,
service cases (a tenth of the customers' interactions handle one), survey answers and
subscriptions of 40 agents in 4 teams into a migrated database (SQLite in a temporary
folder, and/or a fresh PostgreSQL database on BENCH_POSTGRES, ANALYZEd after loading);
the rows carry the typed columns the KPI queries read and a one-key document. Then,
for every KPI, it times ``--runs`` computations of Mehr 1404 for the whole
organisation and of the year 1404 by agent (where the KPI has agents), and prints p50
and p99 in milliseconds.

The reference: the same rows exported to CSV and loaded into an in-memory DuckDB, where
the same aggregations (the closed-opportunity figures, lead to opportunity, on-time
follow-up, the window over the timelines behind the response time, first contact
resolution, CSAT and the per-customer revenue behind churn) run as plain SQL. The
ratio ours / DuckDB is printed beside each; a ratio is only meaningful within one run
of this script, on one machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db.engine import create_db_engine, reading  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.records import (  # noqa: E402
    AgentRow,
    InteractionRow,
    LeadRow,
    OpportunityRow,
    ServiceCaseRow,
    SubscriptionRow,
    SurveyAnswerRow,
    TaskRow,
)
from core.first_responses import rebuild_first_responses  # noqa: E402
from core.testing.services import create_postgres_database, drop_postgres_database  # noqa: E402
from core.turns import rebuild_turns  # noqa: E402
from kpis import turns  # noqa: E402
from kpis.catalog import CATALOG, Context  # noqa: E402
from kpis.periods import parse_period  # noqa: E402
from kpis.queries import Bounds  # noqa: E402
from lead_scoring.assignment.rules import CalendarRules  # noqa: E402

PG_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/")
YEAR = parse_period("1404")
MONTH = parse_period("1404-07")
AGENTS = [f"A{n:02d}" for n in range(40)]
TEAMS = ["north", "south", "east", "west"]
SOURCES = ["web", "expo", "referral", "whatsapp", "phone", "campaign"]
LINES = ["pumps", "valves", "motors", "pipes", "service"]
CHANNELS = ["whatsapp", "email", "call", "sms", "visit", "note"]
REASONS = ["price", "timing", "competitor", "no budget", "no answer"]
BATCH = 5000
TEHRAN = ZoneInfo("Asia/Tehran")


YEAR_START, YEAR_SECONDS = YEAR.start, (YEAR.end - YEAR.start).total_seconds()


def _at(rng: random.Random) -> datetime:
    return YEAR_START + timedelta(seconds=rng.uniform(0, YEAR_SECONDS))


def _base(record_id: str, at: datetime) -> dict[str, Any]:
    return {
        "id": record_id,
        "version": 1,
        "digest": "0" * 64,
        "data": {"b": 1},
        "created_at": at,
        "updated_at": at,
    }


def generate(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """The rows of every table, from a fixed seed."""
    rng = random.Random(1404)
    agents = [
        {**_base(a, YEAR_START), "email": None, "active": True, "team": TEAMS[i % 4]}
        for i, a in enumerate(AGENTS)
    ]
    leads = []
    for n in range(args.leads):
        created = _at(rng)
        qualified = created + timedelta(days=rng.uniform(0, 20)) if rng.random() < 0.6 else None
        converted = (
            qualified + timedelta(days=rng.uniform(0, 30))
            if qualified and rng.random() < 0.3
            else None
        )
        leads.append(
            {
                **_base(f"L{n}", created),
                "status": "new",
                "owner_id": rng.choice(AGENTS),
                "email": None,
                "phone_e164": None,
                "search": "",
                "fit_score": None,
                "engagement_score": None,
                "score": None,
                "grade": None,
                "source": rng.choice(SOURCES),
                "qualified_at": qualified,
                "converted_at": converted,
                "mql_at": created + (qualified - created) / 2 if qualified else None,
            }
        )
    opportunities = []
    for n in range(args.opportunities):
        opened = _at(rng)
        status = rng.choices(["open", "won", "lost"], [0.4, 0.3, 0.3])[0]
        closed = opened + timedelta(days=rng.uniform(1, 90)) if status != "open" else None
        opportunities.append(
            {
                **_base(f"O{n}", opened),
                "customer_id": f"C{rng.randrange(args.leads)}",
                "stage": "proposal",
                "status": status,
                "owner_id": rng.choice(AGENTS),
                "lead_id": f"L{rng.randrange(args.leads)}" if rng.random() < 0.7 else None,
                "amount": float(rng.randrange(1, 5000) * 1_000_000),
                "probability": rng.randrange(0, 101),
                "expected_close_date": (opened + timedelta(days=60)).date(),
                "product_line": rng.choice(LINES),
                "lost_reason": rng.choice(REASONS) if status == "lost" else None,
                "opened_at": opened,
                "closed_at": closed,
            }
        )
    interactions = []
    for n in range(args.interactions):
        on_lead = rng.random() < 0.5
        party = rng.randrange(args.leads)
        interactions.append(
            {
                **_base(f"I{n}", _at(rng)),
                "customer_id": None if on_lead else f"C{party}",
                "lead_id": f"L{party}" if on_lead else None,
                "channel": rng.choice(CHANNELS),
                "direction": rng.choice(["inbound", "outbound"]),
                "occurred_at": _at(rng),
                "external_message_id": None,
                "case_id": (
                    f"K{rng.randrange(args.cases)}"
                    if args.cases and not on_lead and rng.random() < 0.1
                    else None
                ),
            }
        )
    tasks = []
    for n in range(args.tasks):
        due = _at(rng)
        status = rng.choices(["open", "done", "cancelled"], [0.3, 0.6, 0.1])[0]
        done = due + timedelta(hours=rng.uniform(-48, 24)) if status == "done" else None
        tasks.append(
            {
                **_base(f"T{n}", due),
                "owner_id": rng.choice(AGENTS),
                "status": status,
                "due_at": due,
                "done_at": done,
            }
        )
    return {
        "agents": agents,
        "leads": leads,
        "opportunities": opportunities,
        "interactions": interactions,
        "tasks": tasks,
        **generate_service(args, rng),
    }


def generate_service(args: argparse.Namespace, rng: random.Random) -> dict[str, list[Any]]:
    """The service cases, survey answers and subscriptions, from the same generator."""
    cases = []
    for n in range(args.cases):
        opened = _at(rng)
        resolved = opened + timedelta(hours=rng.uniform(1, 200)) if rng.random() < 0.8 else None
        cases.append(
            {
                **_base(f"K{n}", opened),
                "customer_id": f"C{rng.randrange(args.leads)}",
                "owner_id": rng.choice(AGENTS),
                "channel": rng.choice(CHANNELS[:4]),
                "product_line": rng.choice(LINES),
                "status": "resolved" if resolved else "open",
                "opened_at": opened,
                "resolved_at": resolved,
                "reopened_at": opened + timedelta(hours=1) if rng.random() < 0.1 else None,
                "agent_interactions": rng.randrange(0, 4) if rng.random() < 0.5 else None,
            }
        )
    surveys = []
    for n in range(args.surveys):
        scale = rng.choice(["csat", "nps"])
        answered = _at(rng)
        surveys.append(
            {
                **_base(f"S{n}", answered),
                "scale": scale,
                "rating": rng.randint(1, 5) if scale == "csat" else rng.randint(0, 10),
                "answered_at": answered,
                "interaction_id": None,
                "case_id": f"K{rng.randrange(max(args.cases, 1))}",
                "customer_id": None,
                "agent_id": rng.choice(AGENTS),
                "channel": rng.choice(CHANNELS[:4]),
            }
        )
    subscriptions = []
    first = YEAR.start.date() - timedelta(days=365)
    for n in range(args.subscriptions):
        start = first + timedelta(days=rng.randrange(700))
        end = start + timedelta(days=rng.randrange(30, 400)) if rng.random() < 0.4 else None
        billing = rng.choice(["monthly", "annual"])
        amount = float(rng.randrange(1, 100) * 1_000_000)
        subscriptions.append(
            {
                **_base(f"U{n}", YEAR_START),
                "customer_id": f"C{rng.randrange(max(args.subscriptions // 2, 1))}",
                "product_line": rng.choice(LINES),
                "owner_id": rng.choice(AGENTS),
                "billing": billing,
                "monthly_amount": amount / 12 if billing == "annual" else amount,
                "start_date": start,
                "end_date": end,
            }
        )
    return {"service_cases": cases, "survey_answers": surveys, "subscriptions": subscriptions}


TABLES = {
    "agents": AgentRow,
    "leads": LeadRow,
    "opportunities": OpportunityRow,
    "interactions": InteractionRow,
    "tasks": TaskRow,
    "service_cases": ServiceCaseRow,
    "survey_answers": SurveyAnswerRow,
    "subscriptions": SubscriptionRow,
}


def load(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> float:
    """Insert every row in batches; the seconds it took."""
    started = time.perf_counter()
    for name, table in TABLES.items():
        for offset in range(0, len(rows[name]), BATCH):
            with engine.begin() as connection:
                connection.execute(insert(table), rows[name][offset : offset + BATCH])
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return time.perf_counter() - started


def build_turns(engine: Engine) -> float:
    """Fill the stored customer turns and first responses the bulk load bypassed; seconds."""
    started = time.perf_counter()
    with engine.begin() as connection:
        rebuild_turns(connection)
        rebuild_first_responses(connection)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return time.perf_counter() - started


def walk_against_table(engine: Engine, runs: int) -> None:
    """The month's customer turns walked from the interactions against read from the table."""
    month = Bounds(MONTH.start, MONTH.end)
    with reading(engine) as connection:
        w50, w99 = timed(lambda: turns.walked_turns(connection, month, None), runs)
        t50, t99 = timed(lambda: turns.customer_turns(connection, month, None), runs)
    print(
        f"customer turns of the month: walked {w50:.1f} / {w99:.1f} ms, stored "
        f"{t50:.1f} / {t99:.1f} ms (walked / stored {w50 / t50:.1f})"
    )


def _iso(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)


SERVICE_TABLES = ("service_cases", "survey_answers", "subscriptions")


def duckdb_reference(rows: dict[str, list[dict[str, Any]]], folder: Path) -> Any:
    """An in-memory DuckDB holding the same rows (the typed columns), loaded from CSV."""
    import duckdb

    connection = duckdb.connect()
    for name in ("leads", "opportunities", "interactions", "tasks", *SERVICE_TABLES):
        if not rows[name]:
            continue
        columns = [c for c in rows[name][0] if c not in ("data", "digest")]
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows[name]:
                writer.writerow([_iso(row[c]) for c in columns])
        connection.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header=true, "
            "nullstr='', timestampformat='%Y-%m-%d %H:%M:%S.%f')"
        )
    return connection


#: The DuckDB statements, by the KPI whose database work they repeat; $1/$2 are the bounds.
DUCKDB_SQL = {
    "opportunity_to_order": (
        "SELECT sum(CASE WHEN status = 'won' THEN 1 ELSE 0 END), count(*),"
        " sum(CASE WHEN status = 'won' THEN amount ELSE 0 END), sum(amount),"
        " avg(CASE WHEN status = 'won' THEN epoch(coalesce(closed_at, updated_at)"
        " - coalesce(opened_at, created_at)) / 86400 END)"
        " FROM opportunities WHERE status IN ('won', 'lost')"
        " AND coalesce(closed_at, updated_at) >= $1 AND coalesce(closed_at, updated_at) < $2"
    ),
    "lead_to_opportunity": (
        "SELECT (SELECT count(*) FROM opportunities WHERE lead_id IS NOT NULL"
        " AND coalesce(opened_at, created_at) >= $1 AND coalesce(opened_at, created_at) < $2),"
        " (SELECT count(*) FROM leads WHERE qualified_at >= $1 AND qualified_at < $2)"
    ),
    "on_time_follow_up": (
        "SELECT sum(CASE WHEN status = 'done' AND coalesce(done_at, updated_at) <= due_at"
        " THEN 1 ELSE 0 END), count(*) FROM tasks WHERE status <> 'cancelled'"
        " AND due_at >= $1 AND due_at < $2"
    ),
    "average_response_time": (
        "SELECT count(*), count(reply_at) FROM (SELECT direction, occurred_at,"
        " lag(direction) OVER w AS before,"
        " min(CASE WHEN direction = 'outbound' THEN occurred_at END) OVER (w ROWS BETWEEN"
        " 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS reply_at FROM interactions"
        " WHERE channel <> 'note' AND occurred_at >= $1 - INTERVAL 31 DAY"
        " WINDOW w AS (PARTITION BY coalesce('c:' || customer_id, 'l:' || lead_id)"
        " ORDER BY occurred_at, id)) WHERE direction = 'inbound'"
        " AND (before IS NULL OR before <> 'inbound') AND occurred_at >= $1 AND occurred_at < $2"
    ),
    "first_contact_resolution": (
        "SELECT sum(CASE WHEN touches = 1 AND reopened_at IS NULL THEN 1 ELSE 0 END),"
        " sum(CASE WHEN touches >= 1 THEN 1 ELSE 0 END) FROM (SELECT c.reopened_at,"
        " coalesce(c.agent_interactions, (SELECT count(*) FROM interactions i"
        " WHERE i.case_id = c.id AND i.direction = 'outbound' AND i.channel <> 'note'))"
        " AS touches FROM service_cases c WHERE c.status = 'resolved'"
        " AND c.resolved_at >= $1 AND c.resolved_at < $2)"
    ),
    "csat": (
        "SELECT count(*), avg(rating), sum(CASE WHEN rating >= 4 THEN 1 ELSE 0 END)"
        " FROM survey_answers WHERE scale = 'csat' AND answered_at >= $1 AND answered_at < $2"
    ),
    "customer_churn": (
        "SELECT sum(was), sum(opening), sum(is_), sum(closing),"
        " sum(CASE WHEN was = 1 AND is_ = 0 THEN 1 ELSE 0 END) FROM (SELECT customer_id,"
        " max(CASE WHEN s AND (e IS NULL OR e >= $1) THEN 1 ELSE 0 END) AS was,"
        " max(CASE WHEN start_date < $2 AND (e IS NULL OR e >= $2) THEN 1 ELSE 0 END) AS is_,"
        " sum(CASE WHEN s AND (e IS NULL OR e >= $1) THEN monthly_amount ELSE 0 END) AS opening,"
        " sum(CASE WHEN start_date < $2 AND (e IS NULL OR e >= $2) THEN monthly_amount"
        " ELSE 0 END) AS closing FROM (SELECT *, start_date < $1 AS s, end_date AS e"
        " FROM subscriptions) GROUP BY customer_id)"
    ),
}
#: The statements whose bounds are days (the period's first day and the day after its last).
DUCKDB_DAYS = {"customer_churn"}


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """p50 and p99 of ``runs`` calls, in milliseconds (one warm-up call first)."""
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def bench(engine: Engine, label: str, reference: Any, runs: int) -> None:
    """Time every KPI on ``engine`` and print the table."""
    calendar = CalendarRules(hours="08:00-17:00", thursday="08:00-13:00").build()
    month, year = Bounds(MONTH.start, MONTH.end), Bounds(YEAR.start, YEAR.end)
    print(f"\n{label}: p50 / p99 ms; DuckDB p50 ms; ratio ours / DuckDB (p50)")
    print(f"{'KPI':28} {'month':>17} {'year by agent':>17} {'DuckDB':>8} {'ratio':>7}")
    for kpi in CATALOG:
        with reading(engine) as connection:

            def month_figure(k: Any = kpi, c: Any = connection) -> object:
                return k.figures(c, month, None, Context(calendar))

            # A KPI without agents (the average response time) is timed by its first
            # dimension instead, marked with that dimension's initial.
            by = "agent" if "agent" in kpi.dimensions else next(iter(kpi.dimensions), None)

            def year_by_agent(k: Any = kpi, c: Any = connection, d: Any = by) -> object:
                return k.figures(c, year, d, Context(calendar))

            m50, m99 = timed(month_figure, runs)
            by_agent = "-"
            if by is not None:
                y50, y99 = timed(year_by_agent, max(3, runs // 4))
                mark = "" if by == "agent" else f" ({by[0]})"
                by_agent = f"{y50:7.1f} / {y99:7.1f}{mark}"
        duck, ratio = "-", "-"
        if kpi.name in DUCKDB_SQL:
            statement = DUCKDB_SQL[kpi.name]
            bounds: list[datetime | date] = [
                MONTH.start.replace(tzinfo=None),
                MONTH.end.replace(tzinfo=None),
            ]
            if kpi.name in DUCKDB_DAYS:
                bounds = [day.astimezone(TEHRAN).date() for day in (MONTH.start, MONTH.end)]

            def duck_figure(s: str = statement, b: list[datetime | date] = bounds) -> object:
                return reference.execute(s, b).fetchall()

            d50, _ = timed(duck_figure, runs)
            duck, ratio = f"{d50:8.1f}", f"{m50 / d50:7.1f}"
        print(f"{kpi.name:28} {m50:7.1f} / {m99:7.1f} {by_agent:>17} {duck:>8} {ratio:>7}")


def databases(choice: str, folder: Path) -> Iterator[tuple[str, str]]:
    """(label, URL) of each database to measure; a PostgreSQL one is dropped afterwards."""
    if choice in ("sqlite", "both"):
        yield "SQLite", f"sqlite:///{folder / 'kpis.db'}"
    if choice in ("postgres", "both"):
        name = f"crm_sync_bench_kpis_{uuid.uuid4().hex[:8]}"
        url = create_postgres_database(PG_SERVER, name)
        try:
            yield "PostgreSQL", url
        finally:
            drop_postgres_database(PG_SERVER, name)


def main() -> None:
    """Parse the arguments, load the rows, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--opportunities", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--surveys", type=int, default=100_000)
    parser.add_argument("--subscriptions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = generate(args)
    print(
        "rows: "
        + json.dumps({name: len(items) for name, items in rows.items()})
        + f" generated in {time.perf_counter() - started:.1f} s"
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        reference = duckdb_reference(rows, folder)
        for label, url in databases(args.database, folder):
            engine = create_db_engine(url)
            try:
                upgrade(engine)
                print(f"{label}: loaded in {load(engine, rows):.1f} s")
                built = build_turns(engine)
                print(f"{label}: customer turns and first responses built in {built:.1f} s")
                bench(engine, label, reference, args.runs)
                walk_against_table(engine, args.runs)
            finally:
                engine.dispose()


if __name__ == "__main__":
    main()
