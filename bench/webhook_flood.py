"""Bad-signature traffic against a webhook route must not starve good writes.

    python -m bench.webhook_flood [--writes 500] [--rate 1000] [--database-url URL]

Three processes on loopback: the API (uvicorn, as ``crm-sync serve`` runs it, with the
production plugin taking webhooks; SQLite by default, PostgreSQL with
``--database-url``), a writer that sends good writes (``PUT /v1/customers/<new id>``,
one after another) and a flooder that sends ``--rate`` webhook calls per second with a
wrong signature to ``/v1/webhooks/production`` over keep-alive connections (a bounded
loop: it stops when the writer is done, or after ``--seconds``). The good writes are
measured twice in the same run, alone and under the flood; it prints their p50 and
p99 in both phases, the p99 ratio, and the rate the flood reached with its statuses.
Figures only: no assertion on time.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx

SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
TOKEN = "bench-writer-token-0123456789"
CUSTOMER = {"type": "organization", "name": "شرکت نمونه", "phones": ["۰۲۱ ۸۸۸۸ ۱۲۳۴"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(database_url: str, data_dir: str, port: int) -> None:
    """Run the API as ``crm-sync serve`` does, on a migrated database."""
    import uvicorn

    import plugins.production.plugin as production
    from core.api.app import create_app
    from core.settings import Settings
    from core.testing.fixtures import migrated_runtime

    settings = Settings(
        data_dir=Path(data_dir),
        database_url=database_url,
        api_tokens=f"writer:writer:{TOKEN}",
        plugins={"production": {"secret": SECRET}},
        log_level="WARNING",
    )
    runtime = migrated_runtime(settings, {"production": production})
    uvicorn.run(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")


def bad_call(port: int) -> bytes:
    """One webhook call, byte for byte, whose signature is wrong."""
    body = b'{"type": "work_order_status", "id": "wo-1", "version": 1}'
    head = (
        "POST /v1/webhooks/production HTTP/1.1\r\n"
        f"host: 127.0.0.1:{port}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"webhook-id: bench-{uuid.uuid4().hex}\r\n"
        f"webhook-timestamp: {int(time.time())}\r\n"
        "webhook-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    )
    return head.encode() + body


async def _flood(
    port: int, rate: int, seconds: float, stop: Event, connections: int
) -> Counter[str]:
    """Send ``rate`` bad calls per second over ``connections`` keep-alive connections."""
    request = bad_call(port)
    seen: Counter[str] = Counter()
    started = time.monotonic()

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        try:
            while not stop.is_set() and time.monotonic() - started < seconds:
                due = started + (sent * connections + offset) / rate
                pause = due - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                seen[head.split(b" ", 2)[1].decode()] += 1
                sent += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection(n) for n in range(connections)))
    seen["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    return seen


def flood(port: int, rate: int, seconds: float, stop: Event, results: Any) -> None:
    """The flooder process: its counts go to ``results``."""
    results.update(asyncio.run(_flood(port, rate, seconds, stop, connections=32)))


def good_writes(url: str, count: int) -> list[float]:
    """Latencies (seconds) of ``count`` customer upserts, one after another."""
    latencies = []
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        for _ in range(count):
            started = time.perf_counter()
            answer = client.put(f"/v1/customers/bench-{uuid.uuid4().hex[:12]}", json=CUSTOMER)
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 201:
                raise SystemExit(f"a good write failed: {answer.status_code} {answer.text}")
    return latencies


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the API did not answer on {url} within {timeout} s")


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def line(name: str, values: list[float]) -> str:
    p50 = statistics.median(values) * 1000
    return f"  {name:<11} p50 {p50:7.2f} ms   p99 {p99(values) * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=500, help="good writes per phase")
    parser.add_argument("--rate", type=int, default=1000, help="bad calls per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="longest flood")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    options = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="crm-sync-flood-")
    database_url = options.database_url or f"sqlite:///{Path(data_dir) / 'flood.db'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = multiprocessing.Process(target=serve, args=(database_url, data_dir, port))
    server.start()
    try:
        wait_for(url)
        good_writes(url, 50)  # warm up: connections, statement caches
        alone = good_writes(url, options.writes)
        manager = multiprocessing.Manager()
        stop, results = manager.Event(), manager.dict()
        flooder = multiprocessing.Process(
            target=flood, args=(port, options.rate, options.seconds, stop, results)
        )
        flooder.start()
        time.sleep(2.0)  # let the flood reach its pace before measuring
        flooded = good_writes(url, options.writes)
        stop.set()
        flooder.join(60)
        counts = dict(results)
    finally:
        server.terminate()
        server.join(30)
    elapsed = counts.pop("elapsed_ms", 0) / 1000
    sent = sum(counts.values())
    database = database_url.split(":", 1)[0]
    print(f"good writes: PUT /v1/customers, {options.writes} per phase, one after another")
    print(f"database: {database}; python {sys.version.split()[0]}")
    print(line("alone:", alone))
    print(line("with flood:", flooded))
    print(f"  p99 ratio (with flood / alone): {p99(flooded) / p99(alone):.2f}")
    print(
        f"bad-signature calls: {sent} in {elapsed:.1f} s = {sent / max(elapsed, 1e-9):.0f}/s "
        f"(asked {options.rate}/s); statuses {dict(sorted(counts.items()))}"
    )


if __name__ == "__main__":
    main()
