"""From canonical records to scores and back: the glue between core and the pure scorers.

The plugin's job, ``crm-sync score --all`` and the scheduled jobs all come through here,
so every path stores a score the same way: the lead's rounded scores and grade written
back through the records facade, the exact breakdown in ``lead_scores``, and the
``lead.mql`` / ``lead.sql`` events published once, when a lead rises across a threshold.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Row, bindparam, select

from core.db.engine import reading
from core.db.records import InteractionRow, LeadRow, OpportunityRow
from core.db.types import utcnow
from core.kinds import KINDS_BY_TYPE
from core.records import RecordAccess, emit_event_in
from core.schemas.leads import Lead
from core.store import ConcurrentUpdate, RecordUpdate, update_records_in
from lead_scoring.bulk import score_many
from lead_scoring.engagement import engagement_features
from lead_scoring.facts import (
    TEXT_FIELDS,
    AttributeValue,
    Direction,
    EngagementEvent,
    LeadFacts,
)
from lead_scoring.predictive import LeadModel, lead_features
from lead_scoring.rules import ScoringRules
from lead_scoring.scoring import QualificationEvent, ScoreResult, score, threshold_events
from lead_scoring.settings import LeadScoringSettings
from lead_scoring.store import (
    Prediction,
    ScoreSummary,
    StoredModel,
    get_score_summaries,
    latest_model,
    latest_model_id,
    publish_qualification,
    save_model,
    save_predictions,
    save_scores,
)

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
    def load(cls, settings: LeadScoringSettings) -> ScoringConfig:
        """Load the configured rules file (raises RulesError naming the bad rule)."""
        rules, digest = settings.load_rules()
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


# -- canonical records -> scoring inputs ------------------------------------------------


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


# -- the predictive model --------------------------------------------------------------


@dataclass
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


def model_row(lead: LeadFacts, events: Sequence[EngagementEvent], at: datetime) -> dict[str, Any]:
    """Return a lead's model features as of ``at``: its profile and its engagement then."""
    return {**lead_features(lead), **engagement_features(events, at, lead.created_at)}


def predict(
    model: LeadModel,
    model_id: int,
    facts: Sequence[LeadFacts],
    events: Sequence[Sequence[EngagementEvent]],
    top: int,
    now: datetime,
) -> list[Prediction]:
    """Return each lead's probability and its ``top`` factors under ``model``, as of ``now``.

    ``events[i]`` are the engagement events of ``facts[i]``.
    """
    rows = [
        model_row(fact, lead_events, now) for fact, lead_events in zip(facts, events, strict=True)
    ]
    if not rows:
        return []
    probabilities, top_factors = model.predict_with_factors(rows, top)
    predictions = []
    for probability, factors in zip(probabilities, top_factors, strict=True):
        stored = [
            {
                "feature": factor.feature,
                "value": factor.value,
                "condition": factor.condition,
                "contribution": round(factor.contribution, 6),
            }
            for factor in factors
        ]
        predictions.append(Prediction(float(probability), stored, model_id, now))
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
    rows = [
        model_row(fact, events.get(lead_id, []), at)
        for lead_id, fact, at in zip(history.ids, facts, history.decided_at, strict=True)
    ]
    model = LeadModel.fit(
        rows,
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
        chunk_events = load_events(engine, [item.id for item in chunk], mapping)
        predictions = predict(
            model,
            model_id,
            [lead_facts(item.lead, item.created_at) for item in chunk],
            [chunk_events.get(item.id, []) for item in chunk],
            settings.top_factors,
            now,
        )
        predicted += save_predictions(
            engine, zip([item.id for item in chunk], predictions, strict=True)
        )
    return TrainingOutcome(stored, len(facts), conversions, predicted)


# -- scoring -------------------------------------------------------------------------


class LeadScorer:
    """Scores leads from their records and stores the results, for one process.

    ``records`` is the plugin's records facade (write-back and events go through it, so
    the plugin's own write is not echoed back to it); ``signals`` adds plugin signals.
    """

    def __init__(
        self,
        engine: Engine,
        records: RecordAccess,
        config: ScoringConfig,
        *,
        signals: Signals = no_signals,
    ) -> None:
        self.engine = engine
        self.records = records
        self.config = config
        self.signals = signals
        self.models = ModelCache()

    def events_of(
        self, inputs: Sequence[LeadInput], source: Engine | Connection | None = None
    ) -> dict[str, list[EngagementEvent]]:
        """Return every lead's engagement events: its interactions, then plugin signals."""
        mapping = self.config.settings.interaction_events
        events = load_events(source or self.engine, [item.id for item in inputs], mapping)
        for item in inputs:
            extra = self.signals(item.id, item.lead)
            if extra:
                events[item.id].extend(extra)
        return events

    def score_ids(
        self, lead_ids: Sequence[str], *, now: datetime | None = None
    ) -> list[ScoredLead]:
        """Score the leads with these ids (unknown ids are skipped) and store the results."""
        with reading(self.engine) as reader:
            inputs = load_leads(reader, list(dict.fromkeys(lead_ids)))
            batch = self.compute(list(inputs.values()), reader, now=now)
        return self.store_many(batch)

    def compute(
        self, inputs: Sequence[LeadInput], reader: Connection, *, now: datetime | None = None
    ) -> list[PendingScore]:
        """Score loaded leads with :func:`score`, reading what scoring needs on ``reader``.

        Nothing is written: the answer is what :meth:`store_in` stores (the lead, its
        new result, the stored score it replaces and the model's prediction).
        """
        now = now or utcnow()
        events = self.events_of(inputs, reader)
        stored = get_score_summaries(reader, [item.id for item in inputs])
        facts = [lead_facts(item.lead, item.created_at) for item in inputs]
        lead_events = [events.get(item.id, []) for item in inputs]
        predictions = self._predictions(facts, lead_events, now, reader)
        batch = []
        for index, item in enumerate(inputs):
            result = score(facts[index], events.get(item.id, []), self.config.rules, now)
            prediction = predictions[index] if predictions else None
            batch.append(PendingScore(item, result, stored.get(item.id), prediction))
        return batch

    def store_many(self, batch: Sequence[PendingScore]) -> list[ScoredLead]:
        """Store a batch of scores in one transaction (see :meth:`store_in`).

        The outbox messages go out after the commit. A lead that changed since it was
        read is left out: its change queued it for this plugin again, and that job
        scores the new version.
        """
        if not batch:
            return []
        with self.engine.begin() as connection:
            stored = self.store_in(connection, batch)
        self.send(stored.sends)
        return stored.scored

    def send(self, sends: Sequence[tuple[str, str, str]]) -> None:
        """Dispatch committed outbox rows, (plugin, type, id): one call per plugin.

        The runtime splits each plugin's refs into messages of the plugin's batch size.
        """
        refs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for plugin, type_, record_id in sends:
            refs[plugin].append((type_, record_id))
        for plugin, plugin_refs in refs.items():
            self.records.dispatch(plugin, plugin_refs)

    def store_in(
        self,
        connection: Connection,
        batch: Sequence[PendingScore],
        *,
        also: dict[str, dict[str, Any]] | None = None,
        strict: bool = False,
    ) -> StoredBatch:
        """Write a batch of scores in ``connection``'s transaction, a few statements in all.

        Each changed lead is written back on top of the version that was scored (the
        loaded document is updated in place, not validated again), together with the
        fields ``also`` names for it (the owner an assignment gives it in the same
        transaction); its binding moves to the new version, its breakdown is stored and
        the threshold events it crossed are published, each once. A lead that changed
        since it was read is left out of the answer, or raises ConcurrentUpdate when
        ``strict``. The messages to send after the commit are in the answer.
        """
        records = self.records
        now = utcnow()
        wanted: dict[str, dict[str, Any]] = {}
        updates = []
        for entry in batch:
            item = entry.item
            wanted[item.id] = {**lead_fields(entry.result), **(also or {}).get(item.id, {})}
            if any(getattr(item.lead, name) != value for name, value in wanted[item.id].items()):
                model = item.lead.model_copy(update=wanted[item.id])
                updates.append(RecordUpdate(item.id, model, item.version, item.id))
        others = [plugin for plugin in records.subscribers("lead") if plugin != records.plugin]
        written = update_records_in(
            connection, KINDS_BY_TYPE["lead"], updates, subscribers=others,
            origin=records.plugin, now=now,
        )  # fmt: skip
        stale = {update.id for update in updates} - set(written)
        if strict and stale:
            raise ConcurrentUpdate(f"leads {sorted(stale)} changed since they were scored")
        kept = [entry for entry in batch if entry.item.id not in stale]
        versions = {entry.item.id: written.get(entry.item.id, entry.item.version) for entry in kept}
        save_scores(
            connection,
            [(e.item.id, versions[e.item.id], e.result, e.prediction) for e in kept],
            rules_digest=self.config.rules_digest,
        )
        answer = StoredBatch()
        for item, result, previous, prediction in kept:
            changed = item.id in written
            if changed:
                answer.sends.extend((plugin, "lead", item.id) for plugin in others)
            published = previous.published_qualification if previous is not None else "none"
            events = self._publish(connection, item.id, published, result, now, answer.sends)
            lead = item.lead.model_copy(update=wanted[item.id]) if changed else item.lead
            answer.scored.append(
                ScoredLead(item.id, lead, versions[item.id], result, events, changed, prediction)
            )
        return answer

    def _predictions(
        self,
        facts: Sequence[LeadFacts],
        events: Sequence[Sequence[EngagementEvent]],
        now: datetime,
        source: Engine | Connection | None = None,
    ) -> list[Prediction]:
        current = self.models.current(source or self.engine)
        if current is None:
            return []
        stored, model = current
        return predict(model, stored.id, facts, events, self.config.settings.top_factors, now)

    def _publish(
        self,
        connection: Connection,
        lead_id: str,
        published: Any,
        result: ScoreResult,
        now: datetime,
        sends: list[tuple[str, str, str]],
    ) -> tuple[QualificationEvent, ...]:
        """Publish the threshold events from ``published`` up to the new qualification, once.

        Runs in ``connection``'s transaction (the compare-and-set of the published
        qualification and the events commit together); messages are added to ``sends``.
        """
        new = result.qualification
        if new == published:
            return ()
        if not publish_qualification(connection, lead_id, published, new):
            return ()
        events = threshold_events(published, new)
        payload = {
            "score": str(result.total),
            "fit": str(result.fit),
            "engagement": str(result.engagement),
            "grade": result.grade,
            "qualification": new,
            "scored_at": result.scored_at.isoformat(),
        }
        records = self.records
        for event in events:
            event_id, plugins = emit_event_in(
                connection, event, "lead", lead_id, payload, source=records.plugin,
                subscribers=records.subscribers, now=now,
            )  # fmt: skip
            sends.extend((plugin, "event", event_id) for plugin in plugins)
        return tuple(events)

    # -- every lead at once ----------------------------------------------------------

    def rescore_all(
        self,
        *,
        chunk: int = 5000,
        now: datetime | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> RescoreOutcome:
        """Rescore every lead with the bulk path; store and write back only what changed.

        Each chunk's profiles are read from the stored documents by the database (no
        document is parsed here, unless a plugin adds signals and needs whole leads)
        and scored with :func:`score_many`. A lead whose scores, grade, qualification or
        rules differ from what is stored (or whose written-back fields differ) is then
        loaded whole, scored with :func:`score` for its full explanation and stored
        exactly as the job stores it. The two paths must agree: a difference is an error.
        """
        now = now or utcnow()
        outcome = RescoreOutcome()
        rules = self.config.rules
        mapping = self.config.settings.interaction_events
        predictions_model = self.models.current(self.engine)
        for profiles in iter_profiles(self.engine, chunk):
            ids = [profile.id for profile in profiles]
            with reading(self.engine) as reader:
                if self.signals is no_signals:
                    events = load_events(reader, ids, mapping)
                else:
                    events = self.events_of(list(load_leads(reader, ids).values()), reader)
                stored = get_score_summaries(reader, ids)
            lead_events = [events.get(lead_id, []) for lead_id in ids]
            bulk = score_many([p.facts for p in profiles], lead_events, rules, now)
            changed = {
                profile.id: row
                for row, profile in enumerate(profiles)
                if self._changed(profile, stored.get(profile.id), bulk, row)
            }
            batch = []
            if changed:
                with reading(self.engine) as reader:
                    leads = load_leads(reader, list(changed))
            for lead_id, row in changed.items():
                item = leads.get(lead_id)
                if item is None:  # deleted since the chunk was read
                    continue
                facts = lead_facts(item.lead, item.created_at)
                result = score(facts, lead_events[row], rules, now)
                same = int(result.total * 100) == int(bulk.total[row])
                if item.version == profiles[row].version and (
                    not same or result.grade != bulk.grade(row)
                ):
                    raise AssertionError(f"bulk and per-lead scores of lead {lead_id} differ")
                prediction = None
                if predictions_model is not None:
                    stored_model, model = predictions_model
                    top = self.config.settings.top_factors
                    prediction = predict(
                        model, stored_model.id, [facts], [lead_events[row]], top, now
                    )[0]
                batch.append(PendingScore(item, result, stored.get(lead_id), prediction))
            for scored in self.store_many(batch):
                outcome.changed += 1
                outcome.written += int(scored.written)
                outcome.events += len(scored.events)
            outcome.leads += len(profiles)
            if progress is not None:
                progress(len(profiles))
        return outcome

    def _changed(
        self, profile: LeadProfile, previous: ScoreSummary | None, bulk: Any, row: int
    ) -> bool:
        if previous is None or previous.rules_digest != self.config.rules_digest:
            return True
        fit, engagement = int(bulk.fit[row]), int(bulk.engagement[row])
        if previous.fit_cents != fit or previous.engagement_cents != engagement:
            return True
        if previous.grade != bulk.grade(row):
            return True
        if previous.qualification != bulk.qualification_of(row):
            return True
        expected = (
            percent(Decimal(fit + engagement).scaleb(-2)),
            percent(Decimal(fit).scaleb(-2)),
            percent(Decimal(engagement).scaleb(-2)),
            bulk.grade(row),
        )
        return profile.written != expected


@dataclass
class RescoreOutcome:
    """What ``rescore_all`` did: leads read, leads whose score changed, writes, events."""

    leads: int = 0
    changed: int = 0
    written: int = 0
    events: int = 0


__all__ = [
    "LeadInput",
    "LeadProfile",
    "LeadScorer",
    "PendingScore",
    "RescoreOutcome",
    "ScoredLead",
    "ScoringConfig",
    "Signals",
    "StoredBatch",
    "TrainingHistory",
    "TrainingOutcome",
    "interaction_event",
    "iter_profiles",
    "lead_facts",
    "lead_fields",
    "model_row",
    "percent",
    "train",
    "training_history",
]
