"""A worker SIGKILLed while Meta holds its answer: the message is in doubt, never sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

import lead_scoring.plugin as lead_scoring_plugin
from core.api.app import create_app
from core.db.sync_tables import SyncState
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from core.testing.whatsapp_api import CloudApi
from plugins.whatsapp import plugin as whatsapp_plugin
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import apply_all, post, put, record
from tests.plugins.whatsapp.send_worker import LEASE_SECONDS, settings

ROOT = Path(__file__).parents[3]
WORKER = Path(__file__).with_name("send_worker.py")


def _delivery(runtime: SyncRuntime) -> tuple[str, str | None]:
    with runtime.engine.connect() as connection:
        row = connection.execute(
            select(SyncState.state, SyncState.last_error).where(
                SyncState.plugin == "whatsapp", SyncState.record_id == "M-1"
            )
        ).one()
    return row.state, row.last_error


def test_a_send_killed_mid_call_is_dead_in_doubt_and_settled_by_its_status(
    database_url: str, tmp_path: Path, make_runtime: Callable[..., SyncRuntime]
) -> None:
    with CloudApi(token="EAAG-permanent-token") as api:
        built = settings(database_url, tmp_path / "data", api.graph_url)
        plugins = {"whatsapp": whatsapp_plugin, "lead_scoring": lead_scoring_plugin}
        runtime = make_runtime(built, plugins)
        put(
            runtime,
            "customer",
            "C-1",
            {"type": "person", "name": "مشتری", "phones": ["09121234567"]},
        )
        message = {
            "customer_id": "C-1",
            "channel": "whatsapp",
            "direction": "outbound",
            "occurred_at": "2026-05-01T09:00:00+03:30",
            "content": {"type": "template", "template": {"name": "hello", "language": "fa"}},
        }
        put(runtime, "interaction", "M-1", message)
        api.stall(30.0)
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), database_url, str(tmp_path / "data"), api.graph_url],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not api.sent and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.05)
            assert len(api.sent) == 1, "the worker never reached Meta"
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            worker.wait(timeout=30)
        assert worker.returncode == -signal.SIGKILL
        stored = record(runtime, "interaction", "M-1")
        assert stored is not None and stored["delivery_status"] == "pending"
        time.sleep(LEASE_SECONDS + 0.5)
        runtime.sync.process("whatsapp", [("interaction", "M-1")])
        state, reason = _delivery(runtime)
        assert state == "dead" and "in doubt" in (reason or "")
        assert api.attempts == 1 and len(api.sent) == 1
        wamid = api.sent[0].wamid
        with TestClient(create_app(runtime, background=False)) as client:
            status = meta.status(wamid, "delivered", "989121234567", callback_data="M-1")
            post(client, meta.envelope(meta.statuses_value([status])))
        apply_all(runtime)
        for _ in range(5):
            runtime.sync.process("whatsapp", [("interaction", "M-1")])
        settled = record(runtime, "interaction", "M-1")
        assert settled is not None and settled["delivery_status"] == "delivered"
        assert settled["external_message_id"] == wamid
        assert _delivery(runtime)[0] == "synced"
        assert api.attempts == 1
