"""Bad input gets a clear problem+json 4xx and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from core.api import records
from core.db.sync_tables import SyncState
from core.kinds import KINDS
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import MAX_BODY, PROBLEM, READER, WRITER, TestClient, queued, sample

JSON = {**WRITER, "Content-Type": "application/json"}


def stored_count(runtime: SyncRuntime) -> tuple[int, int]:
    """(customers, sync rows) in the database."""
    table = KINDS["customers"].table
    with runtime.engine.connect() as connection:
        customers = connection.execute(select(func.count()).select_from(table)).scalar_one()
        rows = connection.execute(select(func.count()).select_from(SyncState)).scalar_one()
    return int(customers), int(rows)


def assert_problem(answer: Any, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == f"urn:crm-sync:problem:{slug}"
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    return problem


def assert_nothing_stored(client: TestClient, runtime: SyncRuntime, record_id: str) -> None:
    assert client.get(f"/v1/customers/{record_id}", headers=READER).status_code == 404
    assert stored_count(runtime) == (0, 0)
    assert queued(runtime) == 0


def test_malformed_json_is_400(client: TestClient, runtime: SyncRuntime) -> None:
    answer = client.put("/v1/customers/C-1", content=b'{"type": "person", "name": ', headers=JSON)
    problem = assert_problem(answer, 400, "malformed-json")
    assert problem["detail"] == "the request body is not valid JSON"
    assert problem["instance"] == "/v1/customers/C-1"
    assert_nothing_stored(client, runtime, "C-1")


@pytest.mark.parametrize("content", [None, b""], ids=["no-body", "empty-body"])
def test_a_missing_body_is_400(
    client: TestClient, runtime: SyncRuntime, content: bytes | None
) -> None:
    answer = client.put("/v1/customers/C-1", content=content, headers=JSON)
    assert_problem(answer, 400, "missing-body")
    assert_nothing_stored(client, runtime, "C-1")


@pytest.mark.parametrize("content", [b"null", b"[1, 2]", b'"a customer"', b"42"])
def test_a_body_that_is_not_an_object_is_422(
    client: TestClient, runtime: SyncRuntime, content: bytes
) -> None:
    answer = client.put("/v1/customers/C-1", content=content, headers=JSON)
    assert_problem(answer, 422, "validation-error")
    assert_nothing_stored(client, runtime, "C-1")


def test_wrong_types_are_422_with_one_error_per_field(
    client: TestClient, runtime: SyncRuntime
) -> None:
    body = sample("customers", name=12345, phones="not a list", type="robot")
    answer = client.put("/v1/customers/C-1", json=body, headers=WRITER)
    problem = assert_problem(answer, 422, "validation-error")
    fields = {error["field"]: error for error in problem["errors"]}
    assert set(fields) == {"name", "phones", "type"}
    assert fields["name"]["code"] == "string_type"
    assert fields["type"]["code"] == "literal_error"
    assert all(error["message"] for error in problem["errors"])
    assert_nothing_stored(client, runtime, "C-1")


def test_a_nested_error_names_the_nested_field(client: TestClient, runtime: SyncRuntime) -> None:
    body = sample("customers", addresses=[{"line1": "خیابان آزادی", "postal_code": "123"}])
    answer = client.put("/v1/customers/C-1", json=body, headers=WRITER)
    problem = assert_problem(answer, 422, "validation-error")
    assert [error["field"] for error in problem["errors"]] == ["addresses.0"]
    assert "postal_code" in problem["errors"][0]["message"]
    assert_nothing_stored(client, runtime, "C-1")


def test_unknown_fields_are_422_and_not_echoed(client: TestClient, runtime: SyncRuntime) -> None:
    body = sample("customers", credit_limit="do-not-echo-this-value")
    answer = client.put("/v1/customers/C-1", json=body, headers=WRITER)
    problem = assert_problem(answer, 422, "validation-error")
    assert problem["errors"] == [
        {
            "field": "credit_limit",
            "message": "Extra inputs are not permitted",
            "code": "extra_forbidden",
        }
    ]
    assert "do-not-echo-this-value" not in answer.text
    assert_nothing_stored(client, runtime, "C-1")


def test_bad_input_leaves_an_existing_record_as_it_was(
    client: TestClient, runtime: SyncRuntime
) -> None:
    original = client.put("/v1/customers/C-1", json=sample("customers"), headers=WRITER).json()
    messages = queued(runtime)
    bad_bodies: list[bytes] = [
        b"{not json",
        b'{"type": "person", "name": 7}',
        b'{"type": "person", "name": "new", "unknown": 1}',
        b'{"type": "person", "name": "' + b"x" * MAX_BODY + b'"}',
    ]
    for content in bad_bodies:
        assert client.put("/v1/customers/C-1", content=content, headers=JSON).status_code >= 400
    current = client.get("/v1/customers/C-1", headers=READER).json()
    assert current["version"] == 1
    assert current["data"] == original["data"]
    assert current["updated_at"] == original["updated_at"]
    assert queued(runtime) == messages
    assert stored_count(runtime) == (1, 1)


def test_an_oversized_body_with_content_length_is_413(
    client: TestClient, runtime: SyncRuntime
) -> None:
    body = sample("customers", name="ن" * MAX_BODY)
    answer = client.put("/v1/customers/C-1", json=body, headers=WRITER)
    assert int(answer.request.headers["content-length"]) > MAX_BODY
    problem = assert_problem(answer, 413, "body-too-large")
    assert str(MAX_BODY) in problem["detail"]
    assert_nothing_stored(client, runtime, "C-1")


def chunks(content: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


def test_an_oversized_chunked_body_is_413(client: TestClient, runtime: SyncRuntime) -> None:
    content = b'{"type": "person", "name": "' + b"x" * (2 * MAX_BODY) + b'"}'
    answer = client.put("/v1/customers/C-1", content=chunks(content), headers=JSON)
    assert "content-length" not in answer.request.headers
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert_problem(answer, 413, "body-too-large")
    assert_nothing_stored(client, runtime, "C-1")


def test_a_chunked_body_within_the_limit_is_accepted(
    client: TestClient, runtime: SyncRuntime
) -> None:
    content = '{"type": "person", "name": "سارا"}'.encode()
    answer = client.put("/v1/customers/C-1", content=chunks(content, 7), headers=JSON)
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == 201
    assert answer.json()["data"]["name"] == "سارا"


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_an_unknown_kind_is_a_404_problem(
    client: TestClient, runtime: SyncRuntime, method: str
) -> None:
    answer = client.request(method, "/v1/widgets/W-1", json=sample("customers"), headers=WRITER)
    assert_problem(answer, 404, "not-found")
    assert client.get("/v1/widgets", headers=READER).status_code == 404
    assert stored_count(runtime) == (0, 0)


@pytest.mark.parametrize(
    "record_id", ["bad id", "a" * 129, "C/1", "ش-۱"], ids=["space", "long", "slash", "persian"]
)
def test_a_bad_id_in_the_path_is_refused(
    client: TestClient, runtime: SyncRuntime, record_id: str
) -> None:
    answer = client.put(f"/v1/customers/{record_id}", json=sample("customers"), headers=WRITER)
    assert answer.status_code in (404, 422)
    assert answer.headers["content-type"] == PROBLEM
    if answer.status_code == 422:
        problem = answer.json()
        assert [error["field"] for error in problem["errors"]] == ["path.record_id"]
        assert "parameters" in problem["detail"]
    assert stored_count(runtime) == (0, 0)


def test_a_method_that_does_not_exist_is_a_405_problem(client: TestClient) -> None:
    answer = client.post("/v1/customers/C-1", json=sample("customers"), headers=WRITER)
    assert_problem(answer, 405, "method-not-allowed")


def test_an_unexpected_failure_is_a_500_problem_that_leaks_nothing(
    app: FastAPI, runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 at db.internal")

    monkeypatch.setattr(records, "write_from_caller", fail)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.put("/v1/customers/C-1", json=sample("customers"), headers=WRITER)
    problem = assert_problem(answer, 500, "internal-error")
    assert problem["detail"] == "the server failed; the error has been logged"
    assert "hunter2" not in answer.text
    assert "RuntimeError" not in answer.text
    assert stored_count(runtime) == (0, 0)
