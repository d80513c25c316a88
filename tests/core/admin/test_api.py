"""The admin console's actions in the API: search, roles, counted jobs, pause, audit."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from core.admin.jobs import Dispatchers, run_job
from core.api.app import create_app
from core.sync.runtime import SyncRuntime
from tests.core.admin.conftest import TAX, bearer, put

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def app(console_runtime: SyncRuntime) -> FastAPI:
    return create_app(console_runtime, background=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as running:
        yield running


def test_the_overview_counts_states_lag_and_the_last_hour(client: TestClient) -> None:
    answer = client.get("/v1/admin/overview", headers=bearer("reader"))
    assert answer.status_code == 200
    [plugin] = [p for p in answer.json()["plugins"] if p["plugin"] == "scripted"]
    outbound = plugin["outbound"]
    assert outbound["states"] == {"dead": 6, "failed": 3, "synced": 2}
    assert outbound["depth"] == 3
    assert outbound["lag_seconds"] == 0, "retrying deliveries are not due yet"
    assert outbound["done_last_hour"] == 2 and outbound["failures_last_hour"] == 9
    assert outbound["failure_rate"] == pytest.approx(9 / 11)
    assert plugin["paused"] is None and plugin["health"] == {"ok": True, "detail": "scripted"}


def test_searching_groups_by_class_and_pages_by_key(client: TestClient) -> None:
    found = client.get(
        "/v1/admin/deliveries",
        params={"list": "dead", "error": "TAX CODE", "limit": 4},
        headers=bearer("reader"),
    ).json()
    assert found["total"] == 6
    assert found["groups"] == [
        {"error_class": "http-422", "count": 6, "sample": TAX, "sample_count": 6}
    ]
    first = [d["record_id"] for d in found["deliveries"]]
    rest = client.get(
        "/v1/admin/deliveries",
        params={"list": "dead", "error": "TAX CODE", "limit": 4, "after": found["next"]},
        headers=bearer("reader"),
    ).json()
    second = [d["record_id"] for d in rest["deliveries"]]
    assert len(first) == 4 and len(second) == 2 and rest["next"] is None
    assert sorted(first + second) == [f"TAX-{n}" for n in range(6)]
    retrying = client.get(
        "/v1/admin/deliveries",
        params={"list": "retry", "error_class": "timeout"},
        headers=bearer("reader"),
    ).json()
    assert retrying["total"] == 3
    by_content = client.get(
        "/v1/admin/deliveries", params={"content": "مشتری TAX-3"}, headers=bearer("reader")
    ).json()
    assert [d["record_id"] for d in by_content["deliveries"]] == ["TAX-3"]


@pytest.mark.parametrize(
    "params",
    [
        {"list": "everything"},
        {"kind": "spaceship"},
        {"error_class": "DROP TABLE"},
        {"since": "yesterday"},
        {"since": "2024-05-02", "until": "2024-05-01"},
        {"error": "x" * 201},
        {"after": "not-a-cursor"},
    ],
)
def test_a_bad_filter_is_a_clear_422(client: TestClient, params: dict[str, str]) -> None:
    answer = client.get("/v1/admin/deliveries", params=params, headers=bearer("reader"))
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("bad-filter")


def test_roles_decide_who_may_retry_and_who_may_purge(client: TestClient) -> None:
    one = {"keys": ["scripted/customer/TAX-0"], "reason": "fixed"}
    refused = client.post(
        "/v1/admin/deliveries/actions", json={**one, "action": "retry"}, headers=bearer("reader")
    )
    assert refused.status_code == 403
    purge = client.post(
        "/v1/admin/deliveries/actions", json={**one, "action": "purge"}, headers=bearer("operator")
    )
    assert purge.status_code == 403
    retried = client.post(
        "/v1/admin/deliveries/actions", json={**one, "action": "retry"}, headers=bearer("operator")
    )
    assert retried.json() == {"changed": 1}
    other = {"keys": ["scripted/customer/TAX-1"], "action": "purge"}
    assert client.post(
        "/v1/admin/deliveries/actions", json=other, headers=bearer("admin")
    ).json() == {"changed": 1}
    audit = client.get("/v1/admin/audit", headers=bearer("reader")).json()["entries"]
    assert [(e["action"], e["actor"], e["target"], e["channel"]) for e in audit] == [
        ("purge", "admin", "scripted/customer/TAX-1", "api"),
        ("retry", "operator", "scripted/customer/TAX-0", "api"),
    ]


def test_a_counted_job_acts_only_on_the_rows_it_counted(
    client: TestClient, console_runtime: SyncRuntime
) -> None:
    counted = client.post(
        "/v1/admin/jobs",
        json={"action": "purge", "filter": {"list": "dead", "error_class": "http-422"}},
        headers=bearer("admin"),
    )
    assert counted.status_code == 201
    job = counted.json()
    assert (job["state"], job["total"]) == ("counted", 6)
    # One counted row is retried meanwhile, one new dead row appears: neither is purged.
    client.post(
        "/v1/admin/deliveries/actions",
        json={"action": "retry", "keys": ["scripted/customer/TAX-0"]},
        headers=bearer("operator"),
    )
    put(console_runtime, "TAX-NEW")
    with console_runtime.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE sync_state SET state = 'dead', error_class = 'http-422'"
            " WHERE record_id = 'TAX-NEW'"
        )
    confirmed = client.post(
        f"/v1/admin/jobs/{job['id']}/confirm",
        json={"reason": "ERP removed"},
        headers=bearer("admin"),
    )
    assert confirmed.json()["state"] == "running"
    assert (
        client.post(
            f"/v1/admin/jobs/{job['id']}/confirm", json={}, headers=bearer("admin")
        ).status_code
        == 409
    )
    done = run_job(console_runtime.engine, job["id"], Dispatchers(), chunk=2)
    assert (done.state, done.acted, done.skipped) == ("done", 5, 1)
    left = client.get(
        "/v1/admin/deliveries", params={"list": "dead"}, headers=bearer("reader")
    ).json()
    assert [d["record_id"] for d in left["deliveries"]] == ["TAX-NEW"]
    entries = client.get("/v1/admin/audit", headers=bearer("reader")).json()["entries"]
    assert [(e["action"], e["rows"], e["job_id"]) for e in entries[:2]] == [
        ("purge.finished", 5, job["id"]),
        ("purge", 6, job["id"]),
    ]
    assert entries[1]["reason"] == "ERP removed"
    assert entries[1]["filter"] == {"list": "dead", "error_class": "http-422"}


def test_an_operator_cannot_start_a_purge_job(client: TestClient) -> None:
    answer = client.post(
        "/v1/admin/jobs", json={"action": "purge", "filter": {}}, headers=bearer("operator")
    )
    assert answer.status_code == 403


def test_pause_and_resume_through_the_api_are_audited(client: TestClient) -> None:
    paused = client.post(
        "/v1/admin/plugins/scripted/pause",
        json={"reason": "ERP upgrade"},
        headers=bearer("operator"),
    )
    assert paused.json() == {"plugin": "scripted", "paused": True, "changed": True}
    again = client.post("/v1/admin/plugins/scripted/pause", json={}, headers=bearer("operator"))
    assert again.json()["changed"] is False
    overview = client.get("/v1/admin/overview", headers=bearer("reader")).json()
    [plugin] = [p for p in overview["plugins"] if p["plugin"] == "scripted"]
    assert plugin["paused"]["reason"] == "ERP upgrade"
    assert plugin["health"]["ok"] is False
    assert (
        client.post(
            "/v1/admin/plugins/scripted/resume", json={}, headers=bearer("reader")
        ).status_code
        == 403
    )
    client.post("/v1/admin/plugins/scripted/resume", json={}, headers=bearer("operator"))
    actions = [
        e["action"]
        for e in client.get("/v1/admin/audit", headers=bearer("reader")).json()["entries"]
    ]
    assert actions == ["resume", "pause"]


def test_the_old_dead_routes_are_audited_and_retry_needs_an_operator(client: TestClient) -> None:
    assert (
        client.post(
            "/v1/admin/dead/retry", json={"plugin": "scripted"}, headers=bearer("reader")
        ).status_code
        == 403
    )
    retried = client.post(
        "/v1/admin/dead/retry",
        json={"plugin": "scripted", "reason": "fixed"},
        headers=bearer("operator"),
    )
    assert retried.json() == {"retried": 6}
    [entry] = client.get("/v1/admin/audit", headers=bearer("reader")).json()["entries"]
    assert (entry["action"], entry["rows"], entry["filter"], entry["reason"]) == (
        "retry",
        6,
        {"plugin": "scripted"},
        "fixed",
    )


def test_one_delivery_in_full(client: TestClient) -> None:
    answer = client.get("/v1/admin/deliveries/scripted/customer/TAX-2", headers=bearer("reader"))
    body = answer.json()
    assert body["delivery"]["state"] == "dead"
    assert body["idempotency_key"] and body["document"] == {"name": "مشتری TAX-2", "version": 1}
    [attempt] = body["attempts"]
    assert (attempt["outcome"], attempt["error_class"], attempt["error"]) == (
        "dead",
        "http-422",
        TAX,
    )
    assert attempt["duration_ms"] is not None and attempt["duration_ms"] >= 0
    missing = client.get("/v1/admin/deliveries/scripted/customer/NOPE", headers=bearer("reader"))
    assert missing.status_code == 404
