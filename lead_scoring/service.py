"""From canonical records to scores and back: the glue between core and the pure scorers.

The plugin's job, ``crm-sync score --all`` and the scheduled jobs all come through here,
so every path stores a score the same way: the lead's rounded scores and grade written
back through the records facade, the exact breakdown in ``lead_scores``, and the
``lead.mql`` / ``lead.sql`` events published once, when a lead rises across a threshold.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine

from core.db.engine import reading
from core.db.types import utcnow
from core.kinds import KINDS_BY_TYPE
from core.records import RecordAccess, emit_event_in
from core.store import ConcurrentUpdate, RecordUpdate, update_records_in
from lead_scoring.bulk import score_many
from lead_scoring.facts import EngagementEvent, LeadFacts
from lead_scoring.reading import (
    LeadInput,
    LeadProfile,
    PendingScore,
    ScoredLead,
    ScoringConfig,
    Signals,
    StoredBatch,
    fact_attributes,
    interaction_event,
    iter_profiles,
    lead_facts,
    lead_fields,
    load_events,
    load_events_and_scores,
    load_leads,
    no_signals,
    percent,
)
from lead_scoring.scoring import QualificationEvent, ScoreResult, score, threshold_events
from lead_scoring.store import (
    Prediction,
    ScoreSummary,
    get_score_summaries,
    publish_qualification,
    save_scores,
)
from lead_scoring.training import (
    ModelCache,
    TrainingHistory,
    TrainingOutcome,
    model_history,
    model_row,
    predict,
    train,
    training_history,
)

log = logging.getLogger(__name__)


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
        return self._with_signals(inputs, events)

    def _with_signals(
        self, inputs: Sequence[LeadInput], events: dict[str, list[EngagementEvent]]
    ) -> dict[str, list[EngagementEvent]]:
        """Add each lead's plugin signals to its events (``events`` is changed and returned)."""
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
        mapping = self.config.settings.interaction_events
        ids = [item.id for item in inputs]
        interactions, stored = load_events_and_scores(reader, ids, mapping)
        events = self._with_signals(inputs, interactions)
        facts = [lead_facts(item.lead, item.created_at) for item in inputs]
        lead_events = [events.get(item.id, []) for item in inputs]
        predictions = self._predictions(ids, facts, lead_events, now, reader)
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
        ids: Sequence[str],
        facts: Sequence[LeadFacts],
        events: Sequence[Sequence[EngagementEvent]],
        now: datetime,
        source: Engine | Connection,
    ) -> list[Prediction]:
        """Return the current model's prediction of each lead (none before a first model)."""
        current = self.models.current(source)
        if current is None:
            return []
        stored, model = current
        history = model_history(source, ids, events)
        return predict(model, stored.id, facts, history, self.config.settings.top_factors, now)

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
        predictions_model = self.models.current(self.engine, fresh=True)
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
            scored_now: list[tuple[LeadInput, LeadFacts, ScoreResult, int]] = []
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
                scored_now.append((item, facts, result, row))
            predictions: list[Prediction | None] = [None] * len(scored_now)
            if predictions_model is not None and scored_now:
                stored_model, model = predictions_model
                changed_ids = [item.id for item, _, _, _ in scored_now]
                history = model_history(
                    self.engine, changed_ids, [lead_events[row] for _, _, _, row in scored_now]
                )
                top = self.config.settings.top_factors
                facts_now = [facts for _, facts, _, _ in scored_now]
                predictions = [*predict(model, stored_model.id, facts_now, history, top, now)]
            batch = [
                PendingScore(item, result, stored.get(item.id), prediction)
                for (item, _, result, _), prediction in zip(scored_now, predictions, strict=True)
            ]
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
    "fact_attributes",
    "interaction_event",
    "iter_profiles",
    "lead_facts",
    "lead_fields",
    "model_row",
    "percent",
    "train",
    "training_history",
]
