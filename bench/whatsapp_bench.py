"""WhatsApp throughput: inbound webhook calls and outbound sends, each against a baseline.

    python -m bench.whatsapp_bench [--calls 2000] [--messages 500] [--postgres SERVER_URL]
        [--threads 4] [--only inbound|outbound]

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

Outbound, twice, each time ``--messages`` outbound WhatsApp templates sent by the sync
engine (``--threads`` threads running the plugin's deliveries, as a worker's threads
do) to the Cloud API double on loopback: at Meta's default rate of 80 messages a second,
against that rate (is the engine or the rate the limit?); then with the rate set out of
the way, against bare ``httpx`` posts to the double in the same run, from one client
in a row and from as many threads as the engine's calls may use side by side.

It prints calls or messages per second for both sides and their ratio. Figures only:
no assertion on time.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from plugins.whatsapp import sending

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
    database_url: str,
    data_dir: Path,
    graph_url: str = "http://127.0.0.1:9/v24.0",
    *,
    per_second: float = 80.0,
) -> Settings:
    """The bench's settings: the WhatsApp plugin against ``graph_url`` at ``per_second``."""
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
                "messages_per_second": per_second,
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


#: The phone number's rate of the ceiling phase: the setting's maximum (Meta's highest tier).
UNLIMITED = 1000.0


def outbound(
    database_url: str, data_dir: Path, count: int, *, per_second: float, threads: int
) -> tuple[float, float, float, int]:
    """Send ``count`` messages through the engine at ``per_second``; the figures of one run.

    ``threads`` threads run the plugin's due deliveries, as a worker's threads do. The
    answer: the engine's messages a second, bare httpx posts a second from one client
    in a row, and from as many threads as the engine's calls may use side by side, and
    how many messages the double accepted.
    """
    with CloudApi(token=TOKEN) as api:
        built = settings(database_url, data_dir, api.graph_url, per_second=per_second)
        runtime = migrated_runtime(
            built, {"whatsapp": whatsapp_plugin, "lead_scoring": lead_scoring_plugin}
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
        for number in range(count):
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
                f"M-{number}",
                interaction.schema.model_validate(body),
                subscribers=runtime.host.subscribers("interaction"),
            )
        pushed: list[int] = []
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if sum(pushed) >= count:
                        return
                outcome = runtime.sync.process("whatsapp", [])
                with lock:
                    pushed.append(outcome.pushed)
                if outcome.pushed == 0:
                    time.sleep(0.005)  # the rest wait for their moments

        started = time.perf_counter()
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        mine = count / (time.perf_counter() - started)
        sent = len(api.sent)
        baseline = bare(api.graph_url, count, 1)
        side_by_side = bare(api.graph_url, count, threads * sending.MAX_CONCURRENT)
        runtime.close()
    return mine, baseline, side_by_side, sent


def bare(graph_url: str, count: int, threads: int) -> float:
    """Bare ``httpx`` posts a second to the double: ``count`` posts from ``threads`` threads."""
    payload = {
        "messaging_product": "whatsapp",
        "to": "+989121234567",
        "type": "template",
        "template": {"name": "hello", "language": {"code": "fa"}},
    }
    url = f"{graph_url}/{meta.PHONE_NUMBER_ID}/messages"
    headers = {"authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(limits=limits) as client, ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        for answer in pool.map(
            lambda _: client.post(url, json=payload, headers=headers), range(count)
        ):
            answer.raise_for_status()
        return count / (time.perf_counter() - started)


def report_outbound(server: str | None, folder: Path, count: int, threads: int) -> None:
    """Print both outbound phases, each on a database of its own.

    First at Meta's default rate, then with the rate at the setting's maximum.
    """
    rate = 80.0
    with database(server, folder, "rated") as url:
        mine, _, _, sent = outbound(url, folder / "rated", count, per_second=rate, threads=threads)
    print(f"outbound at the configured rate: {count} messages, {sent} accepted, {threads} threads")
    print(f"  sync engine -> double  {mine:8.1f} messages/s")
    print(f"  configured rate        {rate:8.1f} messages/s")
    print(f"  ratio                  {mine / rate:8.2f}x")
    with database(server, folder, "ceiling") as url:
        mine, baseline, side_by_side, sent = outbound(
            url, folder / "ceiling", count, per_second=UNLIMITED, threads=threads
        )
    print(f"outbound ceiling (rate {UNLIMITED:g}/s): {count} messages, {sent} accepted")
    print(f"  sync engine -> double  {mine:8.0f} messages/s")
    print(f"  bare httpx, one client {baseline:8.0f} messages/s  ratio {mine / baseline:5.2f}x")
    print(
        f"  bare httpx, {threads * sending.MAX_CONCURRENT} threads  {side_by_side:8.0f} messages/s"
        f"  ratio {mine / side_by_side:5.2f}x"
    )


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
    parser.add_argument(
        "--threads", type=int, default=4, help="threads sending, as a worker's (default 4)"
    )
    parser.add_argument("--only", choices=("inbound", "outbound"), default=None)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        if arguments.calls > 0 and arguments.only != "outbound":
            with database(arguments.postgres, base, "inbound") as url:
                inbound(url, base / "in", arguments.calls)
        if arguments.messages > 0 and arguments.only != "inbound":
            report_outbound(arguments.postgres, base, arguments.messages, arguments.threads)


if __name__ == "__main__":
    main()
