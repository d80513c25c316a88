"""Custom attributes over the API: declared ones are stored and found, others refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.api.app import create_app
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import PROBLEM, READER, WRITER, TestClient
from tests.core.scripted_plugin import ScriptedPlugin

ATTRIBUTES = {
    "lead": {
        "occupation": {"type": "choice", "choices": ["student", "unemployed", "working"]},
        "time_on_site": {"type": "number"},
        "heard_from": {"type": "text"},
    },
    "customer": {"segment": {"type": "text"}},
}


@pytest.fixture(params=["sqlite", "postgres"])
def client(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
) -> Iterator[TestClient]:
    """The API with declared lead and customer attributes, on SQLite and on PostgreSQL."""
    extra = (
        {}
        if request.param == "sqlite"
        else {"database_url": request.getfixturevalue("postgres_url")}
    )
    settings = make_settings(attributes=ATTRIBUTES, **extra)
    runtime = make_runtime(settings, {"scripted": scripted})
    with TestClient(create_app(runtime, background=False)) as running:
        yield running


def test_a_minimal_lead_with_declared_attributes_is_stored_and_found(
    client: TestClient,
) -> None:
    body = {
        "source": "landing-page",
        "channel": "web",
        "country": "IR",
        "attributes": {"occupation": "student", "time_on_site": 412, "heard_from": "دوستان"},
    }
    answer = client.put("/v1/leads/L-1", json=body, headers=WRITER)
    assert answer.status_code == 201, answer.text
    stored = client.get("/v1/leads/L-1", headers=READER).json()["data"]
    assert stored["attributes"] == body["attributes"]
    assert (stored["channel"], stored["country"]) == ("web", "IR")
    found = client.get("/v1/leads", params={"q": "دوستان"}, headers=READER).json()["items"]
    assert [item["id"] for item in found] == ["L-1"]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"occupation": "pilot"}, "attributes.occupation: expected one of"),
        ({"time_on_site": "412"}, "attributes.time_on_site: expected a number"),
        ({"segment": "retail"}, "attributes.segment: not declared for lead"),
    ],
)
def test_undeclared_or_mistyped_attributes_are_refused_and_nothing_is_written(
    client: TestClient, attributes: dict[str, object], message: str
) -> None:
    good = {"source": "web", "attributes": {"time_on_site": 5}}
    assert client.put("/v1/leads/L-1", json=good, headers=WRITER).status_code == 201
    answer = client.put(
        "/v1/leads/L-1", json={"source": "web", "attributes": attributes}, headers=WRITER
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    assert message in answer.json()["detail"]
    stored = client.get("/v1/leads/L-1", headers=READER).json()
    assert (stored["version"], stored["data"]["attributes"]) == (1, {"time_on_site": 5})
    assert client.put("/v1/leads/L-2", json={"source": "web", "attributes": attributes},
                      headers=WRITER).status_code == 422  # fmt: skip
    assert client.get("/v1/leads/L-2", headers=READER).status_code == 404


def test_customers_carry_their_own_attributes(client: TestClient) -> None:
    body = {"type": "person", "name": "Sara", "attributes": {"segment": "retail"}}
    assert client.put("/v1/customers/C-1", json=body, headers=WRITER).status_code == 201
    body["attributes"] = {"occupation": "student"}
    answer = client.put("/v1/customers/C-1", json=body, headers=WRITER)
    assert answer.status_code == 422
    assert "attributes.occupation: not declared for customer" in answer.json()["detail"]


def test_the_openapi_document_lists_the_declared_attributes(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    lead = schemas["Lead"]["properties"]["attributes"]
    assert lead["additionalProperties"] is False
    assert set(lead["properties"]) == {"heard_from", "occupation", "time_on_site"}
    assert lead["properties"]["occupation"]["enum"] == ["student", "unemployed", "working"]
    assert lead["properties"]["time_on_site"]["type"] == "number"
    customer = schemas["Customer"]["properties"]["attributes"]
    assert set(customer["properties"]) == {"segment"}
