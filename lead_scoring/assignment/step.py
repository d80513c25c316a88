"""Assignment after scoring, step by step: the job's service and its slower path.

The bundled ``lead_scoring`` plugin scores and assigns a batch of leads in one
transaction (:mod:`lead_scoring.job`) with the :class:`AssignmentService` built here
on the same database, subscriptions and dispatch as the plugin's records facade.
When that transaction loses a race (the lead changed, another worker assigned it),
the job stores the scores first and then runs :func:`assign_scored`: for each scored
lead it records the first outbound contact (which stops the first-response clock) and
assigns the lead if it has no assignment yet. Both are idempotent: the job may run again.

The owner is written on the plugin's behalf (as its origin): the plugin's target, the
scores, does not depend on the owner, so the write is not queued back to the plugin
for a second, empty rescoring of the lead it has just scored. Other subscribers get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.plugin_types import PluginContext
from core.records import RecordAccess
from lead_scoring.assignment.service import AssignmentService, rules_from_environment

if TYPE_CHECKING:
    from lead_scoring.service import ScoredLead

#: Key of the service cached in the plugin context.
CACHE_KEY = "assignment_service"


def service_for(context: PluginContext) -> AssignmentService | None:
    """The assignment service of a plugin context (built once), or None without a database."""
    cached = context.cache.get(CACHE_KEY)
    if isinstance(cached, AssignmentService):
        return cached
    records = context.records
    if not isinstance(records, RecordAccess):
        return None
    service = AssignmentService(
        records.engine,
        rules_from_environment(),
        host=records.host,
        subscribers=records.subscribers,
        dispatch=records.dispatch,
        origin=records.plugin,
    )
    context.cache[CACHE_KEY] = service
    return service


def assign_after_scoring(context: PluginContext, scored: Sequence[ScoredLead]) -> None:
    """Stop answered leads' clocks and assign every open lead that has no assignment."""
    service = service_for(context)
    if service is not None:
        assign_scored(service, scored)


def assign_scored(service: AssignmentService, scored: Sequence[ScoredLead]) -> None:
    """``assign_after_scoring`` with the service given: each lead in its own transactions."""
    for item in scored:
        service.refresh(item.lead_id)
        if item.lead.status in ("new", "contacted", "qualified"):
            service.assign(item.lead_id)


__all__ = ["assign_after_scoring", "assign_scored", "service_for"]
