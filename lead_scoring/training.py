"""The predictive model: the organisation's won and lost leads as history, training, the cache.

A model is trained from history once there is enough of it, stored with its date, and
every process loads the newest one once (:class:`ModelCache`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from core.db.engine import reading
from core.db.records import OpportunityRow
from core.db.types import utcnow
from lead_scoring.facts import LeadFacts
from lead_scoring.predictive import LeadModel, lead_features
from lead_scoring.reading import LOST_STATUSES, WON_STATUSES, iter_leads, lead_facts
from lead_scoring.settings import LeadScoringSettings
from lead_scoring.store import (
    Prediction,
    StoredModel,
    latest_model,
    latest_model_id,
    save_model,
    save_predictions,
)

log = logging.getLogger(__name__)


class ModelCache:
    """The latest trained model, loaded once per process and reloaded when a newer one exists."""

    stored: StoredModel | None = None
    model: LeadModel | None = None
    checked: dict[str, int] = field(default_factory=dict)

    def current(self, source: Engine | Connection) -> tuple[StoredModel, LeadModel] | None:
        """Return the newest stored model, parsed (None before the first training).

        Only the newest model's id is read each time; the model itself is read and
        parsed again when a newer one was trained.
        """
        with reading(source) as connection:
            newest_id = latest_model_id(connection)
            if newest_id is None:
                return None
            if self.stored is None or self.stored.id != newest_id or self.model is None:
                newest = latest_model(connection)
                if newest is None:
                    return None
                self.stored, self.model = newest, LeadModel.from_json(newest.model)
        return self.stored, self.model


def predict(
    model: LeadModel, model_id: int, facts: Sequence[LeadFacts], top: int, now: datetime
) -> list[Prediction]:
    """Return each lead's probability and its ``top`` factors under ``model``."""
    rows = [lead_features(fact) for fact in facts]
    if not rows:
        return []
    probabilities = model.predict_proba(rows)
    predictions = []
    for row, probability in zip(rows, probabilities, strict=True):
        factors = [
            {
                "feature": factor.feature,
                "value": factor.value,
                "condition": factor.condition,
                "contribution": round(factor.contribution, 6),
            }
            for factor in (model.explain(row, top=top) if top else [])
        ]
        predictions.append(Prediction(float(probability), factors, model_id, now))
    return predictions


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run did: the stored model, or why none was trained."""

    model: StoredModel | None
    history: int
    conversions: int
    predicted: int = 0
    reason: str = ""


def training_history(engine: Engine) -> tuple[list[LeadFacts], list[int]]:
    """Return the profiles of leads with a known outcome, and each outcome (1 won, 0 lost).

    A lead is won when its status is ``converted`` or an opportunity made from it
    (``lead_id``) was won; lost when its status is ``lost`` or ``unqualified`` or its
    opportunities were all lost. Leads still open teach nothing and are left out.
    Rows come ordered by lead id, so the same history always gives the same model.
    """
    opportunity_outcome: dict[str, int] = {}
    with reading(engine) as connection:
        statement = select(OpportunityRow.status, OpportunityRow.data).where(
            OpportunityRow.status.in_(("won", "lost"))
        )
        for status, data in connection.execute(statement):
            lead_id = data.get("lead_id")
            if isinstance(lead_id, str):
                won = 1 if status == "won" else 0
                opportunity_outcome[lead_id] = max(opportunity_outcome.get(lead_id, 0), won)
    facts: list[LeadFacts] = []
    outcomes: list[int] = []
    for chunk in iter_leads(engine, 5000):
        for item in chunk:
            outcome: int | None = opportunity_outcome.get(item.id)
            if outcome is None or (outcome == 0 and item.lead.status in WON_STATUSES):
                if item.lead.status in WON_STATUSES:
                    outcome = 1
                elif item.lead.status in LOST_STATUSES:
                    outcome = 0
            if outcome is not None:
                facts.append(lead_facts(item.lead, item.created_at))
                outcomes.append(outcome)
    return facts, outcomes


def train(
    engine: Engine, settings: LeadScoringSettings, *, now: datetime | None = None
) -> TrainingOutcome:
    """Learn a model from the organisation's won and lost leads, store it, predict every lead.

    Nothing is stored when the history is shorter than ``min_history`` or holds only
    one outcome: ``reason`` says why. The model is deterministic (Newton's method from
    zero), so the same history gives the same model, digest and probabilities.
    """
    now = now or utcnow()
    facts, outcomes = training_history(engine)
    conversions = sum(outcomes)
    if len(facts) < settings.min_history:
        reason = f"{len(facts)} won or lost leads; at least {settings.min_history} are needed"
        return TrainingOutcome(None, len(facts), conversions, reason=reason)
    if conversions in (0, len(facts)):
        return TrainingOutcome(
            None, len(facts), conversions, reason="the history holds only one outcome"
        )
    model = LeadModel.fit(
        [lead_features(fact) for fact in facts],
        outcomes,
        bins=settings.model_bins,
        min_count=settings.model_min_count,
        l2=settings.model_l2,
    )
    text = model.to_json()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    model_id = save_model(
        engine,
        model_json=text,
        digest=digest,
        trained_at=now,
        rows=model.training_rows,
        conversions=model.training_conversions,
    )
    stored = StoredModel(model_id, now, model.training_rows, conversions, digest, text)
    predicted = 0
    for chunk in iter_leads(engine, 2000):
        predictions = predict(
            model,
            model_id,
            [lead_facts(item.lead, item.created_at) for item in chunk],
            settings.top_factors,
            now,
        )
        predicted += save_predictions(
            engine, zip([item.id for item in chunk], predictions, strict=True)
        )
    return TrainingOutcome(stored, len(facts), conversions, predicted)
