"""WhatsApp throughput: inbound webhook calls and outbound sends, each against a baseline.

    python -m bench.whatsapp_bench [--calls 2000] [--messages 500] [--postgres SERVER_URL]

SQLite in a temporary folder by default; with ``--postgres`` (a server URL such as
``postgresql+psycopg://postgres@127.0.0.1:5432/``) each phase gets a database of its own,
created for the run and dropped after it.

Inbound: ``--calls`` signed webhook calls (one text message each, every tenth one a
repeat Meta would send) go to ``POST /v1/webhooks/whatsapp`` (signature checked on the
raw bytes, events stored deduplicated, 200), and the same calls to a bare FastAPI route
that only checks the HMAC and inserts the row with a unique wamid; both in-process
(Starlette's test client), on the same database kind, in the same run, each doing its
blocking work in the server's thread pool on an engine made the same way. The two
sides take turns in rounds of ``ROUND`` calls, so a change of the machine's load
falls on both. A phase given 0 calls or messages is skipped.

Outbound: ``--messages`` outbound WhatsApp interactions are sent by the sync engine to
the Cloud API double on loopback, against the same number of bare ``httpx`` posts to
the double from one client.

It prints calls or messages per second for both sides and their ratio. Figures only:
no assertion on time.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from sqlalchemy import Column, MetaData, String, Table, Text, create_engine, insert, text
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.testclient import TestClient

import lead_scoring.plugin as lead_scoring_plugin
import plugins.whatsapp.plugin as whatsapp_plugin
from core.api.app import create_app
from core.db.engine import create_db_engine
from core.kinds import kind_by_type
from core.settings import Settings
from core.store import write_record
from core.testing import whatsapp as meta
from core.testing.fixtures import migrated_runtime
from core.testing.whatsapp_api import CloudApi

SECRET = "bench-app-secret-0123456789"
TOKEN = "EAAG-bench-token"
#: Calls one side makes before the other takes its turn.
ROUND = 50


def calls(count: int) -> list[tuple[bytes, dict[str, str]]]:
    """Signed calls, one message each; every tenth repeats the one before."""
    made: list[tuple[bytes, dict[str, str]]] = []
    for number in range(count):
        if number % 10 == 9:
            made.append(made[-1])
            continue
        message = meta.text("98912" + f"{number % 10_000_000:07d}", "سلام، قیمت پمپ چند است؟")
        made.append(meta.signed(meta.envelope(meta.messages_value([message])), SECRET))
    return made


def bare_app(database_url: str) -> FastAPI:
    """The baseline: check the HMAC, insert the raw body under its wamid, answer 200.

    It reads the body on the event loop and does the blocking HMAC and insert in the
    server's thread pool, as the crm-sync route does (a blocking insert on the event loop
    would stall every other request of a real server), on an engine made the same way
    (core.db.engine.create_db_engine).
    """
    engine = create_db_engine(database_url)
    table = Table(
        f"bare_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("wamid", String(256), primary_key=True),
        Column("body", Text, nullable=False),
    )
    table.create(engine)
    app = FastAPI()

    def store(header: str, body: bytes) -> int:
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(header, f"sha256={digest}"):
            return 401
        wamid = body.split(b'"id": "', 2)[2].split(b'"', 1)[0].decode()
        try:
            with engine.begin() as connection:
                connection.execute(insert(table).values(wamid=wamid, body=body.decode()))
        except IntegrityError:
            pass
        return 200

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        header = request.headers.get("x-hub-signature-256", "")
        return Response(status_code=await run_in_threadpool(store, header, body))

    return app


def seconds(client: TestClient, path: str, work: list[tuple[bytes, dict[str, str]]]) -> float:
    """Seconds spent posting ``work`` to ``path``; every answer must be 200."""
    started = time.perf_counter()
    for content, headers in work:
        answer = client.post(path, content=content, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:200]}")
    return time.perf_counter() - started


def settings(
    database_url: str, data_dir: Path, graph_url: str = "http://127.0.0.1:9/v24.0"
) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        api_tokens="admin:admin:bench-admin-token-0123456789",
        log_level="WARNING",
        plugins={
            "whatsapp": {
                "app_secret": SECRET,
                "verify_token": "bench",
                "access_token": TOKEN,
                "phone_number_id": meta.PHONE_NUMBER_ID,
                "graph_url": graph_url,
                # Every message goes to one customer: the 6 s pair limit would measure
                # itself; the number's 80 messages/s stays on.
                "pair_interval_seconds": 0,
            },
            "lead_scoring": {},
        },
    )


def inbound(database_url: str, data_dir: Path, count: int) -> None:
    runtime = migrated_runtime(
        settings(database_url, data_dir),
        {"whatsapp": whatsapp_plugin, "lead_scoring": lead_scoring_plugin},
    )
    work = calls(count)
    with (
        TestClient(create_app(runtime, background=False)) as ours,
        TestClient(bare_app(database_url)) as bare,
    ):
        sides = {"ours": (ours, "/v1/webhooks/whatsapp"), "bare": (bare, "/hook")}
        for client, path in sides.values():
            seconds(client, path, work[:50])
        # The machine's load moves from one second to the next: both sides take turns
        # in rounds of ROUND calls (the first of a round alternating), and each side's
        # rate is its calls over the sum of its rounds.
        spent = {"ours": 0.0, "bare": 0.0}
        for number, start in enumerate(range(0, count, ROUND)):
            order = ["ours", "bare"] if number % 2 == 0 else ["bare", "ours"]
            for side in order:
                client, path = sides[side]
                spent[side] += seconds(client, path, work[start : start + ROUND])
        mine = count / spent["ours"]
        baseline = count / spent["bare"]
    runtime.close()
    print(f"inbound: {count} calls, {count // 10} of them repeats")
    print(f"  /v1/webhooks/whatsapp  {mine:8.0f} calls/s")
    print(f"  bare HMAC + insert     {baseline:8.0f} calls/s")
    print(f"  ratio                  {mine / baseline:8.2f}x")


def outbound(database_url: str, data_dir: Path, count: int) -> None:
    with CloudApi(token=TOKEN) as api:
        runtime = migrated_runtime(
            settings(database_url, data_dir, api.graph_url),
            {"whatsapp": whatsapp_plugin, "lead_scoring": lead_scoring_plugin},
        )
        customer = kind_by_type("customer")
        write_record(
            runtime.engine,
            customer,
            "C-1",
            customer.schema.model_validate(
                {"type": "person", "name": "مشتری", "phones": ["09121234567"]}
            ),
            subscribers=[],
        )
        interaction = kind_by_type("interaction")
        template: dict[str, Any] = {
            "type": "template",
            "template": {"name": "hello", "language": "fa"},
        }
        refs = []
        for number in range(count):
            record_id = f"M-{number}"
            body = {
                "customer_id": "C-1",
                "channel": "whatsapp",
                "direction": "outbound",
                "occurred_at": "2026-05-01T09:00:00+03:30",
                "content": template,
            }
            write_record(
                runtime.engine,
                interaction,
                record_id,
                interaction.schema.model_validate(body),
                subscribers=runtime.host.subscribers("interaction"),
            )
            refs.append(("interaction", record_id))
        started = time.perf_counter()
        while runtime.sync.process("whatsapp", []).pushed:
            pass
        mine = count / (time.perf_counter() - started)
        sent = len(api.sent)
        payload = {
            "messaging_product": "whatsapp",
            "to": "+989121234567",
            "type": "template",
            "template": {"name": "hello", "language": {"code": "fa"}},
        }
        with httpx.Client() as client:
            started = time.perf_counter()
            for _ in range(count):
                client.post(
                    f"{api.graph_url}/{meta.PHONE_NUMBER_ID}/messages",
                    json=payload,
                    headers={"authorization": f"Bearer {TOKEN}"},
                )
            baseline = count / (time.perf_counter() - started)
        runtime.close()
    print(f"outbound: {count} messages, {sent} accepted by the double")
    print(f"  sync engine -> double  {mine:8.0f} messages/s")
    print(f"  bare httpx -> double   {baseline:8.0f} messages/s")
    print(f"  ratio                  {mine / baseline:8.2f}x")


@contextmanager
def database(server: str | None, folder: Path, name: str) -> Iterator[str]:
    """A database for one phase: a SQLite file, or a new PostgreSQL database dropped after."""
    if server is None:
        yield f"sqlite:///{folder / (name + '.db')}"
        return
    fresh = f"whatsapp_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{fresh}"'))
    try:
        yield server + fresh
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL ending in /")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        if arguments.calls > 0:
            with database(arguments.postgres, base, "inbound") as url:
                inbound(url, base / "in", arguments.calls)
        if arguments.messages > 0:
            with database(arguments.postgres, base, "outbound") as url:
                outbound(url, base / "out", arguments.messages)


if __name__ == "__main__":
    main()
