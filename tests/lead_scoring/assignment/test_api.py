"""The assignment API: manual reassignment with history, SLA state, follow-ups, away agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.api.app import create_app
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from lead_scoring.assignment import AssignmentService, parse_assignment_rules
from tests.core.api.conftest import READER, WRITER, TestClient
from tests.lead_scoring.assignment.conftest import RULES, Clock, World


@pytest.fixture
def api(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> Iterator[tuple[TestClient, World]]:
    runtime = make_runtime(make_settings())
    clock = Clock()
    app = create_app(runtime, background=False)
    app.state.assignment = AssignmentService.from_runtime(
        runtime, rules=parse_assignment_rules(RULES), clock=clock
    )
    world = World(runtime.engine, clock)
    world.agent("a1")
    world.agent("a2")
    with TestClient(app) as client:
        yield client, world


def test_manual_reassignment_keeps_who_when_and_why(api: tuple[TestClient, World]) -> None:
    client, world = api
    world.lead("L")
    auto = client.post("/v1/leads/L/assign", json={}, headers=WRITER)
    assert auto.status_code == 200
    first = auto.json()["owner_id"]
    other = "a2" if first == "a1" else "a1"
    world.clock.advance(minutes=5)
    moved = client.post(
        "/v1/leads/L/assign",
        json={"agent_id": other, "why": "customer asked for her"},
        headers=WRITER,
    )
    assert moved.status_code == 200
    body = moved.json()
    assert body["owner_id"] == other
    assert body["sla"] == "pending"
    manual = body["history"][-1]
    assert (manual["action"], manual["from_agent"], manual["to_agent"]) == ("manual", first, other)
    assert (manual["by"], manual["why"]) == ("writer", "customer asked for her")
    assert manual["at"].startswith("2025-06-01T06:35:00")

    read = client.get("/v1/leads/L/assignment", headers=READER).json()
    assert [step["action"] for step in read["history"]] == ["rotation", "manual"]
    assert client.get("/v1/leads/L", headers=READER).json()["data"]["owner_id"] == other
    events = client.get("/v1/leads/L/timeline", headers=READER).json()["events"]
    assert [event["data"]["type"] for event in events] == ["lead.assigned", "lead.reassigned"]
    assert events[-1]["data"]["payload"]["why"] == "customer asked for her"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"agent_id": "a1"}, 422),
        ({"agent_id": "ghost", "why": "x"}, 404),
        ({"agent_id": "a1", "why": "x", "extra": 1}, 422),
        ({"agent_id": "a1", "why": ""}, 422),
    ],
)
def test_bad_reassignments_change_nothing(
    api: tuple[TestClient, World], body: dict[str, Any], status: int
) -> None:
    client, world = api
    world.lead("L")
    answer = client.post("/v1/leads/L/assign", json=body, headers=WRITER)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/leads/L/assignment", headers=READER).json()["history"] == []


def test_unknown_lead_and_roles(api: tuple[TestClient, World]) -> None:
    client, _ = api
    assert client.post("/v1/leads/nope/assign", json={}, headers=WRITER).status_code == 404
    assert client.get("/v1/leads/nope/assignment", headers=READER).status_code == 404
    assert client.post("/v1/leads/nope/assign", json={}, headers=READER).status_code == 403
    assert client.post("/v1/leads/nope/assign", json={}).status_code == 401


def test_followups_snooze_and_task_reassignment(api: tuple[TestClient, World]) -> None:
    client, world = api
    world.lead("L", owner_id="a1")
    created = client.post(
        "/v1/leads/L/followups",
        json={"stage": "technical", "due_at": "2025-06-02T12:00:00+03:30"},
        headers=WRITER,
    )
    assert created.status_code == 201
    task_id = created.json()["task_id"]
    task = client.get(f"/v1/tasks/{task_id}", headers=READER).json()["data"]
    assert (task["owner_id"], task["stage"], task["related_id"]) == ("a1", "technical", "L")

    snoozed = client.post(
        f"/v1/tasks/{task_id}/snooze",
        json={"until": "2025-06-03T12:00:00+03:30", "why": "waiting for drawings"},
        headers=WRITER,
    )
    assert snoozed.status_code == 200
    moved = client.post(
        f"/v1/tasks/{task_id}/assign", json={"agent_id": "a2", "why": "a1 on leave"}, headers=WRITER
    )
    assert [step["action"] for step in moved.json()["history"]] == [
        "task_created",
        "snoozed",
        "manual",
    ]
    bad_stage = client.post(
        "/v1/leads/L/followups",
        json={"stage": "lunch", "due_at": "2025-06-02T12:00:00Z"},
        headers=WRITER,
    )
    assert bad_stage.status_code == 422
    naive = client.post(
        "/v1/leads/L/followups",
        json={"stage": "final", "due_at": "2025-06-02T12:00:00"},
        headers=WRITER,
    )
    assert naive.status_code == 422


def test_an_away_agent_gets_no_leads(api: tuple[TestClient, World]) -> None:
    client, world = api
    assert (
        client.put("/v1/agents/a1/away", json={"reason": "hajj"}, headers=WRITER).status_code == 204
    )
    assert client.put("/v1/agents/ghost/away", json={}, headers=WRITER).status_code == 404
    for i in range(3):
        world.lead(f"L{i}")
        assert (
            client.post(f"/v1/leads/L{i}/assign", json={}, headers=WRITER).json()["owner_id"]
            == "a2"
        )
    assert client.delete("/v1/agents/a1/away", headers=WRITER).status_code == 204
    owners = set()
    for lead_id in ("L9", "L10"):
        world.lead(lead_id)
        owners.add(
            client.post(f"/v1/leads/{lead_id}/assign", json={}, headers=WRITER).json()["owner_id"]
        )
    assert owners == {"a1", "a2"}  # back, and joining the rotation level with a2


def test_unknown_tasks_and_agents_are_404_and_a_closed_task_cannot_be_snoozed(
    api: tuple[TestClient, World],
) -> None:
    client, world = api
    until = {"until": "2025-06-03T12:00:00+03:30", "why": "later"}
    assert client.get("/v1/tasks/nope/assignment", headers=READER).status_code == 404
    assert client.post("/v1/tasks/nope/snooze", json=until, headers=WRITER).status_code == 404
    moved = client.post(
        "/v1/tasks/nope/assign", json={"agent_id": "a2", "why": "x"}, headers=WRITER
    )
    assert moved.status_code == 404
    gone = client.delete("/v1/agents/ghost/away", headers=WRITER)
    assert gone.status_code == 404 and gone.json()["type"].endswith("not-found")
    world.lead("L", owner_id="a1")
    created = client.post(
        "/v1/leads/L/followups",
        json={"stage": "final", "due_at": "2025-06-02T12:00:00+03:30"},
        headers=WRITER,
    )
    task_id = created.json()["task_id"]
    task = client.get(f"/v1/tasks/{task_id}", headers=READER).json()["data"]
    world.put("task", task_id, **{**task, "status": "done"})
    closed = client.post(f"/v1/tasks/{task_id}/snooze", json=until, headers=WRITER)
    assert closed.status_code == 409 and "only open tasks" in closed.json()["detail"]
