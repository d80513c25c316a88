"""The bare baseline of bench/sync_bench.py: read the row, POST it, upsert the binding.

Nothing else: no leases, no outbox bookkeeping, no retries, no plugin hooks. It is what
a hand-written Dramatiq job would do, and the yardstick the engine is measured against.
Run by the benchmark as ``dramatiq bench.bare_actor``; configured through environment
variables the benchmark sets.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import dramatiq
import httpx
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import create_engine, text
from standardwebhooks import Webhook

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"], namespace=os.environ["BENCH_NAMESPACE"])
dramatiq.set_broker(broker)
engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=10)
client = httpx.Client(timeout=10)
signer = Webhook(os.environ["BENCH_SECRET"])
URL = os.environ["BENCH_RECEIVER_URL"]


def _post(key: str, body: Any) -> httpx.Response:
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "idempotency-key": key,
        "webhook-id": key,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(key, now, encoded),
    }
    return client.post(URL, content=encoded.encode(), headers=headers)


def _document(row: Any) -> dict[str, Any]:
    key = f"bare-{row.id}-{row.version}"
    return {
        "type": "customer",
        "id": row.id,
        "version": row.version,
        "occurred_at": row.updated_at.isoformat(),
        "idempotency_key": key,
        "data": row.data,
    }


@dramatiq.actor(queue_name="bare", max_retries=0)
def push(ids: list[str]) -> None:
    """Read the customers, POST them (one document, or an array), upsert their bindings."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, version, data, updated_at FROM customers WHERE id = ANY(:ids)"),
            {"ids": ids},
        ).all()
    documents = [_document(row) for row in rows]
    if len(documents) == 1:
        response = _post(documents[0]["idempotency_key"], documents[0])
        external = [response.json().get("external_id")]
    else:
        response = _post("bare-batch-" + documents[0]["idempotency_key"], documents)
        external = [answer.get("external_id") for answer in response.json()]
    response.raise_for_status()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO bare_bindings (id, version, external_id) VALUES (:id, :v, :e) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                "external_id = excluded.external_id"
            ),
            [
                {"id": d["id"], "v": d["version"], "e": e}
                for d, e in zip(documents, external, strict=True)
            ],
        )
