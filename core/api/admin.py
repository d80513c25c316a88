"""Admin routes: queue counts, the dead list, retry and purge (audited).

Reading needs ``reader``; retrying ``operator``; purging ``admin``. The console's other
actions (filters, bulk jobs, pause, the audit) are in core/api/admin_console.py.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from core.admin.audit import API, Actor
from core.api.auth import Principal, require
from core.api.problems import Problem
from core.api.records import runtime_of
from core.schemas.base import ID_PATTERN, ExternalId, NameId, RecordId, at_least_one
from core.sync.admin import (
    Selection,
    list_dead,
    list_inbox,
    purge_dead,
    queue_counts,
    retry_dead,
    retry_inbox,
)

router = APIRouter(prefix="/v1/admin", tags=["admin"])

#: A plugin or kind named in a query: shaped like an id, 64 characters at most.
NameQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=ID_PATTERN)]


def _named_or_all(*names: str) -> dict[str, Any]:
    """JSON Schema: one of ``names`` is given, or ``all`` is true."""
    every = {"required": ["all"], "properties": {"all": {"const": True}}}
    return {"anyOf": [*at_least_one(*names)["anyOf"], every]}


#: The states an inbound event can be in.
InboxState = Literal["pending", "applied", "failed", "dead"]


def api_actor(principal: Principal, request: Request) -> Actor:
    """The audit's actor for a request of the admin API."""
    source = request.client.host if request.client else "unknown"
    return Actor(principal.name, principal.role, API, source)


class SelectionIn(BaseModel):
    """Which dead deliveries to act on; ``all`` must be true to act on every one."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_named_or_all("plugin", "kind", "id")
    )

    plugin: NameId | None = None
    kind: NameId | None = None
    id: RecordId | None = None
    all: StrictBool = False
    reason: str | None = Field(default=None, max_length=500)

    def selection(self) -> Selection:
        """The selection, refusing an empty one unless ``all`` is set."""
        if not (self.all or self.plugin or self.kind or self.id):
            raise Problem(422, "empty-selection", "name a plugin, kind or id, or set all to true")
        return Selection(plugin=self.plugin, kind=self.kind, record_id=self.id)


@router.get("/queues", summary="Deliveries per plugin and state")
def get_queues(
    request: Request, principal: Annotated[Principal, Depends(require("reader"))]
) -> dict[str, Any]:
    """Counts of deliveries per plugin and state, with the oldest due time."""
    counts = queue_counts(runtime_of(request).engine)
    return {"queues": [asdict(count) for count in counts]}


@router.get("/dead", summary="The dead list")
def get_dead(
    request: Request,
    principal: Annotated[Principal, Depends(require("reader"))],
    plugin: NameQuery = None,
    kind: NameQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Dead deliveries with their reason, newest first."""
    rows = list_dead(runtime_of(request).engine, Selection(plugin, kind), limit=limit)
    return {"dead": [asdict(row) for row in rows]}


@router.post("/dead/retry", summary="Retry dead deliveries")
def post_retry(
    body: SelectionIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """Make the selected dead deliveries pending again and enqueue them."""
    runtime = runtime_of(request)
    actor = api_actor(principal, request)
    refs = retry_dead(runtime.engine, body.selection(), actor=actor, reason=body.reason)
    for plugin, plugin_refs in refs.items():
        runtime.dispatch(plugin, plugin_refs)
    return {"retried": sum(len(plugin_refs) for plugin_refs in refs.values())}


@router.post("/dead/purge", summary="Give dead deliveries up")
def post_purge(
    body: SelectionIn, request: Request, principal: Annotated[Principal, Depends(require("admin"))]
) -> dict[str, Any]:
    """Mark the selected dead deliveries discarded."""
    actor = api_actor(principal, request)
    engine = runtime_of(request).engine
    return {"purged": purge_dead(engine, body.selection(), actor=actor, reason=body.reason)}


class InboxRetryIn(BaseModel):
    """Which dead inbound events to apply again; ``all`` must be true to retry every one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_named_or_all("plugin", "event_id"))

    plugin: NameId | None = None
    event_id: ExternalId | None = None
    all: StrictBool = False
    reason: str | None = Field(default=None, max_length=500)


@router.get("/inbox", summary="Inbound events")
def get_inbox(
    request: Request,
    principal: Annotated[Principal, Depends(require("reader"))],
    plugin: NameQuery = None,
    state: InboxState | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Stored inbound events with their state and, for dead ones, the reason."""
    rows = list_inbox(runtime_of(request).engine, plugin=plugin, state=state, limit=limit)
    return {"events": [asdict(row) for row in rows]}


@router.post("/inbox/retry", summary="Apply dead inbound events again")
def post_inbox_retry(
    body: InboxRetryIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """Make the selected dead inbound events pending again and enqueue them."""
    if not (body.all or body.plugin or body.event_id):
        raise Problem(422, "empty-selection", "name a plugin or event_id, or set all to true")
    runtime = runtime_of(request)
    ids = retry_inbox(
        runtime.engine,
        plugin=body.plugin,
        event_id=body.event_id,
        actor=api_actor(principal, request),
        reason=body.reason,
    )
    for plugin, plugin_ids in ids.items():
        runtime.dispatch_inbound(plugin, plugin_ids)
    return {"retried": sum(len(plugin_ids) for plugin_ids in ids.values())}
