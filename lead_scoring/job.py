"""The lead-scoring job: score a batch of leads and assign the new ones in one transaction.

A new lead costs the sync job one read connection and one write transaction: the lead,
its interactions, its stored score and everything its assignment depends on are read
first; plugins that may take over the assignment are asked with no connection held;
then the rotation turn, the assignment, its first-response timer and history, the
lead written back once with its scores, grade and owner, the score's breakdown and the
timeline events are committed together, and the outbox messages go out after.

When the lead changed since it was read, or another worker assigned it first, the
transaction is rolled back and the batch is done again the step-by-step way (score and
store, then assign), which re-reads and retries: the outcome is the same, only slower.
A batch with several new leads is stored at once and assigned step by step, so each
decision sees the ones before it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.db.engine import reading
from core.kinds import KINDS_BY_TYPE
from core.store import ConcurrentUpdate, StoredRecord
from lead_scoring.assignment.service import (
    AlreadyAssigned,
    AssignmentOutcome,
    AssignmentService,
    Choice,
    StaleAgents,
)
from lead_scoring.assignment.step import assign_scored
from lead_scoring.reading import load_leads
from lead_scoring.service import LeadInput, LeadScorer, PendingScore, ScoredLead, lead_fields

log = logging.getLogger(__name__)


def score_and_assign(
    scorer: LeadScorer,
    service: AssignmentService,
    lead_ids: Sequence[str],
    loaded: Sequence[LeadInput] = (),
) -> list[ScoredLead]:
    """Rescore these leads (unknown ids are skipped) and assign those that need an owner.

    ``loaded`` are leads already read (by the sync engine, for the job): the others are
    read here. A lead read too early is caught by the version check of the write-back.
    A batch with more than one lead to assign goes step by step: each decision must
    see the ones before it (capacity, quotas, turns, a duplicate in the same batch).
    """
    ids = list(dict.fromkeys(lead_ids))
    inputs = {item.id: item for item in loaded if item.id in ids}
    now = service.clock()
    with reading(scorer.engine) as reader:
        missing = [lead_id for lead_id in ids if lead_id not in inputs]
        if missing:
            inputs.update(load_leads(reader, missing))
        batch = scorer.compute(list(inputs.values()), reader)
        prepared = {
            entry.item.id: service.prepare(reader, _scored_record(entry), now) for entry in batch
        }
    if sum(ready.new for ready in prepared.values()) > 1:
        scored = scorer.store_many(batch)
        assign_scored(service, scored)
        return scored
    choices: dict[str, Choice] = {}
    for lead_id, ready in prepared.items():
        choice = service.choose(ready, now)
        if isinstance(choice, Choice):
            choices[lead_id] = choice
    try:
        with scorer.engine.begin() as connection:
            outcomes: list[AssignmentOutcome] = []
            sends = []
            for lead_id, choice in choices.items():
                outcome, messages = service.decide_in(
                    connection, prepared[lead_id].stored, choice, now, write_owner=False
                )
                outcomes.append(outcome)
                sends.extend(messages or [])
            owners = {o.lead_id: {"owner_id": o.owner_id} for o in outcomes if o.owner_id}
            stored = scorer.store_in(connection, batch, also=owners, strict=True)
    except StaleAgents as race:
        log.info("leads %s: %s; assigning them with the agents read again", ids, race)
        service.forget_agents()
        return step_by_step(scorer, service, ids)
    except (ConcurrentUpdate, AlreadyAssigned) as race:
        log.info("leads %s changed while being scored (%s); storing them step by step", ids, race)
        return step_by_step(scorer, service, ids)
    scorer.send(
        [*stored.sends, *((plugin, type_, id_) for plugin, refs in sends for type_, id_ in refs)]
    )
    for ready in prepared.values():
        if ready.existing is not None:
            service.refresh(ready.stored.id, current=ready.existing)
    return stored.scored


def step_by_step(
    scorer: LeadScorer, service: AssignmentService, lead_ids: Sequence[str]
) -> list[ScoredLead]:
    """Score and store the leads, then stop answered leads' clocks and assign open ones."""
    scored = scorer.score_ids(lead_ids)
    assign_scored(service, scored)
    return scored


def _scored_record(entry: PendingScore) -> StoredRecord:
    """The lead as it will be once its new scores are written (assignment rules see them)."""
    item = entry.item
    data = item.lead.model_dump(mode="json", exclude_computed_fields=True)
    data.update(lead_fields(entry.result))
    updated_at = item.updated_at or item.created_at
    return StoredRecord(
        KINDS_BY_TYPE["lead"], item.id, item.version, data, item.created_at, updated_at
    )


__all__ = ["score_and_assign", "step_by_step"]
