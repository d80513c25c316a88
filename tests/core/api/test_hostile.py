"""Hostile input on every route that reads one, on SQLite and PostgreSQL: refused, nothing kept.

Record writes of every kind, admin actions and assignment actions get the hostile
bodies of core.testing.hostile; ids of dots, NUL in query parameters, bodies on DELETE
and GET, a plugin's own body limit and webhooks of a plugin that decodes with plain
``json.loads`` are checked one by one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.db.metadata import metadata
from core.kinds import KINDS
from core.plugin_types import PluginDescription
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from core.testing.fixtures import migrated_runtime
from core.testing.hostile import assert_all_refused, hostile_bodies
from core.testing.samples import sample
from core.testing.services import POSTGRES, create_postgres_database, drop_postgres_database
from tests.core.api.conftest import ADMIN, PROBLEM, READER, WRITER, TestClient
from tests.core.conftest import TOKENS
from tests.core.inbound_plugin import InboundPlugin, sign
from tests.core.scripted_plugin import ScriptedPlugin

MAX_BODY = 4096
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
WRITABLE = [kind.name for kind in KINDS.values() if kind.writable]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hostile.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="module", params=DATABASES)
def runtime(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SyncRuntime]:
    """One runtime per database for the module (building a database takes seconds).

    Tests compare what is stored before and after each request, so they share it.
    """
    tmp = tmp_path_factory.mktemp("hostile")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'hostile.db'}"
    else:
        server = POSTGRES.require()
        name = f"crm_sync_test_{uuid.uuid4().hex[:16]}"
        url = create_postgres_database(server, name)
        request.addfinalizer(lambda: drop_postgres_database(server, name))
    settings = Settings(
        data_dir=tmp / "data",
        database_url=url,
        api_tokens=TOKENS,
        max_body_bytes=MAX_BODY,
        worker_threads=2,
    )
    runtime = migrated_runtime(settings, {"scripted": ScriptedPlugin(), "inbound": InboundPlugin()})
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: SyncRuntime) -> Iterator[TestClient]:
    from core.api.app import create_app

    with TestClient(create_app(runtime, background=False)) as running:
        yield running


def row_counts(engine: Engine) -> tuple[int, ...]:
    """The number of rows of every table, in one statement."""
    counts = [
        select(func.count()).select_from(table).scalar_subquery()
        for table in metadata.sorted_tables
    ]
    with engine.connect() as connection:
        return tuple(connection.execute(select(*counts)).one())


def snapshot(runtime: SyncRuntime) -> Callable[[], Any]:
    """What a request could change: every table's rows and every queue's messages."""

    def take() -> Any:
        queues = {name: queue.qsize() for name, queue in runtime.broker.queues.items()}
        return row_counts(runtime.engine), queues

    return take


def sender(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    def send(body: bytes) -> Any:
        return client.request(
            method, path, content=body, headers={**headers, "content-type": "application/json"}
        )

    return send


@pytest.mark.parametrize("kind", WRITABLE)
def test_record_writes_refuse_every_hostile_body(
    client: TestClient, runtime: SyncRuntime, kind: str
) -> None:
    valid = sample(kind)
    send = sender(client, "PUT", f"/v1/{kind}/h-1", WRITER)
    assert_all_refused(send, hostile_bodies(valid, max_body=MAX_BODY), snapshot(runtime))
    answer = send(json.dumps(valid).encode())
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("/v1/admin/dead/retry", {"plugin": "scripted", "kind": "customer", "id": "c-1"}),
        ("/v1/admin/dead/purge", {"plugin": "scripted", "kind": "customer", "id": "c-1"}),
        ("/v1/admin/inbox/retry", {"plugin": "inbound", "event_id": "e-1"}),
        ("/v1/admin/deliveries/actions", {"action": "retry", "keys": ["scripted/customer/c-1"]}),
        ("/v1/admin/plugins/scripted/resume", {"reason": "کار از سر گرفته شد"}),
    ],
)
def test_admin_actions_refuse_every_hostile_body(
    client: TestClient, runtime: SyncRuntime, path: str, valid: dict[str, Any]
) -> None:
    send = sender(client, "POST", path, ADMIN)
    assert_all_refused(send, hostile_bodies(valid, max_body=MAX_BODY), snapshot(runtime))
    assert send(json.dumps(valid).encode()).status_code == 200


def test_a_bulk_job_refuses_every_hostile_body(client: TestClient, runtime: SyncRuntime) -> None:
    valid = {"action": "retry", "target": "deliveries", "filter": {"plugin": "scripted"}}
    send = sender(client, "POST", "/v1/admin/jobs", ADMIN)
    assert_all_refused(send, hostile_bodies(valid, max_body=MAX_BODY), snapshot(runtime))
    assert send(json.dumps(valid).encode()).status_code == 201


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("/v1/leads/l-1/assign", {"agent_id": "agent-1", "why": "کار با مشتری قدیمی"}),
        ("/v1/leads/l-1/followups", {"stage": "call", "due_at": "2024-04-01T10:00:00+03:30"}),
        ("/v1/tasks/t-1/snooze", {"until": "2024-04-01T10:00:00Z", "why": "مشتری در سفر"}),
        ("/v1/tasks/t-1/assign", {"agent_id": "agent-1", "why": "مرخصی"}),
    ],
)
def test_assignment_actions_refuse_every_hostile_body(
    client: TestClient, runtime: SyncRuntime, path: str, valid: dict[str, Any]
) -> None:
    send = sender(client, "POST", path, WRITER)
    assert_all_refused(send, hostile_bodies(valid, max_body=MAX_BODY), snapshot(runtime))


def test_putting_an_agent_away_refuses_every_hostile_body(
    client: TestClient, runtime: SyncRuntime
) -> None:
    valid = {"until": "2024-04-01T10:00:00Z", "reason": "مرخصی"}
    send = sender(client, "PUT", "/v1/agents/agent-1/away", WRITER)
    assert_all_refused(send, hostile_bodies(valid, max_body=MAX_BODY), snapshot(runtime))


def test_a_line_whose_tax_exceeds_its_net_amount_is_refused(
    client: TestClient, runtime: SyncRuntime
) -> None:
    """A tax of 99,999,999 on a line of 2,000 is a mistake: 422 naming the line, nothing kept."""
    line = {"product_id": "p-1", "quantity": "1", "unit_price": "2000", "tax": "99999999"}
    body = {**sample("proformas"), "lines": [line]}
    before = snapshot(runtime)()
    answer = client.put("/v1/proformas/h-tax", json=body, headers=WRITER)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "lines.0" and "tax 99999999 is larger" in error["message"]
    assert snapshot(runtime)() == before
    body["lines"] = [{**line, "tax": "2000"}]
    assert client.put("/v1/proformas/h-tax", json=body, headers=WRITER).status_code == 201


def test_all_must_be_true_not_a_number_that_looks_like_it(
    client: TestClient, runtime: SyncRuntime
) -> None:
    before = snapshot(runtime)()
    for path in ("/v1/admin/dead/retry", "/v1/admin/dead/purge", "/v1/admin/inbox/retry"):
        for value in (1, 0, "true"):
            answer = client.post(path, json={"all": value}, headers=ADMIN)
            assert answer.status_code == 422, (path, value, answer.text)
            assert [error["field"] for error in answer.json()["errors"]] == ["all"]
    assert snapshot(runtime)() == before


# "." and ".." themselves are folded into the path by HTTP clients (httpx too); sent
# encoded they reach the server as they are.
@pytest.mark.parametrize("record_id", ["...", "%2E", "%2E%2E", "%2e%2e%2e"])
def test_ids_made_only_of_dots_are_refused_in_the_path(
    client: TestClient, runtime: SyncRuntime, record_id: str
) -> None:
    before = snapshot(runtime)()
    for method, path, headers in [
        ("PUT", f"/v1/customers/{record_id}", WRITER),
        ("GET", f"/v1/customers/{record_id}", READER),
        ("POST", f"/v1/leads/{record_id}/assign", WRITER),
        ("PUT", f"/v1/agents/{record_id}/away", WRITER),
    ]:
        answer = client.request(method, path, json=sample("customers"), headers=headers)
        assert answer.status_code == 422, (method, path, answer.text)
        assert answer.headers["content-type"] == PROBLEM
    assert snapshot(runtime)() == before


def test_an_id_with_dots_and_more_is_still_an_id(client: TestClient) -> None:
    answer = client.put("/v1/customers/a..b", json=sample("customers"), headers=WRITER)
    assert answer.status_code == 201, answer.text
    assert client.get("/v1/customers/a..b", headers=READER).json()["id"] == "a..b"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers?q=a%00b",
        "/v1/customers?after=a%00",
        "/v1/admin/dead?plugin=scripted%00",
        "/v1/admin/inbox?state=%00",
        "/v1/admin/dead?kind=customer&plugin=%00x",
    ],
)
def test_nul_in_a_query_parameter_is_a_422_naming_it(client: TestClient, path: str) -> None:
    answer = client.get(path, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    fields = {error["field"] for error in answer.json()["errors"]}
    name = path.rsplit("=", 1)[0].rsplit("?", 1)[-1].rsplit("&", 1)[-1]
    assert f"query.{name}" in fields


@pytest.mark.parametrize("method", ["DELETE", "GET", "PATCH", "OPTIONS"])
def test_the_body_limit_holds_for_every_method(
    client: TestClient, runtime: SyncRuntime, method: str
) -> None:
    before = snapshot(runtime)()
    answer = client.request(
        method, "/v1/agents/agent-1/away", content=b"x" * (MAX_BODY + 1), headers=WRITER
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["type"] == "urn:crm-sync:problem:body-too-large"
    assert snapshot(runtime)() == before


def test_a_plugin_declares_the_body_limit_of_its_own_webhook_route(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    tmp_path: Path,
) -> None:
    from core import PluginContext, hookimpl
    from core.api.app import create_app

    class Large(InboundPlugin):
        @hookimpl
        def crm_sync_describe(self, context: PluginContext) -> PluginDescription:
            return PluginDescription(
                ("customer",), target="inbound", accepts_webhooks=True, max_body_bytes=4 * MAX_BODY
            )

    settings = make_settings(max_body_bytes=MAX_BODY)
    runtime = make_runtime(settings, {"large": Large(), "inbound": InboundPlugin()})
    events = [{"id": f"e-{n}", "note": "x" * 100} for n in range(50)]
    body = json.dumps(events).encode()
    assert MAX_BODY < len(body) < 4 * MAX_BODY
    with TestClient(create_app(runtime, background=False)) as client:
        large = client.post("/v1/webhooks/large", content=body, headers={"x-signature": sign(body)})
        assert large.status_code == 200, large.text
        assert large.json()["accepted"] == 50
        other = client.post(
            "/v1/webhooks/inbound", content=body, headers={"x-signature": sign(body)}
        )
        assert other.status_code == 413
        records = client.put(
            "/v1/customers/c-1", content=b" " * (2 * MAX_BODY) + b"{}", headers=WRITER
        )
        assert records.status_code == 413


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([{"id": "e" * 257}], "event_id"),
        ([{"id": "e-1", "type": "t" * 65}], "type"),
        ([{"id": "e-1", "note": "a\u0000b"}], "payload.note"),
        ([{"id": "e-1", "deep": json.loads("[" * 40 + "]" * 40)}], "payload"),
    ],
    ids=["long id", "long type", "NUL", "deep"],
)
def test_core_checks_what_a_plugin_parsed_before_the_inbox_keeps_it(
    client: TestClient, runtime: SyncRuntime, events: list[dict[str, Any]], field: str
) -> None:
    """The inbound test plugin decodes with json.loads and passes ids and bodies through."""
    body = json.dumps(events).encode()
    before = snapshot(runtime)()
    answer = client.post("/v1/webhooks/inbound", content=body, headers={"x-signature": sign(body)})
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]
    assert snapshot(runtime)() == before


def test_a_webhook_call_carries_at_most_1000_events(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    database_url: str,
) -> None:
    from core.api.app import create_app

    settings = make_settings(database_url=database_url, max_body_bytes=100_000)
    runtime = make_runtime(settings, {"inbound": InboundPlugin()})
    body = json.dumps([{"id": f"e-{n}"} for n in range(1001)]).encode()
    with TestClient(create_app(runtime, background=False)) as client:
        answer = client.post(
            "/v1/webhooks/inbound", content=body, headers={"x-signature": sign(body)}
        )
        assert answer.status_code == 422, answer.text
        assert "1000 events" in answer.json()["detail"]
        assert row_counts(runtime.engine) == tuple(0 for _ in metadata.sorted_tables), "stored"
        body = json.dumps([{"id": f"e-{n}"} for n in range(1000)]).encode()
        answer = client.post(
            "/v1/webhooks/inbound", content=body, headers={"x-signature": sign(body)}
        )
        assert answer.json()["accepted"] == 1000
