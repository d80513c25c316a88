"""The predictive model: the organisation's won and lost leads as history, training, the cache.

A model is trained from history once there is enough of it, stored with its date, and
every process loads the newest one once (:class:`ModelCache`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from core.db.engine import reading
from core.db.records import OpportunityRow
from core.db.types import utcnow
from lead_scoring.engagement import engagement_features, task_features
from lead_scoring.facts import EngagementEvent, LeadFacts, TaskFacts
from lead_scoring.model_columns import model_columns
from lead_scoring.predictive import LeadModel, lead_features
from lead_scoring.reading import (
    LOST_STATUSES,
    WON_STATUSES,
    iter_leads,
    lead_facts,
    load_events,
    load_tasks,
    load_timeline,
)
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


#: Seconds the newest model's id is trusted before it is read again (see ModelCache).
MODEL_CHECK_SECONDS = 30.0


class ModelCache:
    """The latest trained model, loaded once per process and reloaded when a newer one exists.

    The newest model's id is read at most once every ``check_seconds`` (a statement per
    job otherwise): a model trained meanwhile is used that much later. That is safe, as
    a model is retrained every ``retrain_hours`` and each prediction is stored with the
    id of the model that made it, so a lead scored in that window is traced to the
    model it used and the next rescoring updates it.
    """

    def __init__(
        self,
        check_seconds: float = MODEL_CHECK_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check_seconds = check_seconds
        self.monotonic = monotonic
        self.stored: StoredModel | None = None
        self.model: LeadModel | None = None
        self._checked_at: float | None = None

    def forget(self) -> None:
        """Read the newest model's id on the next call (a model was trained here)."""
        self._checked_at = None

    def current(
        self, source: Engine | Connection, *, fresh: bool = False
    ) -> tuple[StoredModel, LeadModel] | None:
        """Return the newest stored model, parsed (None before the first training).

        Only the newest model's id is read, once per ``check_seconds`` unless ``fresh``;
        the model itself is read and parsed again when a newer one was trained.
        """
        now = self.monotonic()
        checked = self._checked_at
        if not fresh and checked is not None and 0 <= now - checked < self.check_seconds:
            if self.stored is None or self.model is None:
                return None
            return self.stored, self.model
        with reading(source) as connection:
            newest_id = latest_model_id(connection)
            if newest_id is None:
                self.stored = self.model = None
            elif self.stored is None or self.stored.id != newest_id or self.model is None:
                newest = latest_model(connection)
                self.stored = newest
                self.model = LeadModel.from_json(newest.model) if newest is not None else None
        self._checked_at = now
        if self.stored is None or self.model is None:
            return None
        return self.stored, self.model


def model_row(
    lead: LeadFacts,
    events: Sequence[EngagementEvent],
    at: datetime,
    tasks: Sequence[TaskFacts] = (),
) -> dict[str, Any]:
    """Return a lead's model features as of ``at``: its profile, engagement and tasks then.

    ``events`` are its engagement events and its timeline events (``timeline.<type>``).
    """
    return {
        **lead_features(lead),
        **engagement_features(events, at, lead.created_at),
        **task_features(tasks, at),
    }


@dataclass(frozen=True)
class ModelHistory:
    """What the model reads besides the profiles: events with the timeline added, tasks.

    ``events[i]`` and ``tasks[i]`` belong to the i-th lead asked for.
    """

    events: list[list[EngagementEvent]]
    tasks: list[list[TaskFacts]]


def model_history(
    source: Engine | Connection,
    lead_ids: Sequence[str],
    events: Sequence[Sequence[EngagementEvent]],
) -> ModelHistory:
    """Return each lead's engagement ``events`` with its timeline events, and its tasks."""
    timeline = load_timeline(source, lead_ids)
    tasks = load_tasks(source, lead_ids)
    return ModelHistory(
        [
            [*lead_events, *timeline.get(lead_id, [])]
            for lead_id, lead_events in zip(lead_ids, events, strict=True)
        ],
        [tasks.get(lead_id, []) for lead_id in lead_ids],
    )


def predict(
    model: LeadModel,
    model_id: int,
    facts: Sequence[LeadFacts],
    history: ModelHistory,
    top: int,
    now: datetime,
) -> list[Prediction]:
    """Return each lead's probability and its ``top`` factors under ``model``, as of ``now``.

    ``history`` holds the events and tasks of each lead of ``facts``, in order. The
    leads' features are columns (:func:`model_columns`), scored at once by
    :meth:`LeadModel.predict_columns`.
    """
    if not facts:
        return []
    columns = model_columns(facts, history.events, [now] * len(facts), history.tasks)
    scores = model.predict_columns(columns, len(facts), top)
    predictions = []
    for row, probability in enumerate(scores.probabilities.tolist()):
        stored = [
            {
                "feature": factor.feature,
                "value": factor.value,
                "condition": factor.condition,
                "contribution": round(factor.contribution, 6),
            }
            for factor in scores.factors(row)
        ]
        predictions.append(Prediction(probability, stored, model_id, now))
    return predictions


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run did: the stored model, or why none was trained."""

    model: StoredModel | None
    history: int
    conversions: int
    predicted: int = 0
    reason: str = ""


@dataclass(frozen=True)
class TrainingHistory:
    """Leads with a known outcome: ids, profiles, outcomes (1 won, 0 lost), and when.

    ``decided_at[i]`` is the moment lead i's outcome was known: its ``closed_at``, or,
    when the CRM does not send one, the last change of its record. The model learns
    lead i's engagement as it was then, never from anything later.
    """

    ids: list[str] = field(default_factory=list)
    facts: list[LeadFacts] = field(default_factory=list)
    outcomes: list[int] = field(default_factory=list)
    decided_at: list[datetime] = field(default_factory=list)


def training_history(engine: Engine) -> TrainingHistory:
    """Return the leads with a known outcome (see :class:`TrainingHistory`).

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
    history = TrainingHistory()
    for chunk in iter_leads(engine, 5000):
        for item in chunk:
            outcome: int | None = opportunity_outcome.get(item.id)
            if outcome is None or (outcome == 0 and item.lead.status in WON_STATUSES):
                if item.lead.status in WON_STATUSES:
                    outcome = 1
                elif item.lead.status in LOST_STATUSES:
                    outcome = 0
            if outcome is not None:
                history.ids.append(item.id)
                history.facts.append(lead_facts(item.lead, item.created_at))
                history.outcomes.append(outcome)
                history.decided_at.append(item.lead.closed_at or item.updated_at or item.created_at)
    return history


def train(
    engine: Engine, settings: LeadScoringSettings, *, now: datetime | None = None
) -> TrainingOutcome:
    """Learn a model from the organisation's won and lost leads, store it, predict every lead.

    Nothing is stored when the history is shorter than ``min_history`` or holds only
    one outcome: ``reason`` says why. The model is deterministic (Newton's method from
    zero), so the same history gives the same model, digest and probabilities.
    """
    now = now or utcnow()
    history = training_history(engine)
    facts, outcomes = history.facts, history.outcomes
    conversions = sum(outcomes)
    if len(facts) < settings.min_history:
        reason = f"{len(facts)} won or lost leads; at least {settings.min_history} are needed"
        return TrainingOutcome(None, len(facts), conversions, reason=reason)
    if conversions in (0, len(facts)):
        return TrainingOutcome(
            None, len(facts), conversions, reason="the history holds only one outcome"
        )
    mapping = settings.interaction_events
    events = load_events(engine, history.ids, mapping)
    known = model_history(engine, history.ids, [events.get(i, []) for i in history.ids])
    columns = model_columns(facts, known.events, history.decided_at, known.tasks)
    model = LeadModel.fit_columns(
        columns,
        outcomes,
        size=len(facts),
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
        ids = [item.id for item in chunk]
        chunk_events = load_events(engine, ids, mapping)
        predictions = predict(
            model,
            model_id,
            [lead_facts(item.lead, item.created_at) for item in chunk],
            model_history(engine, ids, [chunk_events.get(i, []) for i in ids]),
            settings.top_factors,
            now,
        )
        predicted += save_predictions(
            engine, zip([item.id for item in chunk], predictions, strict=True)
        )
    return TrainingOutcome(stored, len(facts), conversions, predicted)
