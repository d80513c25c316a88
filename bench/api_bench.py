"""The API's write path under concurrent clients, against a bare FastAPI route, in one run.

    python bench/api_bench.py [--puts 2000] [--clients 8,32] [--backends embedded,postgresql]
                              [--target down|up]

For each backend it starts, as separate processes on loopback:

- ``embedded``: ``crm-sync serve`` on the embedded default (a SQLite file, the
  in-process broker and workers), and the bare route on its own SQLite file;
- ``postgresql``: ``crm-sync serve`` and ``crm-sync worker --processes 2 --threads 8``
  on PostgreSQL + Redis, as documented for production, and the bare route on the same
  PostgreSQL database.

The bare route (this file, run with ``--bare``) validates the same customer body with the
same schema and inserts one row in one transaction; crm-sync's ``PUT /v1/customers/{id}``
also writes the outbox row of the finance plugin, whose target is down by default
(``--target up``: a loopback receiver that verifies every signature), so deliveries
retry in the background while the clients write. Each client PUTs distinct customers
one after another; the figures are PUTs per second over the whole run and the p50 and
p99 of one PUT, for both sides and their ratio (the aim: 0.8x of the bare route on
PostgreSQL, a p99 under 100 ms on the embedded default), and the PUTs that failed on
each side (bare/crm-sync: an error status or a broken connection).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
TOKEN = "bench-writer-token-0123456789"
#: The ratio to the bare route aimed at on PostgreSQL, and the p99 aimed at on SQLite.
AIM_RATIO = 0.8
AIM_P99_MS = 100.0


def bare_app(database_url: str) -> Any:
    """The bare route: validate the customer body, insert one row in one transaction."""
    from fastapi import Body, FastAPI, HTTPException
    from sqlalchemy import text

    from core.db.engine import create_db_engine
    from core.kinds import KINDS

    schema = KINDS["customers"].schema
    engine = create_db_engine(database_url, pool_size=40)
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE IF NOT EXISTS bare_customers (id TEXT PRIMARY KEY, data TEXT)")
        )
    insert = text("INSERT INTO bare_customers (id, data) VALUES (:id, :data)")
    app = FastAPI()

    @app.put("/v1/customers/{record_id}")
    def put(record_id: str, body: dict[str, Any] = Body()) -> dict[str, Any]:  # noqa: B008
        """Validate and insert one customer."""
        try:
            model = schema.model_validate(body)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        with engine.begin() as connection:
            connection.execute(insert, {"id": record_id, "data": model.model_dump_json()})
        return {"id": record_id, "version": 1}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Up."""
        return {"status": "ok"}

    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own session, its output in the file ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen(
            args, env=env, cwd=ROOT, start_new_session=True, stdout=output, stderr=output
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the server for {url} exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def body(number: int) -> dict[str, Any]:
    """A customer with its own phone and email."""
    return {
        "type": "person",
        "name": f"مشتری شماره {number}",
        "phones": [f"0912{number:07d}"],
        "emails": [f"c{number}@example.ir"],
    }


@dataclass
class Load:
    """One load run: PUTs per second and the latency percentiles of one PUT."""

    puts_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


async def _load(url: str, puts: int, clients: int, first: int) -> Load:
    latencies: list[float] = []
    errors = [0]
    numbers = iter(range(first, first + puts))
    headers = {"authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:

        async def client() -> None:
            for number in numbers:
                started = time.perf_counter()
                try:
                    response = await http.put(f"/v1/customers/C-{number:07d}", json=body(number))
                    failed = response.status_code not in (200, 201)
                except httpx.HTTPError:
                    failed = True
                latencies.append((time.perf_counter() - started) * 1000)
                errors[0] += failed

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - began
    latencies.sort()
    return Load(
        puts / seconds,
        latencies[len(latencies) // 2],
        latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        errors[0],
    )


def load(url: str, puts: int, clients: int, first: int) -> Load:
    """``puts`` PUTs of distinct customers from ``clients`` concurrent clients."""
    return asyncio.run(_load(url, puts, clients, first))


class Backend:
    """One backend's processes: crm-sync (serve, and workers for a broker) and the bare route."""

    def __init__(self, name: str, folder: Path, target: str) -> None:
        self.name = name
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self.database = ""
        folder.mkdir(parents=True)
        self.log = log = folder / "output.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_SYNC_")}
        env.update(
            PYTHONPATH=str(ROOT),
            CRM_SYNC_DATA_DIR=str(folder / "data"),
            CRM_SYNC_API_TOKENS=f"bench:writer:{TOKEN}",
            CRM_SYNC_PLUGINS__FINANCE__URL=target,
            CRM_SYNC_PLUGINS__FINANCE__SECRET=secret(),
            CRM_SYNC_LOG_LEVEL="WARNING",
        )
        if name == "postgresql":
            from core.testing.services import create_postgres_database

            self.database = f"crm_sync_api_bench_{uuid.uuid4().hex[:8]}"
            url = create_postgres_database(PG_SERVER, self.database)
            env.update(
                CRM_SYNC_DATABASE_URL=url,
                CRM_SYNC_BROKER_URL=REDIS_URL,
                CRM_SYNC_QUEUE_PREFIX=f"apibench{uuid.uuid4().hex[:8]}",
            )
            self.queue_prefix = env["CRM_SYNC_QUEUE_PREFIX"]
            bare_url = url
            subprocess.run(
                [sys.executable, "-m", "core", "db", "upgrade"],
                env=env,
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        else:
            bare_url = f"sqlite:///{folder / 'bare.db'}"
        self.crm = f"http://127.0.0.1:{free_port()}"
        self.bare = f"http://127.0.0.1:{free_port()}"
        serve = [sys.executable, "-m", "core", "serve", "--port", self.crm.rsplit(":", 1)[1]]
        self.processes.append(start(serve, env, log))
        if name == "postgresql":
            worker = [sys.executable, "-m", "core", "worker", "--metrics-port", "-1"]
            self.processes.append(start(worker, env, log))
        bare = [sys.executable, str(Path(__file__)), "--bare", bare_url, self.bare]
        self.processes.append(start(bare, env, log))
        try:
            wait_up(self.crm, self.processes[0], log)
            wait_up(self.bare, self.processes[-1], log)
        except BaseException:
            self.close()  # a server that did not come up leaves no process behind
            raise

    def close(self) -> None:
        for process in self.processes:
            stop(process)
        if self.database:
            from core.testing.services import delete_redis_namespace, drop_postgres_database

            drop_postgres_database(PG_SERVER, self.database)
            delete_redis_namespace(REDIS_URL, f"{self.queue_prefix}crm-sync")


def secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def serve_bare(database_url: str, url: str) -> None:
    """Run the bare route (``--bare``) until stopped."""
    import uvicorn

    port = int(url.rsplit(":", 1)[1])
    uvicorn.run(bare_app(database_url), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--puts", type=int, default=2000, help="PUTs per side and client count")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--backends", default="embedded,postgresql")
    parser.add_argument("--target", choices=["down", "up"], default="down")
    parser.add_argument("--bare", nargs=2, metavar=("DATABASE_URL", "URL"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.bare:
        serve_bare(*options.bare)
        return
    clients = [int(count) for count in options.clients.split(",")]
    rows: list[tuple[str, int, Load, Load]] = []
    with tempfile.TemporaryDirectory() as folder:
        receiver = None
        target = f"http://127.0.0.1:{free_port()}/"
        if options.target == "up":
            from core.testing.receiver import ReceiverProcess

            receiver = ReceiverProcess(None, envelope=False)
            target = receiver.__enter__().url
        try:
            for name in options.backends.split(","):
                backend = Backend(name, Path(folder) / name, target)
                try:
                    first = 0
                    for count in clients:
                        warm = 9_000_000 + first  # both sides warmed up on their own ids
                        load(backend.crm, 50, 4, warm)
                        load(backend.bare, 50, 4, warm)
                        bare = load(backend.bare, options.puts, count, first)
                        ours = load(backend.crm, options.puts, count, first)
                        rows.append((name, count, bare, ours))
                        first += options.puts
                except BaseException:
                    print(backend.log.read_text(errors="replace")[-4000:], file=sys.stderr)
                    raise
                finally:
                    backend.close()
        finally:
            if receiver is not None:
                receiver.__exit__(None, None, None)
    print(
        f"{options.puts} PUTs of distinct customers per side and client count; finance's"
        f" target {options.target}"
    )
    print(
        f"{'backend':<12}{'clients':>8}{'bare PUT/s':>12}{'p50':>8}{'p99':>8}"
        f"{'crm-sync PUT/s':>16}{'p50':>8}{'p99':>8}{'ratio':>7}{'failed':>8}"
    )
    for name, count, bare, ours in rows:
        ratio = ours.puts_per_s / bare.puts_per_s
        aim = (
            f"p99 {'under' if ours.p99_ms < AIM_P99_MS else 'over'} {AIM_P99_MS:.0f} ms"
            if name == "embedded"
            else f"{'met' if ratio >= AIM_RATIO else 'short of'} {AIM_RATIO}x"
        )
        print(
            f"{name:<12}{count:>8}{bare.puts_per_s:>12.0f}{bare.p50_ms:>8.1f}{bare.p99_ms:>8.1f}"
            f"{ours.puts_per_s:>16.0f}{ours.p50_ms:>8.1f}{ours.p99_ms:>8.1f}{ratio:>7.2f}"
            f"{f'{bare.errors}/{ours.errors}':>8}  {aim}"
        )


if __name__ == "__main__":
    main()
