"""Lead routes beyond the generic record ones: a lead's score breakdown and its measures.

``GET /v1/leads/{id}/score`` explains a lead's score point by point (the breakdown
the lead-scoring plugin stored) with its predictive probability and top factors;
``GET /v1/leads/{id}/measures`` reports what a sales manager tracks per lead.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from core.api.assignment import lead_measure_fields
from core.api.auth import Principal, require
from core.api.problems import Problem
from core.api.records import RecordIdPath, runtime_of
from core.kinds import kind_by_type
from core.schemas.leads import Lead
from core.store import get_record
from lead_scoring.store import StoredScore, get_score, model_trained_at

router = APIRouter(prefix="/v1/leads", tags=["leads"])


class ScoreLineOut(BaseModel):
    """One line of the explanation: which rule gave how many points, when and why."""

    rule: str
    group: str
    kind: str
    points: str
    at: datetime
    detail: str


class FactorOut(BaseModel):
    """A feature that moved the predicted probability, and by how much (log-odds)."""

    feature: str
    value: str
    condition: str
    contribution: float


class PredictionOut(BaseModel):
    """The predictive model's probability that the lead converts, and why."""

    probability: float
    model_id: int
    trained_at: datetime | None
    predicted_at: datetime
    top_factors: list[FactorOut]


class LeadScoreOut(BaseModel):
    """A lead's stored score: exact points (decimal strings), grade, qualification, reasons.

    ``fit``, ``engagement`` and ``total`` are exact; the explanation's ``points`` add up
    to them. ``score``, ``fit_score`` and ``engagement_score`` are the rounded 0-100
    values written on the Lead. ``prediction`` is null until a model was trained.
    """

    lead_id: str
    lead_version: int
    fit: str
    engagement: str
    total: str
    score: int | None
    fit_score: int | None
    engagement_score: int | None
    grade: str
    qualification: str
    scored_at: datetime
    rules_digest: str
    explanation: list[ScoreLineOut]
    points_by_rule: dict[str, str]
    prediction: PredictionOut | None


class LeadMeasuresOut(BaseModel):
    """What is tracked per lead: score and grade, then ownership and the first-response SLA.

    ``sla`` is none (no owner yet), pending, met or breached; the times are null until
    they happen.
    """

    lead_id: str
    status: str
    score: int | None
    grade: str | None
    qualification: str | None
    probability: float | None
    owner_id: str | None
    assigned_at: datetime | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    sla: str


def _lead(request: Request, lead_id: str) -> Lead:
    stored = get_record(runtime_of(request).engine, kind_by_type("lead"), lead_id)
    if stored is None:
        raise Problem(404, "not-found", f"there is no lead with id {lead_id!r}")
    lead = stored.model()
    assert isinstance(lead, Lead)
    return lead


def _points_by_rule(stored: StoredScore) -> dict[str, str]:
    totals: dict[str, Decimal] = {}
    for line in stored.explanation:
        totals[line["rule"]] = totals.get(line["rule"], Decimal("0.00")) + Decimal(line["points"])
    return {rule: str(points) for rule, points in totals.items()}


@router.get("/{record_id}/score", response_model=LeadScoreOut, summary="Explain a lead's score")
def get_lead_score(
    record_id: RecordIdPath,
    request: Request,
    principal: Annotated[Principal, Depends(require("reader"))],
) -> dict[str, Any]:
    """Return the stored score breakdown, grade, qualification and predictive probability."""
    lead = _lead(request, record_id)
    engine = runtime_of(request).engine
    stored = get_score(engine, record_id)
    if stored is None:
        raise Problem(404, "not-scored", f"lead {record_id!r} has not been scored yet")
    prediction = None
    if stored.prediction is not None:
        trained_at = model_trained_at(engine, stored.prediction.model_id)
        prediction = {
            "probability": stored.prediction.probability,
            "model_id": stored.prediction.model_id,
            "trained_at": trained_at,
            "predicted_at": stored.prediction.predicted_at,
            "top_factors": stored.prediction.factors,
        }
    return {
        "lead_id": record_id,
        "lead_version": stored.lead_version,
        "fit": str(stored.fit),
        "engagement": str(stored.engagement),
        "total": str(stored.total),
        "score": lead.score,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "grade": stored.grade,
        "qualification": stored.qualification,
        "scored_at": stored.scored_at,
        "rules_digest": stored.rules_digest,
        "explanation": stored.explanation,
        "points_by_rule": _points_by_rule(stored),
        "prediction": prediction,
    }


@router.get(
    "/{record_id}/measures", response_model=LeadMeasuresOut, summary="A lead's score, owner and SLA"
)
def get_lead_measures(
    record_id: RecordIdPath,
    request: Request,
    principal: Annotated[Principal, Depends(require("reader"))],
) -> dict[str, Any]:
    """Return per lead: score, grade, qualification, probability, owner and SLA fields."""
    lead = _lead(request, record_id)
    stored = get_score(runtime_of(request).engine, record_id)
    return {
        "lead_id": record_id,
        "status": lead.status,
        "score": lead.score,
        "grade": lead.grade,
        "qualification": stored.qualification if stored is not None else None,
        "probability": (
            stored.prediction.probability
            if stored is not None and stored.prediction is not None
            else None
        ),
        "owner_id": lead.owner_id,
        **lead_measure_fields(request, record_id),
    }


__all__ = ["router"]
