"""Replay recorded Odoo JSON-RPC exchanges strictly, as an httpx transport handler.

Odoo cannot run here, so backends written from its documented external API are tested
against request/response pairs that follow that documentation. A recordings file is
JSON: ``{"flows": {NAME: {"version": 16|17|18, "exchanges": [{"request": {...},
"response": {"status": 200, "json": {...}}} | {"request": {...}, "raise": "ReadTimeout"},
...]}}}``. The replay answers one flow in order and fails the test when the client sends
anything else than the recorded request, or leaves a recorded exchange unused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

#: The base URL recordings are made against.
URL = "http://odoo.test"


def load_flow(recordings: Path, flow: str) -> dict[str, Any]:
    """One flow of a recordings file."""
    flows: dict[str, Any] = json.loads(recordings.read_text(encoding="utf-8"))["flows"]
    return dict(flows[flow])


class Replay:
    """A MockTransport handler that answers one recorded flow, in order, and nothing else."""

    def __init__(self, recordings: Path, flow: str, *, url: str = URL) -> None:
        recorded = load_flow(recordings, flow)
        self.name = f"{recordings.name}:{flow}"
        self.version: int = recorded["version"]
        self.exchanges: list[dict[str, Any]] = recorded["exchanges"]
        self.url = url
        self.position = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Check the request against the next recorded one and answer as recorded."""
        body = json.loads(request.content)
        assert self.position < len(self.exchanges), f"{self.name}: unexpected request {body}"
        exchange = self.exchanges[self.position]
        self.position += 1
        assert request.method == "POST"
        assert request.url == httpx.URL(f"{self.url}/jsonrpc")
        assert request.headers["content-type"] == "application/json"
        sent = json.dumps(body, ensure_ascii=False)
        expected = json.dumps(exchange["request"], ensure_ascii=False)
        assert body == exchange["request"], (
            f"{self.name} exchange {self.position}: the client sent\n{sent}\n"
            f"but the recording expects\n{expected}"
        )
        if "raise" in exchange:
            error_class = getattr(httpx, exchange["raise"])
            raise error_class("recorded transport failure", request=request)
        response = exchange["response"]
        headers = response.get("headers", {})
        if "json" in response:
            return httpx.Response(response["status"], json=response["json"], headers=headers)
        return httpx.Response(response["status"], text=response["text"], headers=headers)

    def assert_done(self) -> None:
        """Fail unless every recorded exchange was requested."""
        left = len(self.exchanges) - self.position
        assert left == 0, f"{self.name}: {left} recorded exchanges were never requested"


class Switchboard:
    """A transport handler that answers from whichever flow a test is replaying now.

    One runtime (and its HTTP client) can then live through several flows in turn.
    """

    def __init__(self, recordings: Path, *, url: str = URL) -> None:
        self.recordings = recordings
        self.url = url
        self.replay: Callable[[httpx.Request], httpx.Response] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Hand the request to the flow being replayed."""
        assert self.replay is not None, f"no flow is being replayed: {request.content!r}"
        return self.replay(request)

    def play(self, flow: str) -> Replay:
        """Answer the next requests from ``flow``; the returned replay checks it was all used."""
        replay = Replay(self.recordings, flow, url=self.url)
        self.replay = replay
        return replay
