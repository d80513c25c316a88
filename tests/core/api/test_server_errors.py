"""A server error keeps the connection: a pooled client's next request is answered on it.

Run against a real uvicorn server on loopback, over one raw socket, so nothing between
the test and the server reconnects behind its back.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from core.api import records
from core.api.app import create_app
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from core.testing.samples import sample
from tests.core.scripted_plugin import ScriptedPlugin
from tests.e2e.harness import free_port, wait_until

WRITER = "Bearer writer-token-0123456789"
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def server(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[int]:
    """A served API whose record writes fail with an unexpected error; its port."""
    url = (
        f"sqlite:///{tmp_path / 'errors.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    runtime = make_runtime(make_settings(database_url=url), {"scripted": ScriptedPlugin()})

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 at db.internal")

    monkeypatch.setattr(records, "write_from_caller", fail)
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime, background=False), host="127.0.0.1", port=port, log_level="critical"
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    wait_until(lambda: served.started, 20, "uvicorn to start")
    yield port
    served.should_exit = True
    thread.join(20)


def exchange(connection: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request and read one response (status, headers, body) off the connection."""
    connection.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection; read {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-body")
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_a_server_error_is_answered_and_the_connection_stays_open(server: int) -> None:
    body = json.dumps(sample("customers")).encode()
    put = (
        b"PUT /v1/customers/c-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: {WRITER}\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    health = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server), timeout=10) as connection:
        status, headers, answer = exchange(connection, put)
        assert status == 500
        assert headers["content-type"] == "application/problem+json"
        assert headers.get("connection", "").lower() != "close"
        assert b"hunter2" not in answer
        assert json.loads(answer)["type"] == "urn:crm-sync:problem:internal-error"
        for _ in range(2):
            status, _, answer = exchange(connection, health)
            assert (status, json.loads(answer)) == (200, {"status": "ok"})
