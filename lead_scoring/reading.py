"""Canonical records as scoring inputs: leads, their interactions and profiles, read in bulk.

The scorers are pure (:mod:`lead_scoring.scoring`, :mod:`lead_scoring.bulk`); this reads
what they take out of the core's tables, a chunk at a time, and turns a result back
into the lead's rounded fields.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    String,
    bindparam,
    cast,
    null,
    select,
    union_all,
)

from core.db.engine import reading
from core.db.records import EventRow, InteractionRow, LeadRow, TaskRow
from core.schemas.attributes import AttributeSpec
from core.schemas.leads import Lead
from lead_scoring.facts import (
    TEXT_FIELDS,
    AttributeValue,
    Direction,
    EngagementEvent,
    LeadFacts,
    TaskFacts,
)
from lead_scoring.rule_attributes import check_rule_attributes
from lead_scoring.rules import ScoringRules
from lead_scoring.scoring import QualificationEvent, ScoreResult
from lead_scoring.settings import LeadScoringSettings
from lead_scoring.store import LeadScoreRow, Prediction, ScoreSummary, summary_of

log = logging.getLogger(__name__)

#: Adds plugin signals for a lead: (lead id, lead) -> engagement events.
Signals = Callable[[str, Lead], list[EngagementEvent]]

#: Lead statuses that count as won and as lost when the model learns from history.
WON_STATUSES = frozenset({"converted"})
LOST_STATUSES = frozenset({"lost", "unqualified"})


def no_signals(lead_id: str, lead: Lead) -> list[EngagementEvent]:
    """Signals of a process without plugins that add any."""
    return []


@dataclass(frozen=True)
class ScoringConfig:
    """What scoring needs besides the records: the rules, their digest and the settings."""

    rules: ScoringRules
    rules_digest: str
    settings: LeadScoringSettings

    @classmethod
    def load(
        cls, settings: LeadScoringSettings, attributes: Mapping[str, AttributeSpec] | None = None
    ) -> ScoringConfig:
        """Load the configured rules file (raises RulesError naming the bad rule).

        With the declared lead ``attributes``, a rule on an undeclared attribute or one
        tested against its type raises RuleAttributesError, in one line.
        """
        rules, digest = settings.load_rules()
        if attributes is not None:
            check_rule_attributes(rules, attributes, source=settings.rules_text()[1])
        return cls(rules, digest, settings)


@dataclass(frozen=True)
class LeadInput:
    """One lead as loaded for scoring: its record, version, creation and change times."""

    id: str
    version: int
    lead: Lead
    created_at: datetime
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ScoredLead:
    """What scoring one lead did, as the job and ``score_ids`` report it.

    ``version`` is the lead's version after the write-back (the one assignment should
    build on); ``written`` says whether the write-back changed the lead; ``events``
    are the threshold events published now (empty when none was crossed).
    """

    lead_id: str
    lead: Lead
    version: int
    result: ScoreResult
    events: tuple[QualificationEvent, ...]
    written: bool
    prediction: Prediction | None


class PendingScore(NamedTuple):
    """A lead scored but not stored yet: the lead, its result, what it replaces, prediction."""

    item: LeadInput
    result: ScoreResult
    previous: ScoreSummary | None
    prediction: Prediction | None


@dataclass
class StoredBatch:
    """What :meth:`LeadScorer.store_in` wrote: the scored leads, and messages to send.

    ``sends`` holds (plugin, type, id) for each outbox row queued, to dispatch once the
    transaction has committed.
    """

    scored: list[ScoredLead] = field(default_factory=list)
    sends: list[tuple[str, str, str]] = field(default_factory=list)


def lead_facts(lead: Lead | Row[Any], created_at: datetime) -> LeadFacts:
    """Return the profile of a canonical lead as fit rules see it.

    ``lead`` is a Lead, or a row holding its profile fields by name (text as stored,
    the budget as its JSON text) as bulk rescoring reads them.
    """
    budget = lead.budget
    return LeadFacts(
        created_at=created_at,
        source=lead.source,
        campaign=lead.campaign,
        channel=lead.channel,
        country=lead.country,
        province=lead.province,
        city=lead.city,
        industry=lead.industry,
        job_title=lead.job_title,
        company_size=lead.company_size,
        budget=Decimal(budget) if isinstance(budget, str) else budget,
        attributes=fact_attributes(lead.attributes),
    )


def fact_attributes(attributes: Mapping[str, object] | None) -> dict[str, AttributeValue]:
    """Return stored custom attributes as scoring reads them: true/false become text."""
    facts: dict[str, AttributeValue] = {}
    for name, value in (attributes or {}).items():
        if isinstance(value, bool):
            facts[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            facts[name] = value
    return facts


def interaction_event(
    channel: str, direction: str, occurred_at: datetime, mapping: dict[str, str]
) -> EngagementEvent | None:
    """Return the engagement event an interaction stands for, or None (``mapping`` says)."""
    event_type = mapping.get(f"{channel}.{direction}")
    if event_type is None:
        return None
    way: Direction | None = direction if direction in ("inbound", "outbound") else None  # type: ignore[assignment]
    return EngagementEvent(event_type, occurred_at, direction=way)


_SELECT_LEADS = select(
    LeadRow.id, LeadRow.version, LeadRow.data, LeadRow.created_at, LeadRow.updated_at
).where(LeadRow.id.in_(bindparam("ids", expanding=True)))


def load_leads(source: Engine | Connection, lead_ids: Sequence[str]) -> dict[str, LeadInput]:
    """Load leads by id (missing ids are absent from the answer)."""
    found: dict[str, LeadInput] = {}
    with reading(source) as connection:
        for start in range(0, len(lead_ids), 500):
            chunk = list(lead_ids[start : start + 500])
            for row in connection.execute(_SELECT_LEADS, {"ids": chunk}):
                found[row.id] = LeadInput(
                    row.id, row.version, Lead.model_validate(row.data), row.created_at,
                    row.updated_at,
                )  # fmt: skip
    return found


def iter_leads(engine: Engine, chunk: int) -> Iterator[list[LeadInput]]:
    """Yield every lead in chunks, ordered by id (keyset paging, so memory stays flat)."""
    after: str | None = None
    while True:
        statement = select(
            LeadRow.id, LeadRow.version, LeadRow.data, LeadRow.created_at, LeadRow.updated_at
        )
        if after is not None:
            statement = statement.where(LeadRow.id > after)
        statement = statement.order_by(LeadRow.id).limit(chunk)
        with reading(engine) as connection:
            rows = connection.execute(statement).all()
        if not rows:
            return
        yield [
            LeadInput(
                row.id, row.version, Lead.model_validate(row.data), row.created_at, row.updated_at
            )
            for row in rows
        ]
        after = rows[-1].id


@dataclass(frozen=True)
class LeadProfile:
    """A lead as bulk rescoring reads it: its profile and the fields scoring wrote back.

    ``written`` is (score, fit_score, engagement_score, grade) as stored on the Lead.
    """

    id: str
    version: int
    facts: LeadFacts
    written: tuple[int | None, int | None, int | None, str | None]


_SELECT_PROFILES = select(
    LeadRow.id,
    LeadRow.version,
    LeadRow.created_at,
    LeadRow.score,
    LeadRow.fit_score,
    LeadRow.engagement_score,
    LeadRow.grade,
    *(LeadRow.data[name].as_string().label(name) for name in TEXT_FIELDS),
    LeadRow.data["company_size"].as_integer().label("company_size"),
    LeadRow.data["budget"].as_string().label("budget"),
    LeadRow.data["attributes"].label("attributes"),
)


def iter_profiles(engine: Engine, chunk: int) -> Iterator[list[LeadProfile]]:
    """Yield every lead's :class:`LeadProfile` in chunks, ordered by id (keyset paging).

    The profile fields are taken out of the stored documents by the database, so no
    document is parsed or validated here: the documents were validated when stored.
    """
    after: str | None = None
    while True:
        statement = _SELECT_PROFILES
        if after is not None:
            statement = statement.where(LeadRow.id > after)
        with reading(engine) as connection:
            rows = connection.execute(statement.order_by(LeadRow.id).limit(chunk)).all()
        if not rows:
            return
        yield [
            LeadProfile(
                row.id,
                row.version,
                lead_facts(row, row.created_at),
                (row.score, row.fit_score, row.engagement_score, row.grade),
            )
            for row in rows
        ]
        after = rows[-1].id


def load_events(
    source: Engine | Connection, lead_ids: Sequence[str], mapping: dict[str, str]
) -> dict[str, list[EngagementEvent]]:
    """Return the engagement events of each lead's interactions (linked by ``lead_id``)."""
    events: dict[str, list[EngagementEvent]] = defaultdict(list)
    with reading(source) as connection:
        for start in range(0, len(lead_ids), 500):
            chunk = list(lead_ids[start : start + 500])
            statement = select(
                InteractionRow.lead_id,
                InteractionRow.channel,
                InteractionRow.occurred_at,
                InteractionRow.data["direction"].as_string(),
            ).where(InteractionRow.lead_id.in_(chunk))
            for lead_id, channel, occurred_at, direction in connection.execute(statement):
                event = interaction_event(channel, direction, occurred_at, mapping)
                if event is not None:
                    events[lead_id].append(event)
    return events


def _none(type_: Any) -> Any:
    """A typed NULL, so both sides of a UNION agree on a column's type."""
    return cast(null(), type_)


_EVENT_AND_SCORE_IDS: Any = bindparam("ids", expanding=True)
#: A lead's interactions and its stored score summary in one round trip, told apart
#: by ``what`` (``i``: an interaction, ``s``: the score): the job needs both before it
#: scores, and each costs a round trip of its own otherwise.
_SELECT_EVENTS_AND_SCORES = union_all(
    select(
        InteractionRow.lead_id.label("lead_id"),
        cast("i", String).label("what"),
        InteractionRow.channel.label("channel"),
        InteractionRow.occurred_at.label("occurred_at"),
        InteractionRow.data["direction"].as_string().label("direction"),
        _none(Integer).label("fit_cents"),
        _none(Integer).label("engagement_cents"),
        _none(String).label("grade"),
        _none(String).label("qualification"),
        _none(String).label("published_qualification"),
        _none(String).label("rules_digest"),
    ).where(InteractionRow.lead_id.in_(_EVENT_AND_SCORE_IDS)),
    select(
        LeadScoreRow.lead_id,
        cast("s", String),
        _none(String),
        _none(InteractionRow.occurred_at.type),
        _none(String),
        LeadScoreRow.fit_cents,
        LeadScoreRow.engagement_cents,
        LeadScoreRow.grade,
        LeadScoreRow.qualification,
        LeadScoreRow.published_qualification,
        LeadScoreRow.rules_digest,
    ).where(LeadScoreRow.lead_id.in_(_EVENT_AND_SCORE_IDS)),
)


def load_events_and_scores(
    source: Engine | Connection, lead_ids: Sequence[str], mapping: dict[str, str]
) -> tuple[dict[str, list[EngagementEvent]], dict[str, ScoreSummary]]:
    """Each lead's engagement events (as :func:`load_events`) and stored score summary.

    One statement per 500 leads instead of two: what the job reads before it scores.
    Unscored leads are absent from the summaries.
    """
    events: dict[str, list[EngagementEvent]] = defaultdict(list)
    summaries: dict[str, ScoreSummary] = {}
    with reading(source) as connection:
        for start in range(0, len(lead_ids), 500):
            chunk = list(lead_ids[start : start + 500])
            for row in connection.execute(_SELECT_EVENTS_AND_SCORES, {"ids": chunk}):
                if row.what == "s":
                    summaries[row.lead_id] = summary_of(row)
                    continue
                event = interaction_event(row.channel, row.direction, row.occurred_at, mapping)
                if event is not None:
                    events[row.lead_id].append(event)
    return events, summaries


#: The plugin's own name: its ``lead.mql`` / ``lead.sql`` events are its output, not
#: something the lead did, so the model does not learn from them.
OWN_SOURCE = "lead_scoring"


def load_timeline(
    source: Engine | Connection, lead_ids: Sequence[str]
) -> dict[str, list[EngagementEvent]]:
    """Return the events on each lead's timeline as ``timeline.<type>`` events, for the model.

    The scoring plugin's own events are left out (see ``OWN_SOURCE``).
    """
    events: dict[str, list[EngagementEvent]] = defaultdict(list)
    with reading(source) as connection:
        for start in range(0, len(lead_ids), 500):
            chunk = list(lead_ids[start : start + 500])
            statement = select(
                EventRow.subject_id,
                EventRow.type,
                EventRow.occurred_at,
                EventRow.data["source"].as_string(),
            ).where(EventRow.subject_type == "lead", EventRow.subject_id.in_(chunk))
            for lead_id, type_, occurred_at, origin in connection.execute(statement):
                if origin != OWN_SOURCE:
                    events[lead_id].append(EngagementEvent(f"timeline.{type_}", occurred_at))
    return events


def load_tasks(source: Engine | Connection, lead_ids: Sequence[str]) -> dict[str, list[TaskFacts]]:
    """Return the follow-up tasks about each lead (``related_type = "lead"``)."""
    tasks: dict[str, list[TaskFacts]] = defaultdict(list)
    with reading(source) as connection:
        for start in range(0, len(lead_ids), 500):
            chunk = list(lead_ids[start : start + 500])
            statement = select(
                TaskRow.related_id, TaskRow.created_at, TaskRow.due_at, TaskRow.done_at
            ).where(TaskRow.related_type == "lead", TaskRow.related_id.in_(chunk))
            for lead_id, created_at, due_at, done_at in connection.execute(statement):
                tasks[str(lead_id)].append(TaskFacts(created_at, due_at, done_at))
    return tasks


# -- scores -> lead fields -----------------------------------------------------------


def percent(points: Decimal) -> int:
    """Round points half up to a whole number and clamp it to the Lead's 0-100 range."""
    whole = int(points.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return max(0, min(100, whole))


def lead_fields(result: ScoreResult) -> dict[str, Any]:
    """Return the Lead fields a score writes back: score, fit_score, engagement_score, grade."""
    return {
        "score": percent(result.total),
        "fit_score": percent(result.fit),
        "engagement_score": percent(result.engagement),
        "grade": result.grade,
    }
