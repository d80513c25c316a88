"""The bundled ``lead_scoring`` plugin: rescoring in the running system, through public hooks.

It subscribes to ``lead`` and ``interaction``. Every change of a lead, or of an
interaction linked to a lead by ``lead_id``, reaches :func:`crm_sync_push` through the
sync engine (with its retries and leases); the push rescores the lead with the
configured rules file, writes ``score``, ``fit_score``, ``engagement_score`` and
``grade`` back onto the Lead, stores the exact breakdown, publishes ``lead.mql`` and
``lead.sql`` when a threshold is crossed, and assigns an open lead without an owner
(with its first-response clock), all in one transaction (:mod:`lead_scoring.job`).
Other plugins add engagement
events through ``crm_sync_scoring_signals``. :func:`periodic_jobs` gives the scheduler
the model retraining and the rescoring that lets old engagement fade.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import hookimpl
from core.errors import ConfigurationError, PermanentError
from core.plugin_types import (
    HealthReport,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PushResult,
    SyncRecord,
)
from core.plugins import PluginHost
from core.records import RecordAccess
from core.schemas.activities import Interaction
from core.schemas.leads import Lead
from core.sync.scheduler import PeriodicJob
from lead_scoring.assignment.step import assignment_rules, service_for
from lead_scoring.facts import EngagementEvent
from lead_scoring.job import score_and_assign
from lead_scoring.reading import no_signals
from lead_scoring.rules import RulesError
from lead_scoring.service import LeadInput, LeadScorer, ScoredLead, ScoringConfig, Signals, train
from lead_scoring.settings import LeadScoringSettings

if TYPE_CHECKING:
    from core.sync.runtime import SyncRuntime

log = logging.getLogger(__name__)

NAME = "lead_scoring"
SUBSCRIPTIONS = ("lead", "interaction")


def _settings(context: PluginContext) -> LeadScoringSettings:
    assert isinstance(context.settings, LeadScoringSettings)
    return context.settings


def load_config(context: PluginContext) -> ScoringConfig:
    """The rules loaded at start-up (cached in the context)."""
    config = context.cache.get("config")
    if config is None:
        try:
            config = ScoringConfig.load(_settings(context), context.attributes.lead)
        except RulesError as error:
            raise ConfigurationError(f"plugin {NAME!r}: {error}") from None
        except OSError as error:
            raise ConfigurationError(
                f"plugin {NAME!r}: cannot read rules_file {error.filename}: {error.strerror}"
            ) from None
        context.cache["config"] = config
    assert isinstance(config, ScoringConfig)
    return config


def _records(context: PluginContext) -> RecordAccess:
    records = context.store()
    if not isinstance(records, RecordAccess):
        raise RuntimeError("lead scoring needs core's records facade and its database")
    return records


def signals_from(host: PluginHost | None) -> Signals:
    """Return a function that asks every enabled plugin for a lead's scoring signals.

    ``crm_sync_scoring_signals`` is a broadcast hook: each implementing plugin is
    called with its own context and the events of all of them are added up. A plugin
    that raises adds nothing for that lead (the failure is logged), so one broken
    plugin cannot stop scoring. Without any implementing plugin it is ``no_signals``
    (plugins are registered when the host starts), which lets bulk rescoring skip
    loading whole leads.
    """
    if host is None or not host.implementers("crm_sync_scoring_signals"):
        return no_signals
    found_host = host

    def collect(lead_id: str, lead: Lead) -> list[EngagementEvent]:
        events: list[EngagementEvent] = []
        answers = found_host.call_each("crm_sync_scoring_signals", lead_id=lead_id, lead=lead)
        for name, answer in answers:
            if isinstance(answer, Exception):
                log.error(
                    "plugin %s failed to add scoring signals for lead %s: %r", name, lead_id, answer
                )
                continue
            added: list[object] = list(answer) if isinstance(answer, list | tuple) else []
            for event in added:
                if isinstance(event, EngagementEvent):
                    events.append(event)
                else:
                    log.warning("plugin %s gave a scoring signal that is not an event", name)
        return events

    return collect


def scorer(context: PluginContext) -> LeadScorer:
    """The process's scorer for this plugin (built once, kept in the context's cache)."""
    found = context.cache.get("scorer")
    if found is None:
        records = _records(context)
        found = LeadScorer(
            records.engine, records, load_config(context), signals=signals_from(records.host)
        )
        context.cache["scorer"] = found
    assert isinstance(found, LeadScorer)
    return found


@hookimpl
def crm_sync_settings_model() -> type[LeadScoringSettings]:
    """The lead-scoring plugin's settings."""
    return LeadScoringSettings


@hookimpl
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Leads and interactions are rescored; a bad rules file stops start-up here."""
    config = load_config(context)
    assignment_rules(context)
    source = _settings(context).rules_file or "lead_scoring/default_rules.toml"
    rules = len(config.rules.fit.rules) + len(config.rules.engagement.rules)
    return PluginDescription(
        subscriptions=SUBSCRIPTIONS,
        target=f"lead scores ({rules} rules from {source})",
        max_batch=_settings(context).max_batch,
    )


@hookimpl
def crm_sync_map_record(context: PluginContext, record: SyncRecord) -> dict[str, Any]:
    """The document of a change is the lead to rescore (None: nothing to rescore).

    A lead's own change carries the lead as the engine loaded it (JSON, as every
    payload), so the job need not read it again.
    """
    if isinstance(record.data, Lead):
        if record.created_at is None:
            return {"lead_id": record.id}
        return {
            "lead_id": record.id,
            "version": record.version,
            "lead": record.data.model_dump(mode="json", exclude_computed_fields=True),
            "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat(),
        }
    if isinstance(record.data, Interaction):
        return {"lead_id": record.data.lead_id}
    raise PermanentError(f"lead scoring does not take {record.type} records")


def _loaded(payload: dict[str, Any]) -> LeadInput | None:
    """The lead a document carries (see ``crm_sync_map_record``), or None."""
    if "lead" not in payload:
        return None
    return LeadInput(
        payload["lead_id"],
        payload["version"],
        Lead.model_validate(payload["lead"]),
        datetime.fromisoformat(payload["created_at"]),
        datetime.fromisoformat(payload["updated_at"]),
    )


def run_job(
    context: PluginContext, lead_ids: Sequence[str], loaded: Sequence[LeadInput] = ()
) -> list[ScoredLead]:
    """Rescore these leads and assign the open ones without an owner (see lead_scoring.job).

    ``loaded`` are leads the sync engine already read (not read again). Assignment,
    the first-response SLA and the threshold events run inside the sync job: if
    anything raises, the job is retried, and every step is idempotent (rescoring
    publishes nothing twice, an assigned lead keeps its assignment).
    """
    return score_and_assign(scorer(context), service_for(context), lead_ids, loaded)


@hookimpl
def crm_sync_push(context: PluginContext, documents: list[OutboundDocument]) -> list[PushResult]:
    """Rescore the leads of a batch of changes and assign those that need an owner.

    An interaction without a lead, or for a lead not stored yet, needs nothing (the lead
    is scored with its interactions when it arrives). A lead whose score cannot be
    stored fails alone; database errors fail the whole batch, to be retried.
    """
    lead_ids = [doc.payload["lead_id"] for doc in documents if doc.payload.get("lead_id")]
    loaded = [item for doc in documents if (item := _loaded(doc.payload)) is not None]
    failures: dict[str, PermanentError] = {}
    try:
        run_job(context, lead_ids, loaded)
    except PermanentError:
        for lead_id in dict.fromkeys(lead_ids):
            try:
                run_job(context, [lead_id])
            except PermanentError as error:
                failures[lead_id] = error
    return [PushResult(error=failures.get(doc.payload.get("lead_id") or "")) for doc in documents]


@hookimpl
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Report the rules in use; scoring has no remote target to be down."""
    config = load_config(context)
    return HealthReport(ok=True, detail=f"rules {config.rules_digest[:12]}")


def periodic_jobs(runtime: SyncRuntime) -> list[PeriodicJob]:
    """The scheduler's lead-scoring jobs: retrain the model and rescore every lead.

    Empty when the plugin is disabled or the interval is 0. ``serve`` (embedded) and
    ``crm-sync scheduler`` pass these to their Scheduler.
    """
    if NAME not in runtime.host.active():
        return []
    context = runtime.host.context(NAME)
    settings = _settings(context)
    jobs = []
    if settings.retrain_hours > 0:

        def retrain() -> None:
            outcome = train(runtime.engine, settings)
            scorer(context).models.forget()
            if outcome.model is None:
                log.info("lead scoring model not retrained: %s", outcome.reason)
            else:
                log.info(
                    "lead scoring model %d trained on %d leads", outcome.model.id, outcome.history
                )

        jobs.append(PeriodicJob("lead_scoring.retrain", settings.retrain_hours * 3600, retrain))
    if settings.rescore_hours > 0:

        def rescore() -> None:
            outcome = scorer(context).rescore_all()
            log.info("rescored %d leads, %d changed", outcome.leads, outcome.changed)

        jobs.append(PeriodicJob("lead_scoring.rescore", settings.rescore_hours * 3600, rescore))
    return jobs


__all__ = [
    "NAME",
    "periodic_jobs",
    "run_job",
    "scorer",
    "signals_from",
]
