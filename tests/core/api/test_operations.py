"""Health, readiness, metrics and the OpenAPI documents."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from core import PermanentError, TransientError
from core.api.app import create_app
from core.kinds import KINDS
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import PROBLEM, READER, WRITER, TestClient, sample
from tests.core.inbound_plugin import InboundPlugin
from tests.core.scripted_plugin import ScriptedPlugin


def test_healthz_needs_no_token(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_readyz_needs_no_token_and_checks_database_and_broker(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"ready": True, "checks": {"database": "ok", "broker": "ok"}}


def readyz(runtime: SyncRuntime) -> Any:
    with TestClient(create_app(runtime, background=False)) as client:
        return client.get("/readyz")


@pytest.mark.parametrize(
    ("broker_url", "reason"),
    [
        ("redis://127.0.0.1:1/0", "broker unreachable: ConnectionError"),
        ("amqp://guest:guest@127.0.0.1:1/%2F", "broker unreachable: AMQPConnectionError"),
    ],
    ids=["redis", "rabbitmq"],
)
def test_readyz_is_503_when_the_broker_does_not_answer(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    broker_url: str,
    reason: str,
) -> None:
    answer = readyz(make_runtime(make_settings(broker_url=broker_url)))
    assert answer.status_code == 503
    assert answer.json() == {"ready": False, "checks": {"database": "ok", "broker": reason}}


def test_readyz_with_a_real_redis(
    redis_url: str,
    redis_namespace: str,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
) -> None:
    settings = make_settings(broker_url=redis_url, queue_prefix=redis_namespace)
    answer = readyz(make_runtime(settings))
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_with_a_real_rabbitmq(
    rabbitmq_url: str,
    queue_prefix: str,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
) -> None:
    settings = make_settings(broker_url=rabbitmq_url, queue_prefix=queue_prefix)
    answer = readyz(make_runtime(settings))
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_is_503_when_the_database_does_not_answer(
    runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse() -> Any:
        raise OSError("no database here")

    with TestClient(create_app(runtime, background=False)) as client:
        monkeypatch.setattr(runtime.engine, "connect", refuse)
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == "unreachable: OSError"
    assert "no database here" not in answer.text


def test_metrics_need_a_token(client: TestClient) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM


def test_metrics_expose_deliveries_per_plugin_and_state(client: TestClient) -> None:
    for record_id in ("C-1", "C-2"):
        client.put(f"/v1/customers/{record_id}", json=sample("customers"), headers=WRITER)
    answer = client.get("/metrics", headers=READER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert "# TYPE crm_sync_deliveries gauge" in lines
    assert 'crm_sync_deliveries{plugin="scripted",state="pending"} 2.0' in lines
    assert any(line.startswith("crm_sync_oldest_due_seconds{plugin=") for line in lines)
    assert (
        'crm_sync_http_requests_total{method="PUT",route="/v1/customers/{record_id}",status="201"}'
        " 2.0"
    ) in lines


def _samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``/metrics`` by name and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics", headers=READER).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_pushes_per_plugin_by_outcome_with_their_duration(
    client: TestClient, runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    """The process that pushes counts: synced, retry and dead, and the pushes' duration."""
    before = _samples(client)
    for record_id in ("M-1", "M-2", "M-3"):
        client.put(f"/v1/customers/{record_id}", json=sample("customers"), headers=WRITER)
    scripted.script.append(TransientError("ERP busy"))
    scripted.script.append(PermanentError("HTTP 422: no economic code"))
    assert runtime.sync.process("scripted", [("customer", "M-1")]).failed == 1
    assert runtime.sync.process("scripted", [("customer", "M-2")]).dead == 1
    assert runtime.sync.process("scripted", [("customer", "M-3")]).pushed == 1
    after = _samples(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    pushes = "crm_sync_pushes_total"
    assert grew(pushes, plugin="scripted", outcome="synced") == 1
    assert grew(pushes, plugin="scripted", outcome="retry") == 1
    assert grew(pushes, plugin="scripted", outcome="dead") == 1
    assert grew("crm_sync_retries_total", plugin="scripted", direction="out") == 1
    assert grew("crm_sync_dead_total", plugin="scripted", direction="out") == 1
    assert grew("crm_sync_push_seconds_count", plugin="scripted") == 3
    assert grew("crm_sync_push_seconds_sum", plugin="scripted") > 0


def test_metrics_count_inbound_events_received_duplicate_and_dead(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    from core import InboundEvent
    from core.sync.inbound import store_events

    plugin = InboundPlugin()
    plugin.fail_next_apply = PermanentError("unknown customer")
    runtime = make_runtime(make_settings(), {"erp": plugin})
    with TestClient(create_app(runtime, background=False)) as client:
        before = _samples(client)
        event = InboundEvent("E-1", "customer.status", {"customer_id": "C-404"})
        stored = store_events(runtime.engine, "erp", [event])
        store_events(runtime.engine, "erp", [event])
        assert runtime.inbound.process("erp", stored.ids).dead == 1
        after = _samples(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    inbound = "crm_sync_inbound_events_total"
    assert grew(inbound, plugin="erp", outcome="received") == 1
    assert grew(inbound, plugin="erp", outcome="duplicate") == 1
    assert grew(inbound, plugin="erp", outcome="dead") == 1
    assert grew(inbound, plugin="erp", outcome="applied") == 0
    assert grew("crm_sync_dead_total", plugin="erp", direction="in") == 1


def _requests_counted(client: TestClient, method: str, route: str, status: str) -> str | None:
    """The request counter's line for one method, route and status, if there is one."""
    labels = f'method="{method}",route="{route}",status="{status}"'
    lines = client.get("/metrics", headers=READER).text.splitlines()
    return next((line for line in lines if f"requests_total{{{labels}}}" in line), None)


def test_a_database_that_does_not_answer_is_503_and_counted(
    runtime: SyncRuntime, tmp_path: Path
) -> None:
    database = Path(runtime.engine.url.database or "")
    with TestClient(create_app(runtime, background=False)) as client:
        runtime.engine.dispose()
        database.rename(tmp_path / "away.db")
        database.mkdir()  # where the file was, SQLite now cannot open a database
        try:
            answer = client.get("/v1/customers", headers=READER)
        finally:
            database.rmdir()
            (tmp_path / "away.db").rename(database)
            runtime.engine.dispose()
        assert answer.status_code == 503
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["type"].endswith("database-unavailable")
        assert _requests_counted(client, "GET", "/v1/customers", "503") is not None


def test_an_unexpected_error_is_a_500_problem_and_counted(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    plugin = InboundPlugin()
    runtime = make_runtime(make_settings(), {"erp": plugin})
    plugin.fail_next_parse = RuntimeError("secret detail of the crash")
    app = create_app(runtime, background=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/v1/webhooks/erp", content=b"[]")
        assert answer.status_code == 500
        assert answer.json()["title"] == "Internal server error"
        assert "secret detail" not in answer.text
        assert _requests_counted(client, "POST", "/v1/webhooks/{plugin}", "500") is not None


def test_docs_and_openapi_are_served_without_a_token(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert client.get("/openapi.json").status_code == 200


def test_openapi_has_one_typed_put_per_writable_kind(app: FastAPI) -> None:
    spec = app.openapi()
    writable = {name: kind for name, kind in KINDS.items() if kind.writable}
    assert set(writable) == set(KINDS) - {"events"}
    record_paths = {f"/v1/{name}/{{record_id}}" for name in KINDS}
    puts = {
        path: item["put"]
        for path, item in spec["paths"].items()
        if "put" in item and path in record_paths
    }
    assert set(puts) == {f"/v1/{name}/{{record_id}}" for name in writable}
    assert "get" in spec["paths"]["/v1/events/{record_id}"]
    schemas = spec["components"]["schemas"]
    for name, kind in writable.items():
        content = puts[f"/v1/{name}/{{record_id}}"]["requestBody"]["content"]
        reference = content["application/json"]["schema"]["$ref"]
        schema_name = reference.rsplit("/", 1)[-1]
        assert schema_name.startswith(kind.schema.__name__)
        assert set(schemas[schema_name]["properties"]) >= set(
            kind.schema.model_json_schema(mode="validation")["properties"]
        )
    for path in ("/v1/customers", "/v1/customers/{record_id}/sync", "/v1/admin/dead/retry"):
        assert path in spec["paths"]
