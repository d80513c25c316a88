"""Assignment after scoring, step by step: the job's service and its slower path.

The bundled ``lead_scoring`` plugin scores and assigns a batch of leads in one
transaction (:mod:`lead_scoring.job`) with the :class:`AssignmentService` built here
on the same database, subscriptions and dispatch as the plugin's records facade.
When a batch holds more than one lead to assign, or the transaction loses a race (the
lead changed, another worker assigned it), the job stores the scores first and then
runs :func:`assign_scored`: for each scored
lead it records the first outbound contact (which stops the first-response clock) and
assigns the lead if it has no assignment yet. Both are idempotent: the job may run again.

The owner is written on the plugin's behalf (as its origin): the plugin's target, the
scores, does not depend on the owner, so the write is not queued back to the plugin
for a second, empty rescoring of the lead it has just scored. Other subscribers get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.errors import ConfigurationError
from core.plugin_types import PluginContext
from core.records import RecordAccess
from lead_scoring.assignment.rules import AssignmentRules, AssignmentRulesError
from lead_scoring.assignment.service import RULES_ENV, AssignmentService, rules_from_environment

if TYPE_CHECKING:
    from lead_scoring.service import ScoredLead

#: Keys of the rules and the service cached in the plugin context.
RULES_KEY = "assignment_rules"
CACHE_KEY = "assignment_service"


def assignment_rules(context: PluginContext) -> AssignmentRules:
    """The assignment rules (``CRM_SYNC_ASSIGNMENT_RULES``, else the bundled file), once.

    The plugin asks for them when it starts, so a bad file stops start-up with the
    mistakes named instead of failing every lead's job later.
    """
    cached = context.cache.get(RULES_KEY)
    if cached is None:
        try:
            cached = rules_from_environment()
        except AssignmentRulesError as error:
            raise ConfigurationError(f"plugin {context.name!r}: {error}") from None
        except OSError as error:
            raise ConfigurationError(
                f"plugin {context.name!r}: cannot read {RULES_ENV} {error.filename}: "
                f"{error.strerror}"
            ) from None
        context.cache[RULES_KEY] = cached
    assert isinstance(cached, AssignmentRules)
    return cached


def service_for(context: PluginContext) -> AssignmentService:
    """The assignment service of a plugin context, built once on its records facade."""
    cached = context.cache.get(CACHE_KEY)
    if isinstance(cached, AssignmentService):
        return cached
    records = context.records
    if not isinstance(records, RecordAccess):
        raise RuntimeError("assignment needs core's records facade and its database")
    service = AssignmentService(
        records.engine,
        assignment_rules(context),
        host=records.host,
        subscribers=records.subscribers,
        dispatch=records.dispatch,
        origin=records.plugin,
    )
    context.cache[CACHE_KEY] = service
    return service


def assign_scored(service: AssignmentService, scored: Sequence[ScoredLead]) -> None:
    """Stop answered leads' clocks and assign every open lead without an assignment.

    Each lead in its own transactions, so each decision sees the ones before it.
    """
    for item in scored:
        service.refresh(item.lead_id)
        if item.lead.status in ("new", "contacted", "qualified"):
            service.assign(item.lead_id)


__all__ = ["assign_scored", "assignment_rules", "service_for"]
