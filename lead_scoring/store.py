"""Lead scoring's own tables: each lead's stored score breakdown and the predictive models.

The canonical Lead only carries the rounded scores and the grade; the exact breakdown
(which rule gave how many points, and when), the qualification already published as
an event, and the predictive probability with its top factors live here, one row per
lead. Every trained model is kept with its training date, so a prediction can always
be traced to the model that made it. ``core/db/metadata.py`` imports this module so
migrations and schema checks see these tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    String,
    Text,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.engine import reading, upsert
from core.db.types import JSONDocument, UTCDateTime
from lead_scoring.scoring import QualificationLevel, ScoreResult, to_points

#: The qualification levels as stored (``none`` before any threshold is met).
QUALIFICATIONS: tuple[QualificationLevel, ...] = ("none", "mql", "sql")


class LeadScoreRow(Base):
    """The latest score of one lead and its explanation.

    Points are integer hundredths (``fit_cents`` 1250 is 12.50 points), so the
    explanation's lines add up to the scores exactly on every database.
    ``published_qualification`` is the level whose threshold events were published:
    an event goes out once, when the scored level rises above it. ``rules_digest``
    says which rules file gave the score; ``probability``, ``factors`` and
    ``model_id`` are the predictive model's view of the same lead.
    """

    __tablename__ = "lead_scores"

    lead_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    lead_version: Mapped[int] = mapped_column(Integer, nullable=False)
    fit_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    engagement_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    total_cents: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    grade: Mapped[str] = mapped_column(String(8), nullable=False)
    qualification: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    published_qualification: Mapped[str] = mapped_column(String(8), nullable=False)
    rules_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, nullable=False)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    probability: Mapped[float | None] = mapped_column(Float)
    factors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    model_id: Mapped[int | None] = mapped_column(Integer)
    predicted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LeadModelRow(Base):
    """One trained predictive model: its JSON, when it was trained and on how much history."""

    __tablename__ = "lead_score_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    training_rows: Mapped[int] = mapped_column(Integer, nullable=False)
    training_conversions: Mapped[int] = mapped_column(Integer, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)


@dataclass(frozen=True)
class Prediction:
    """A lead's conversion probability and the factors that moved it most."""

    probability: float
    factors: list[dict[str, Any]]
    model_id: int
    predicted_at: datetime


@dataclass(frozen=True)
class StoredScore:
    """A lead's stored score, as ``GET /v1/leads/{id}/score`` shows it."""

    lead_id: str
    lead_version: int
    fit: Decimal
    engagement: Decimal
    total: Decimal
    grade: str
    qualification: QualificationLevel
    published_qualification: QualificationLevel
    rules_digest: str
    explanation: list[dict[str, Any]]
    scored_at: datetime
    prediction: Prediction | None

    @classmethod
    def from_row(cls, row: Any) -> StoredScore:
        """Build from a ``lead_scores`` row."""
        prediction = None
        if row.probability is not None and row.model_id is not None:
            prediction = Prediction(
                row.probability, list(row.factors or []), row.model_id, row.predicted_at
            )
        return cls(
            lead_id=row.lead_id,
            lead_version=row.lead_version,
            fit=to_points(row.fit_cents),
            engagement=to_points(row.engagement_cents),
            total=to_points(row.total_cents),
            grade=row.grade,
            qualification=_level(row.qualification),
            published_qualification=_level(row.published_qualification),
            rules_digest=row.rules_digest,
            explanation=list(row.explanation),
            scored_at=row.scored_at,
            prediction=prediction,
        )


@dataclass(frozen=True)
class StoredModel:
    """A trained model as stored."""

    id: int
    trained_at: datetime
    training_rows: int
    training_conversions: int
    digest: str
    model: str


def _level(value: str) -> QualificationLevel:
    for level in QUALIFICATIONS:
        if value == level:
            return level
    raise ValueError(f"unknown qualification {value!r} in lead_scores")


def _cents(points: Decimal) -> int:
    return int(points * 100)


def get_score(source: Engine | Connection, lead_id: str) -> StoredScore | None:
    """Return the stored score of one lead, or None when it was never scored."""
    with reading(source) as connection:
        row = connection.execute(
            select(LeadScoreRow.__table__).where(LeadScoreRow.lead_id == lead_id)
        ).first()
    return StoredScore.from_row(row) if row is not None else None


class ScoreSummary(NamedTuple):
    """What bulk rescoring compares of a stored score: no explanation, no prediction."""

    lead_id: str
    fit_cents: int
    engagement_cents: int
    grade: str
    qualification: str
    published_qualification: QualificationLevel
    rules_digest: str


_SELECT_SUMMARIES = select(
    LeadScoreRow.lead_id,
    LeadScoreRow.fit_cents,
    LeadScoreRow.engagement_cents,
    LeadScoreRow.grade,
    LeadScoreRow.qualification,
    LeadScoreRow.published_qualification,
    LeadScoreRow.rules_digest,
).where(LeadScoreRow.lead_id.in_(bindparam("ids", expanding=True)))


def get_score_summaries(
    source: Engine | Connection, lead_ids: Sequence[str]
) -> dict[str, ScoreSummary]:
    """Return :class:`ScoreSummary` of many leads by lead id (unscored leads are absent).

    Cheaper than :func:`get_score`: the explanations and factors (JSON) are not read.
    """
    found: dict[str, ScoreSummary] = {}
    with reading(source) as connection:
        for start in range(0, len(lead_ids), 500):
            chunk = list(lead_ids[start : start + 500])
            for row in connection.execute(_SELECT_SUMMARIES, {"ids": chunk}):
                found[row.lead_id] = summary_of(row)
    return found


def summary_of(row: Any) -> ScoreSummary:
    """The :class:`ScoreSummary` of a row holding the summary's columns by name."""
    return ScoreSummary(
        row.lead_id, row.fit_cents, row.engagement_cents, row.grade, row.qualification,
        _level(row.published_qualification), row.rules_digest,
    )  # fmt: skip


def save_scores(
    connection: Connection,
    scores: Sequence[tuple[str, int, ScoreResult, Prediction | None]],
    *,
    rules_digest: str,
) -> None:
    """Store leads' scores and explanations in ``connection``'s transaction.

    ``scores`` holds (lead id, lead version scored, result, prediction); each replaces
    the lead's previous score. The published qualification is kept (a new row starts at
    ``none``): only :func:`publish_qualification` moves it. The prediction is replaced
    only when one is given, so a rescore between two trainings keeps the last one.
    """
    rows: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for lead_id, lead_version, result, prediction in scores:
        values: dict[str, Any] = {
            "lead_id": lead_id,
            "lead_version": lead_version,
            "fit_cents": _cents(result.fit),
            "engagement_cents": _cents(result.engagement),
            "total_cents": _cents(result.total),
            "grade": result.grade,
            "qualification": result.qualification,
            "rules_digest": rules_digest,
            "explanation": [line.as_dict() for line in result.explanation],
            "scored_at": result.scored_at,
        }
        if prediction is not None:
            values.update(_prediction_values(prediction))
        rows[prediction is not None].append(values)
    for with_prediction, values_list in rows.items():
        if values_list:
            statement = _score_upsert(connection.engine, with_prediction=with_prediction)
            connection.execute(statement, values_list)


#: Upserts of ``save_scores`` by (dialect, with a prediction), built once.
_SCORE_UPSERTS: dict[tuple[str, bool], Any] = {}
_SCORE_COLUMNS = (
    "lead_version", "fit_cents", "engagement_cents", "total_cents", "grade", "qualification",
    "rules_digest", "explanation", "scored_at",
)  # fmt: skip
_PREDICTION_COLUMNS = ("probability", "factors", "model_id", "predicted_at")


def _score_upsert(engine: Engine, *, with_prediction: bool) -> Any:
    """The upsert of one lead's score, with bound parameters.

    Building a statement costs more than running it, and the job stores a score for
    every lead it touches.
    """
    key = (engine.dialect.name, with_prediction)
    statement = _SCORE_UPSERTS.get(key)
    if statement is None:
        table = LeadScoreRow.__table__
        names = _SCORE_COLUMNS + (_PREDICTION_COLUMNS if with_prediction else ())
        params = {name: bindparam(name, type_=table.c[name].type) for name in names}
        insert = upsert(engine, LeadScoreRow).values(
            lead_id=bindparam("lead_id"), published_qualification="none", **params
        )
        statement = insert.on_conflict_do_update(
            index_elements=[LeadScoreRow.lead_id],
            set_={name: insert.excluded[name] for name in names},
        )
        _SCORE_UPSERTS[key] = statement
    return statement


def _prediction_values(prediction: Prediction) -> dict[str, Any]:
    return {
        "probability": prediction.probability,
        "factors": prediction.factors,
        "model_id": prediction.model_id,
        "predicted_at": prediction.predicted_at,
    }


def publish_qualification(
    connection: Connection, lead_id: str, old: QualificationLevel, new: QualificationLevel
) -> bool:
    """Move a lead's published qualification from ``old`` to ``new``; False if it was not ``old``.

    A compare-and-set in ``connection``'s transaction: of two processes that saw the
    same crossing, exactly one gets True and publishes the events.
    """
    params = {"p_lead": lead_id, "p_old": old, "p_new": new}
    return bool(connection.execute(_PUBLISH, params).rowcount == 1)


_PUBLISH = (
    update(LeadScoreRow)
    .where(
        LeadScoreRow.lead_id == bindparam("p_lead"),
        LeadScoreRow.published_qualification == bindparam("p_old"),
    )
    .values(published_qualification=bindparam("p_new"))
)


def save_predictions(engine: Engine, predictions: Iterable[tuple[str, Prediction]]) -> int:
    """Store the probability and factors of leads that already have a score row."""
    params = [
        {"lead": lead_id, **_prediction_values(prediction)} for lead_id, prediction in predictions
    ]
    if not params:
        return 0
    statement = (
        update(LeadScoreRow)
        .where(LeadScoreRow.lead_id == bindparam("lead"))
        .values(
            probability=bindparam("probability"),
            factors=bindparam("factors"),
            model_id=bindparam("model_id"),
            predicted_at=bindparam("predicted_at"),
        )
    )
    with engine.begin() as connection:
        connection.execute(statement.execution_options(synchronize_session=False), params)
    return len(params)


def save_model(
    engine: Engine,
    *,
    model_json: str,
    digest: str,
    trained_at: datetime,
    rows: int,
    conversions: int,
) -> int:
    """Store a trained model and return its id."""
    statement = (
        insert(LeadModelRow)
        .values(
            trained_at=trained_at,
            training_rows=rows,
            training_conversions=conversions,
            digest=digest,
            model=model_json,
        )
        .returning(LeadModelRow.id)
    )
    with engine.begin() as connection:
        return int(connection.execute(statement).scalar_one())


#: The id of the most recently trained model.
_LATEST_MODEL_ID = (
    select(LeadModelRow.id)
    .order_by(LeadModelRow.trained_at.desc(), LeadModelRow.id.desc())
    .limit(1)
)


def latest_model_id(source: Engine | Connection) -> int | None:
    """Return the id of the most recently trained model, or None before the first training."""
    with reading(source) as connection:
        found = connection.execute(_LATEST_MODEL_ID).scalar()
    return int(found) if found is not None else None


def model_trained_at(source: Engine | Connection, model_id: int) -> datetime | None:
    """When model ``model_id`` was trained (None when there is no such model)."""
    statement = select(LeadModelRow.trained_at).where(LeadModelRow.id == model_id)
    with reading(source) as connection:
        found = connection.execute(statement).scalar()
    return found if isinstance(found, datetime) else None


def latest_model(source: Engine | Connection) -> StoredModel | None:
    """Return the most recently trained model, or None before the first training."""
    statement = (
        select(LeadModelRow.__table__)
        .order_by(LeadModelRow.trained_at.desc(), LeadModelRow.id.desc())
        .limit(1)
    )
    with reading(source) as connection:
        row = connection.execute(statement).first()
    if row is None:
        return None
    return StoredModel(
        row.id, row.trained_at, row.training_rows, row.training_conversions, row.digest, row.model
    )


__all__ = [
    "LeadModelRow",
    "LeadScoreRow",
    "Prediction",
    "ScoreSummary",
    "StoredModel",
    "StoredScore",
    "get_score",
    "get_score_summaries",
    "latest_model",
    "latest_model_id",
    "model_trained_at",
    "publish_qualification",
    "save_model",
    "save_predictions",
    "save_scores",
    "summary_of",
]
