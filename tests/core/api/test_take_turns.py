"""Webhook calls take turns: a flood of them holds a bounded share of the process."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from starlette.types import Receive, Scope, Send

from core.api.app import create_app
from core.api.limits import TakeTurns
from core.api.webhooks import WEBHOOK_TURNS
from core.sync.runtime import SyncRuntime


def test_at_most_limit_requests_under_the_prefix_run_at_once_and_others_never_wait() -> None:
    running = {"/v1/webhooks/": 0, "/v1/customers/": 0}
    most = dict(running)
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        prefix = "/v1/webhooks/" if scope["path"].startswith("/v1/webhooks/") else "/v1/customers/"
        running[prefix] += 1
        most[prefix] = max(most[prefix], running[prefix])
        if prefix == "/v1/webhooks/":
            await release.wait()
        running[prefix] -= 1

    gate = TakeTurns(app, prefix="/v1/webhooks/", limit=3)

    async def call(path: str) -> None:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: object) -> None:
            return None

        await gate({"type": "http", "path": path}, receive, send)

    async def scenario() -> None:
        flood = [asyncio.create_task(call(f"/v1/webhooks/p{n}")) for n in range(20)]
        await asyncio.sleep(0.05)
        assert running["/v1/webhooks/"] == 3
        await asyncio.wait_for(
            asyncio.gather(*(call(f"/v1/customers/c{n}") for n in range(5))), timeout=1
        )
        release.set()
        await asyncio.wait_for(asyncio.gather(*flood), timeout=5)

    # A thread of its own: the session's headless browser keeps an event loop running
    # on the main thread of any pytest worker that has opened a page.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, scenario()).result()
    assert most == {"/v1/webhooks/": 3, "/v1/customers/": 1}
    assert running == {"/v1/webhooks/": 0, "/v1/customers/": 0}


def test_the_app_gives_webhooks_their_turns(runtime: SyncRuntime) -> None:
    app = create_app(runtime, background=False)
    gates = [m for m in app.user_middleware if m.cls is TakeTurns]
    assert [gate.kwargs for gate in gates] == [{"prefix": "/v1/webhooks/", "limit": WEBHOOK_TURNS}]
