"""Admin routes: queue counts, the dead list, retry and purge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from core import PermanentError
from core.api.app import create_app
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import (
    ADMIN,
    PROBLEM,
    READER,
    WRITER,
    TestClient,
    outbox,
    queued,
    sample,
)
from tests.core.scripted_plugin import ScriptedPlugin

REASON = "HTTP 422 from erp.example: economic code missing"


def kill(client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin, *ids: str) -> None:
    """Write customers ``ids`` and let their first push fail for good."""
    for record_id in ids:
        client.put(f"/v1/customers/{record_id}", json=sample("customers"), headers=WRITER)
        scripted.script.append(PermanentError(REASON))
        assert runtime.sync.process("scripted", [("customer", record_id)]).dead == 1


def test_queues_count_deliveries_per_plugin_and_state(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    assert client.get("/v1/admin/queues", headers=READER).json() == {"queues": []}
    kill(client, runtime, scripted, "C-1")
    client.put("/v1/customers/C-2", json=sample("customers"), headers=WRITER)
    client.put("/v1/customers/C-3", json=sample("customers"), headers=WRITER)
    runtime.sync.process("scripted", [("customer", "C-3")])
    queues = client.get("/v1/admin/queues", headers=READER).json()["queues"]
    counts = {(queue["plugin"], queue["state"]): queue["count"] for queue in queues}
    assert counts == {
        ("scripted", "dead"): 1,
        ("scripted", "pending"): 1,
        ("scripted", "synced"): 1,
    }
    assert all(queue["oldest_due"] for queue in queues)


def test_the_dead_list_shows_the_reason(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    kill(client, runtime, scripted, "C-1", "C-2")
    client.put("/v1/customers/C-3", json=sample("customers"), headers=WRITER)
    answer = client.get("/v1/admin/dead", headers=ADMIN)
    assert answer.status_code == 200
    dead = answer.json()["dead"]
    assert sorted(row["record_id"] for row in dead) == ["C-1", "C-2"]
    for row in dead:
        assert (row["plugin"], row["kind"], row["state"], row["last_error"]) == (
            "scripted",
            "customer",
            "dead",
            REASON,
        )
        assert (row["wanted_version"], row["synced_version"], row["attempts"]) == (1, None, 1)
    assert client.get("/v1/admin/dead", params={"plugin": "other"}, headers=ADMIN).json() == {
        "dead": []
    }
    limited = client.get("/v1/admin/dead", params={"limit": 1}, headers=ADMIN).json()["dead"]
    assert len(limited) == 1
    assert client.get("/v1/admin/dead", params={"limit": 0}, headers=ADMIN).status_code == 422


def test_retry_makes_dead_deliveries_pending_and_queues_them(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    kill(client, runtime, scripted, "C-1", "C-2")
    messages = queued(runtime)
    answer = client.post("/v1/admin/dead/retry", json={"id": "C-1"}, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json() == {"retried": 1}
    [retried] = outbox(runtime, "C-1")
    assert (retried.state, retried.attempts, retried.last_error) == ("pending", 0, REASON)
    assert outbox(runtime, "C-2")[0].state == "dead"
    assert queued(runtime) == messages + 1

    assert runtime.sync.process("scripted", [("customer", "C-1")]).pushed == 1
    assert [(document.id, document.version) for document in scripted.documents] == [("C-1", 1)]
    assert outbox(runtime, "C-1")[0].state == "synced"

    everything = client.post("/v1/admin/dead/retry", json={"all": True}, headers=ADMIN)
    assert everything.json() == {"retried": 1}
    assert outbox(runtime, "C-2")[0].state == "pending"
    assert client.post("/v1/admin/dead/retry", json={"all": True}, headers=ADMIN).json() == {
        "retried": 0
    }


def test_purge_discards_the_selected_dead_deliveries(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    kill(client, runtime, scripted, "C-1", "C-2")
    answer = client.post(
        "/v1/admin/dead/purge", json={"plugin": "scripted", "id": "C-2"}, headers=ADMIN
    )
    assert answer.json() == {"purged": 1}
    assert (outbox(runtime, "C-1")[0].state, outbox(runtime, "C-2")[0].state) == (
        "dead",
        "discarded",
    )
    assert [
        row["record_id"] for row in client.get("/v1/admin/dead", headers=ADMIN).json()["dead"]
    ] == ["C-1"]
    assert client.post("/v1/admin/dead/retry", json={"id": "C-2"}, headers=ADMIN).json() == {
        "retried": 0
    }

    client.put("/v1/customers/C-2", json=sample("customers", name="اصلاح شده"), headers=WRITER)
    [requeued] = outbox(runtime, "C-2")
    assert (requeued.state, requeued.wanted_version) == ("pending", 2)


@pytest.mark.parametrize("action", ["retry", "purge"])
@pytest.mark.parametrize("body", [{}, {"all": False}, {"plugin": None, "id": None}])
def test_an_empty_selection_is_refused(
    client: TestClient,
    runtime: SyncRuntime,
    scripted: ScriptedPlugin,
    action: str,
    body: dict[str, Any],
) -> None:
    kill(client, runtime, scripted, "C-1")
    answer = client.post(f"/v1/admin/dead/{action}", json=body, headers=ADMIN)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == "urn:crm-sync:problem:empty-selection"
    assert problem["detail"] == "name a plugin, kind or id, or set all to true"
    assert outbox(runtime, "C-1")[0].state == "dead"


@pytest.mark.parametrize("action", ["retry", "purge"])
def test_a_bad_selection_body_is_refused(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin, action: str
) -> None:
    kill(client, runtime, scripted, "C-1")
    for body in ({"everything": True}, {"all": "maybe"}, None):
        answer = client.post(f"/v1/admin/dead/{action}", json=body, headers=ADMIN)
        assert answer.status_code in (400, 422)
        assert answer.headers["content-type"] == PROBLEM
    assert outbox(runtime, "C-1")[0].state == "dead"


def test_selections_by_plugin_and_kind(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    first, second = ScriptedPlugin(), ScriptedPlugin()
    runtime = make_runtime(make_settings(), {"first": first, "second": second})
    app: FastAPI = create_app(runtime, background=False)
    with TestClient(app) as client:
        client.put("/v1/customers/C-1", json=sample("customers"), headers=WRITER)
        for name, plugin in (("first", first), ("second", second)):
            plugin.script.append(PermanentError(REASON))
            runtime.sync.process(name, [("customer", "C-1")])
        assert {row.plugin: row.state for row in outbox(runtime, "C-1")} == {
            "first": "dead",
            "second": "dead",
        }
        assert client.post(
            "/v1/admin/dead/retry", json={"kind": "contact"}, headers=ADMIN
        ).json() == {"retried": 0}
        assert client.post(
            "/v1/admin/dead/retry", json={"plugin": "second", "kind": "customer"}, headers=ADMIN
        ).json() == {"retried": 1}
        assert {row.plugin: row.state for row in outbox(runtime, "C-1")} == {
            "first": "dead",
            "second": "pending",
        }
        assert queued(runtime, "second") == 2
        assert queued(runtime, "first") == 1
