"""Service cases, survey answers, subscriptions and the MQL date through the record API.

On SQLite and PostgreSQL: a valid record is stored with its lookup columns; a bad one
is refused with a 422 naming the field, and nothing is stored.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.exceptions import StarletteDeprecationWarning

from core.api.app import create_app
from core.db.records import InteractionRow, LeadRow, ServiceCaseRow, SubscriptionRow
from core.kinds import KINDS
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from core.testing.fixtures import migrated_runtime
from tests.kpis.conftest import database

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

WRITER = {"Authorization": "Bearer writer-token-0123456789"}
TOKENS = "writer:writer:writer-token-0123456789"

CASE = {
    "customer_id": "C1",
    "subject": "پمپ صدا می‌دهد",
    "channel": "whatsapp",
    "status": "resolved",
    "opened_at": "2025-10-01T09:00:00+03:30",
    "resolved_at": "2025-10-01T11:00:00+03:30",
}
SURVEY = {"scale": "csat", "rating": 4, "answered_at": "2025-10-01T12:00:00Z", "case_id": "K1"}
SUBSCRIPTION = {
    "customer_id": "C1",
    "amount": "120000000",
    "billing": "annual",
    "start_date": "2025-09-23",
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, SyncRuntime]]:
    """The API on a new database, and its runtime to look at the tables."""
    folder = tmp_path_factory.mktemp("service-records")
    with database(request.param, folder) as url:
        settings = Settings(data_dir=folder / "data", database_url=url, api_tokens=TOKENS)
        runtime = migrated_runtime(settings)
        try:
            with TestClient(create_app(runtime, background=False)) as client:
                yield client, runtime
        finally:
            runtime.close()


def put(served: tuple[TestClient, SyncRuntime], kind: str, rid: str, body: Any) -> Any:
    return served[0].put(f"/v1/{kind}/{rid}", json=body, headers=WRITER)


def stored(served: tuple[TestClient, SyncRuntime], kind: str) -> int:
    table = KINDS[kind].table
    with served[1].engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_valid_records_are_stored_with_their_columns(
    served: tuple[TestClient, SyncRuntime],
) -> None:
    assert put(served, "cases", "K1", CASE).status_code in (200, 201)
    assert put(served, "surveys", "S1", SURVEY).status_code in (200, 201)
    assert put(served, "subscriptions", "U1", SUBSCRIPTION).status_code in (200, 201)
    talk = {"customer_id": "C1", "channel": "call", "direction": "outbound",
            "occurred_at": "2025-10-01T10:00:00+03:30", "case_id": "K1"}  # fmt: skip
    assert put(served, "interactions", "I1", talk).status_code in (200, 201)
    lead = {"contact_name": "سارا", "mql_at": "2025-10-01T09:00:00Z",
            "qualified_at": "2025-10-02T09:00:00Z"}  # fmt: skip
    assert put(served, "leads", "L1", lead).status_code in (200, 201)
    with served[1].engine.connect() as connection:
        case = connection.execute(select(ServiceCaseRow.status, ServiceCaseRow.channel)).one()
        monthly = connection.execute(select(SubscriptionRow.monthly_amount)).scalar_one()
        case_id = connection.execute(select(InteractionRow.case_id)).scalar_one()
        mql_at = connection.execute(select(LeadRow.mql_at)).scalar_one()
    assert tuple(case) == ("resolved", "whatsapp")
    assert monthly == pytest.approx(10_000_000)
    assert case_id == "K1"
    assert mql_at is not None and mql_at.isoformat() == "2025-10-01T09:00:00+00:00"


BAD = [
    ("surveys", {**SURVEY, "rating": 6}, "rating", "a csat rating is from 1 to 5, not 6"),
    ("surveys", {**SURVEY, "scale": "nps", "rating": 11}, "rating", "less than or equal to 10"),
    ("surveys", {**SURVEY, "case_id": None}, None, "needs an interaction_id, a case_id"),
    ("surveys", {**SURVEY, "comment": "a\x00b"}, "comment", "NUL"),
    ("cases", {**CASE, "resolved_at": "2025-10-01T08:00:00+03:30"}, "resolved_at",
     "resolved_at is before opened_at"),
    ("cases", {**CASE, "resolved_at": None}, None, "resolved_at is required"),
    ("cases", {**CASE, "status": "open"}, None, "only for a resolved case"),
    ("cases", {**CASE, "reopened_at": "2025-10-01T12:00:00+03:30"}, "reopened_at",
     "is after resolved_at"),
    ("cases", {**CASE, "agent_interactions": -1}, "agent_interactions", "greater than or equal"),
    ("subscriptions", {**SUBSCRIPTION, "end_date": "2025-09-23"}, "end_date",
     "is not after start_date"),
    ("subscriptions", {**SUBSCRIPTION, "cancelled_on": "2025-09-01"}, "cancelled_on",
     "is before start_date"),
    ("subscriptions", {**SUBSCRIPTION, "billing": "weekly"}, "billing", "'monthly' or 'annual'"),
    ("subscriptions", {**SUBSCRIPTION, "amount": "-5"}, "amount", "greater than or equal"),
    ("leads", {"contact_name": "x", "mql_at": "2025-10-03T09:00:00Z",
               "qualified_at": "2025-10-02T09:00:00Z"}, "mql_at", "is after qualified_at"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "body", "field", "message"), BAD)
def test_a_bad_record_is_refused_naming_the_field_and_nothing_is_stored(
    served: tuple[TestClient, SyncRuntime],
    kind: str,
    body: dict[str, Any],
    field: str | None,
    message: str,
) -> None:
    before = stored(served, kind)
    answer = put(served, kind, "BAD-1", body)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert any(message in error["message"] for error in errors), errors
    if field is not None:
        assert [error["field"] for error in errors] == [field]
    assert stored(served, kind) == before
    assert served[0].get(f"/v1/{kind}/BAD-1", headers=WRITER).status_code == 404
