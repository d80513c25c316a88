"""``GET /v1/leads/{id}/score`` and ``GET /v1/leads/{id}/measures``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest

from core.api.app import create_app
from core.sync.runtime import SyncRuntime
from lead_scoring.service import train
from lead_scoring.settings import LeadScoringSettings
from tests.core.api.conftest import READER, TestClient
from tests.lead_scoring.integration.conftest import GOOD_LEAD, drain, interaction, put
from tests.lead_scoring.integration.test_rescore_and_model import history


@pytest.fixture
def client(runtime: SyncRuntime) -> Iterator[TestClient]:
    """The API around the scoring runtime, without background threads."""
    with TestClient(create_app(runtime, background=False)) as running:
        yield running


def test_the_score_endpoint_explains_the_stored_score(
    runtime: SyncRuntime, client: TestClient
) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    put(runtime, "interaction", "I-1", interaction("L-1", "whatsapp", "inbound", days_ago=10))
    drain(runtime)
    answer = client.get("/v1/leads/L-1/score", headers=READER)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["grade"] == "A3"
    assert body["qualification"] == "mql"
    assert (body["fit"], body["engagement"], body["total"]) == ("50.00", "6.35", "56.35")
    assert (body["score"], body["fit_score"], body["engagement_score"]) == (56, 50, 6)
    lines = body["explanation"]
    assert sum(Decimal(line["points"]) for line in lines) == Decimal(body["total"])
    reply = next(line for line in lines if line["rule"] == "WhatsApp reply")
    assert reply["at"].startswith(interaction("L-1", "whatsapp", "inbound", 10)["occurred_at"][:10])
    assert body["points_by_rule"]["fit.max"] == "-30.00"
    assert body["prediction"] is None


def test_the_score_endpoint_shows_the_prediction_and_its_factors(
    scoring_runtime: object, runtime: SyncRuntime, client: TestClient
) -> None:
    history(runtime, 120)
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    settings = LeadScoringSettings(min_history=50, model_min_count=5)
    trained = train(runtime.engine, settings)
    assert trained.model is not None
    body = client.get("/v1/leads/L-1/score", headers=READER).json()
    prediction = body["prediction"]
    assert 0 < prediction["probability"] < 1
    assert prediction["model_id"] == trained.model.id
    assert datetime.fromisoformat(prediction["trained_at"]) == trained.model.trained_at
    assert len(prediction["top_factors"]) == 3
    assert {"feature", "value", "condition", "contribution"} <= set(prediction["top_factors"][0])


def test_lead_measures_report_score_grade_and_owner(
    runtime: SyncRuntime, client: TestClient
) -> None:
    put(runtime, "lead", "L-1", {**GOOD_LEAD, "owner_id": "A-1"})
    drain(runtime)
    body = client.get("/v1/leads/L-1/measures", headers=READER).json()
    assert body["score"] == 50
    assert body["grade"] == "A3"
    assert body["qualification"] == "mql"
    assert body["owner_id"] == "A-1"
    assert body["status"] == "new"
    assert body["sla"] == "pending" and body["assigned_at"] is not None
    assert body["first_response_due_at"] is not None and body["first_response_at"] is None


def test_unknown_and_unscored_leads_are_404(runtime: SyncRuntime, client: TestClient) -> None:
    missing = client.get("/v1/leads/L-404/score", headers=READER)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "there is no lead with id 'L-404'"
    put(runtime, "lead", "L-2", GOOD_LEAD)
    unscored = client.get("/v1/leads/L-2/score", headers=READER)
    assert unscored.status_code == 404
    assert unscored.headers["content-type"].startswith("application/problem+json")
    assert "not been scored" in unscored.json()["detail"]


def test_the_score_endpoint_needs_a_token_and_a_valid_id(client: TestClient) -> None:
    assert client.get("/v1/leads/L-1/score").status_code == 401
    assert client.get("/v1/leads/bad%20id/score", headers=READER).status_code == 422
