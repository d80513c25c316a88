"""Where the time of 100 documents goes: crm-sync's engine and the bare actor, one run.

    python bench/sync_phases.py [--customers 3000] [--batch 100]

In one process and one thread on PostgreSQL (``BENCH_POSTGRES`` or the local server),
with the loopback receiver in its own process verifying every signature, it drains
the same customers twice in batches of 100 (``--batch 1``: one document per push, as
one change per message is sent): as bench/bare_actor.py does (read the rows,
build, encode and sign the array, POST it, upsert the bindings) and through crm-sync
(``resync``'s outbox rows, then the engine: claim and load, validate and map, send,
record the results and, in the same statement on PostgreSQL, the attempts log). Each
step is timed around its call and printed in milliseconds per 100 documents, with both
totals and their ratio. No
broker and no worker processes: this is the CPU and database share of each step, the
part sync_bench.py's end-to-end figures cannot split.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from standardwebhooks import Webhook
from sync_bench import customer_rows

from core.db.migrate import upgrade
from core.kinds import KINDS, kind_by_type
from core.settings import Settings
from core.sync.admin import resync
from core.sync.runtime import SyncRuntime
from core.testing.receiver import ReceiverProcess
from core.testing.services import create_postgres_database, drop_postgres_database

SERVER = os.environ.get("BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/")
#: Figures are given per this many documents, whatever the batch size.
PER = 100
SECONDS: defaultdict[str, float] = defaultdict(float)


def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, adding the seconds of every call to ``SECONDS[label]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SECONDS[label] += time.perf_counter() - started

    return wrapper


def seed(runtime: SyncRuntime, count: int) -> list[str]:
    """Insert ``count`` customers, each with its own phone; return their ids."""
    kind = KINDS["customers"]
    rows = customer_rows(0, count)
    table: Any = kind.table
    with runtime.engine.begin() as connection:
        for start in range(0, count, 5000):
            connection.execute(table.__table__.insert(), rows[start : start + 5000])
        connection.execute(
            text("CREATE TABLE bare_bindings (id text PRIMARY KEY, version int, external_id text)")
        )
    return [row["id"] for row in rows]


def drain_bare(url: str, receiver: str, secret: str, ids: list[str], batch: int) -> float:
    """Do bench/bare_actor.py's work in batches of ``batch``, step by step; return the seconds.

    As the actor does, a batch of one is POSTed as one document, a larger one as an array.
    """
    client = httpx.Client(timeout=10)
    signer = Webhook(secret)
    engine = create_engine(url, pool_size=2)
    upsert = text(
        "INSERT INTO bare_bindings (id, version, external_id) VALUES (:id, :v, :e) "
        "ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
        "external_id = excluded.external_id"
    )
    began = time.perf_counter()
    for first in range(0, len(ids), batch):
        started = time.perf_counter()
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, version, data, updated_at FROM customers WHERE id = ANY(:ids)"),
                {"ids": ids[first : first + batch]},
            ).all()
        SECONDS["bare: read"] += time.perf_counter() - started
        started = time.perf_counter()
        documents = [
            {"type": "customer", "id": row.id, "version": row.version,
             "occurred_at": row.updated_at.isoformat(),
             "idempotency_key": f"bare-{row.id}-{row.version}", "data": row.data}
            for row in rows
        ]  # fmt: skip
        sent: Any = documents[0] if batch == 1 else documents
        body = json.dumps(sent, ensure_ascii=False, separators=(",", ":"))
        key = "bare-batch-" + documents[0]["idempotency_key"]
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "idempotency-key": key,
            "webhook-id": key,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(key, now, body),
        }
        SECONDS["bare: build, encode, sign"] += time.perf_counter() - started
        started = time.perf_counter()
        response = client.post(receiver, content=body.encode(), headers=headers)
        answers = response.json()
        answers = [answers] if batch == 1 else answers
        external = [answer.get("external_id") for answer in answers]
        SECONDS["bare: POST, answer"] += time.perf_counter() - started
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(
                upsert,
                [
                    {"id": d["id"], "v": d["version"], "e": e}
                    for d, e in zip(documents, external, strict=True)
                ],
            )
        SECONDS["bare: upsert bindings"] += time.perf_counter() - started
    seconds = time.perf_counter() - began
    engine.dispose()
    client.close()
    return seconds


def drain_engine(runtime: SyncRuntime, batch: int) -> float:
    """Queue every customer with resync, then push them in batches of ``batch``; return seconds."""
    started = time.perf_counter()
    chunks = list(resync(runtime.engine, "finance", [kind_by_type("customer")]))
    SECONDS["crm-sync: resync's outbox rows (not in the total)"] += time.perf_counter() - started
    sync: Any = runtime.sync
    sync._claim = timed("crm-sync: claim, load", sync._claim)
    sync._document = timed("crm-sync: validate, map, build", sync._document)
    sync._send = timed("crm-sync: encode, sign, POST, answer", sync._send)
    sync._finalize = timed("crm-sync: results + attempts log", sync._finalize)
    began = time.perf_counter()
    for refs in chunks:
        for first in range(0, len(refs), batch):
            runtime.sync.process("finance", refs[first : first + batch])
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100, help="documents per push (1: one each)")
    options = parser.parse_args()
    count, batch = options.customers, options.batch
    name = f"crm_sync_phases_{uuid.uuid4().hex[:8]}"
    url = create_postgres_database(SERVER, name)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    try:
        with ReceiverProcess(secret) as receiver:
            finance = {"url": receiver.url, "secret": secret, "batch": batch > 1}
            plugins = {"finance": finance}
            runtime = SyncRuntime(Settings(database_url=url, broker_url=None, plugins=plugins))
            try:
                upgrade(runtime.engine)
                ids = seed(runtime, count)
                bare = drain_bare(url, receiver.url, secret, ids, batch)
                ours = drain_engine(runtime, batch)
                with runtime.engine.connect() as connection:
                    synced = connection.execute(
                        text("SELECT count(*) FROM sync_state WHERE state = 'synced'")
                    ).scalar_one()
                    bound = connection.execute(text("SELECT count(*) FROM bare_bindings")).scalar()
            finally:
                runtime.close()
    finally:
        drop_postgres_database(SERVER, name)
    if synced != count or bound != count:
        raise SystemExit(f"only {synced} synced and {bound} bound of {count}")
    per = count / PER
    print(f"{count} customers in batches of {batch}, one thread, PostgreSQL")
    print(
        f"bare {bare / per * 1000:.1f} ms per 100 ({count / bare:.0f} docs/s), crm-sync "
        f"{ours / per * 1000:.1f} ms per 100 ({count / ours:.0f} docs/s): ratio {bare / ours:.2f}"
    )
    for label in sorted(SECONDS):
        print(f"  {label:<52}{SECONDS[label] / per * 1000:8.1f} ms per 100")


if __name__ == "__main__":
    main()
