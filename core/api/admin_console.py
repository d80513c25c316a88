"""The admin console's actions in the API: search, details, bulk jobs, pause, history, audit.

Every route does what the console's page or form does, through the same functions, and
audits it the same way (channel ``api``). Roles: reading needs ``reader``, retrying,
pausing and resyncing ``operator``, purging and resolving ``admin``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.admin import actions, jobs
from core.admin.audit import entries
from core.admin.deliveries import (
    delivery_detail,
    delivery_summary,
    inbox_detail,
    inbox_summary,
    search_deliveries,
    search_inbox,
)
from core.admin.filters import DeliveryCursor, DeliveryFilter, FilterError, InboxFilter
from core.admin.overview import HealthCache, overview
from core.admin.snapshots import history
from core.api.admin import api_actor
from core.api.auth import Principal, allows, require
from core.api.problems import Problem
from core.api.records import runtime_of
from core.db.types import utcnow
from core.schemas.base import ID_PATTERN, MAX_ID

#: A plugin or kind named in the path: shaped like an id, 64 characters at most.
PathName = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
#: A record id named in the path.
PathRecordId = Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)]
#: The largest id of a 32-bit integer column (jobs, inbound events).
MAX_ROW_ID = 2**31 - 1
#: A row id (job, inbound event) in the path.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
#: ``plugin/kind/record_id``, each part shaped like an id.
_PART = ID_PATTERN.strip("^$")
DELIVERY_KEY_PATTERN = f"^{_PART}/{_PART}/{_PART}$"
DeliveryKey = Annotated[
    str, Field(min_length=5, max_length=64 * 2 + MAX_ID + 2, pattern=DELIVERY_KEY_PATTERN)
]

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Reader = Annotated[Principal, Depends(require("reader"))]
UTC_ZONE = ZoneInfo("UTC")


def _health(request: Request) -> HealthCache:
    cache = getattr(request.app.state, "health_cache", None)
    if cache is None:
        cache = HealthCache(runtime_of(request).settings.console.health_cache_seconds)
        request.app.state.health_cache = cache
    return cache


def _may(principal: Principal, action: str) -> None:
    needed = actions.NEEDS.get(action)
    if needed is None:
        raise Problem(422, "unknown-action", f"no such action: {action!r}")
    if not allows(principal.role, needed):
        raise Problem(
            403, "forbidden", f"{action} needs the {needed} role; the token has {principal.role}"
        )


def _filter_problem(error: FilterError) -> Problem:
    return Problem(
        422,
        "bad-filter",
        str(error),
        errors=[{"field": error.field, "message": error.message, "code": "bad_filter"}],
    )


def _plain(value: Any) -> Any:
    """A dataclass as JSON-ready values (times as ISO 8601)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@router.get("/overview", summary="Per plugin: items by state, lag, last hour, health, pause")
def get_overview(request: Request, principal: Reader) -> dict[str, Any]:
    """The console's overview as JSON; see docs/admin.md for how each figure is counted."""
    runtime = runtime_of(request)
    plugins = overview(runtime.engine, runtime.host, _health(request))
    out = []
    for item in plugins:
        figures = {}
        for name, queue in (("outbound", item.outbound), ("inbound", item.inbound)):
            figures[name] = {
                "states": queue.states,
                "depth": queue.depth,
                "lag_seconds": queue.lag_seconds,
                "done_last_hour": queue.done,
                "failures_last_hour": queue.failures,
                "failure_rate": queue.failure_rate,
            }
        out.append(
            {
                "plugin": item.plugin,
                "status": item.status,
                "target": item.target,
                "paused": _plain(asdict(item.pause)) if item.pause else None,
                "health": asdict(item.health) if item.health else None,
                **figures,
            }
        )
    return {"plugins": out}


def _delivery_filter(request: Request) -> DeliveryFilter:
    try:
        return DeliveryFilter.parse(dict(request.query_params), UTC_ZONE)
    except FilterError as error:
        raise _filter_problem(error) from None


@router.get("/deliveries", summary="Search deliveries (dead, retrying...) with keyset paging")
def get_deliveries(
    request: Request,
    principal: Reader,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Deliveries matching the filter, their count and their groups by error class.

    Filter parameters: ``list``, ``plugin``, ``kind``, ``record_id``, ``error``,
    ``error_class``, ``since``, ``until``, ``content``.
    """
    engine = runtime_of(request).engine
    criteria = _delivery_filter(request)
    try:
        cursor = DeliveryCursor.decode(after) if after else None
    except FilterError as error:
        raise _filter_problem(error) from None
    page = search_deliveries(engine, criteria, after=cursor, limit=limit)
    summary = delivery_summary(engine, criteria)
    return {
        "filter": criteria.to_dict(),
        "total": summary.total,
        "groups": [asdict(group) for group in summary.groups],
        "deliveries": [_plain(asdict(row)) for row in page.rows],
        "next": page.next,
    }


@router.get("/deliveries/{plugin}/{kind}/{record_id}", summary="One delivery in full")
def get_delivery(
    request: Request, principal: Reader, plugin: PathName, kind: PathName, record_id: PathRecordId
) -> dict[str, Any]:
    """The delivery, its record, the document (secrets hidden), attempts, audit, timeline."""
    runtime = runtime_of(request)
    detail = delivery_detail(runtime.engine, runtime.host, plugin, kind, record_id)
    if detail is None:
        raise Problem(404, "not-found", "there is no such delivery")
    record = detail.record
    return {
        "delivery": _plain(asdict(detail.row)),
        "record": {"version": record.version, "data": record.data} if record else None,
        "idempotency_key": detail.idempotency_key,
        "document": detail.document,
        "document_error": detail.document_error,
        "attempts": [_plain(asdict(a)) for a in detail.attempts],
        "audit": [_plain(asdict(e)) for e in detail.audit],
        "timeline": [_plain(asdict(t)) for t in detail.timeline],
    }


@router.get("/events", summary="Search inbound events with paging")
def get_events(
    request: Request,
    principal: Reader,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Inbound events matching the filter, their count and their groups by error class.

    Filter parameters: ``state``, ``plugin``, ``kind`` (the event type), ``record_id`` (the
    event id), ``error``, ``error_class``, ``since``, ``until``, ``content``.
    """
    engine = runtime_of(request).engine
    try:
        criteria = InboxFilter.parse(dict(request.query_params), UTC_ZONE)
    except FilterError as error:
        raise _filter_problem(error) from None
    page = search_inbox(engine, criteria, before=before, limit=limit)
    summary = inbox_summary(engine, criteria)
    return {
        "filter": criteria.to_dict(),
        "total": summary.total,
        "groups": [asdict(group) for group in summary.groups],
        "events": [_plain(asdict(row)) for row in page.rows],
        "next": page.next,
    }


@router.get("/events/{event}", summary="One inbound event in full")
def get_event(request: Request, principal: Reader, event: RowId) -> dict[str, Any]:
    """The event, its payload (secrets hidden), its attempts and audit."""
    detail = inbox_detail(runtime_of(request).engine, event)
    if detail is None:
        raise Problem(404, "not-found", "there is no such inbound event")
    shown: dict[str, Any] = _plain(asdict(detail))
    return shown


class ActionIn(BaseModel):
    """An action on named deliveries (``plugin/kind/id``) or inbound events (ids)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "purge", "resolve"]
    keys: list[DeliveryKey] = Field(min_length=1, max_length=actions.MAX_SELECTION)
    reason: str | None = Field(default=None, max_length=500)


@router.post("/deliveries/actions", summary="Retry, purge or resolve named deliveries")
def post_delivery_action(body: ActionIn, request: Request, principal: Reader) -> dict[str, Any]:
    """Act on up to 1000 deliveries at once (larger sets: a filter and a job)."""
    _may(principal, body.action)
    keys = []
    for key in body.keys:
        plugin, _, rest = key.partition("/")
        kind, _, record_id = rest.partition("/")
        if not (plugin and kind and record_id):
            raise Problem(422, "bad-key", f"{key!r} is not plugin/kind/record_id")
        keys.append((plugin, kind, record_id))
    runtime = runtime_of(request)
    changed = actions.act_on_deliveries(
        runtime.engine,
        body.action,
        keys,
        api_actor(principal, request),
        reason=body.reason,
        dispatch=runtime.dispatch,
    )
    return {"changed": changed}


class JobIn(BaseModel):
    """An action on everything a filter matches: counted now, run once confirmed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"properties": {"target": {"const": "deliveries"}}},
                {"properties": {"action": {"enum": ["retry", "purge"]}}},
            ]
        },
    )

    action: Literal["retry", "purge", "resolve"]
    target: Literal["deliveries", "inbox"] = "deliveries"
    filter: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _inbox_cannot_be_resolved(self) -> JobIn:
        """Inbound events are retried or purged; only deliveries can be resolved."""
        if self.target == "inbox" and self.action == "resolve":
            raise ValueError("resolve is not an action on inbox: retry or purge")
        return self


def _job(job: jobs.Job, request: Request) -> dict[str, Any]:
    out: dict[str, Any] = _plain(asdict(job))
    out["progress"] = job.progress
    out["delivered"] = jobs.delivered(runtime_of(request).engine, job)
    return out


@router.post("/jobs", summary="Count what a filter matches for an action", status_code=201)
def post_job(body: JobIn, request: Request, principal: Reader) -> dict[str, Any]:
    """Fix the matching rows and answer their count; nothing changes until confirmed."""
    _may(principal, body.action)
    try:
        criteria = (
            DeliveryFilter.parse(body.filter, UTC_ZONE)
            if body.target == "deliveries"
            else InboxFilter.parse(body.filter, UTC_ZONE)
        )
        job = jobs.count_job(
            runtime_of(request).engine, body.action, criteria, api_actor(principal, request)
        )
    except FilterError as error:
        raise _filter_problem(error) from None
    except jobs.JobError as error:
        raise Problem(422, "bad-job", str(error)) from None
    return _job(job, request)


class ConfirmIn(BaseModel):
    """Why a counted job is confirmed (kept in the audit)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


def _existing(request: Request, job_id: RowId) -> jobs.Job:
    job = jobs.get_job(runtime_of(request).engine, job_id)
    if job is None:
        raise Problem(404, "not-found", f"there is no job {job_id}")
    return job


@router.get("/jobs/{job_id}", summary="A job's state and progress")
def get_job(request: Request, principal: Reader, job_id: RowId) -> dict[str, Any]:
    """The job with its progress (and, for a resync, how many were delivered)."""
    return _job(_existing(request, job_id), request)


@router.post("/jobs/{job_id}/confirm", summary="Start a counted job")
def post_confirm(
    body: ConfirmIn, request: Request, principal: Reader, job_id: RowId
) -> dict[str, Any]:
    """Start the job on the rows it counted; the serving process runs it in the background."""
    _may(principal, _existing(request, job_id).action)
    try:
        job = jobs.confirm_job(
            runtime_of(request).engine, job_id, api_actor(principal, request), reason=body.reason
        )
    except jobs.JobError as error:
        raise Problem(409, "job-state", str(error)) from None
    return _job(job, request)


@router.post("/jobs/{job_id}/cancel", summary="Stop a job")
def post_cancel(request: Request, principal: Reader, job_id: RowId) -> dict[str, Any]:
    """Stop a counted or running job; what it did stays done."""
    _may(principal, _existing(request, job_id).action)
    try:
        job = jobs.cancel_job(runtime_of(request).engine, job_id, api_actor(principal, request))
    except jobs.JobError as error:
        raise Problem(409, "job-state", str(error)) from None
    return _job(job, request)


class PauseIn(BaseModel):
    """Why a plugin is paused or resumed (kept in the audit)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


@router.post("/plugins/{plugin}/pause", summary="Pause a plugin's sending")
def post_pause(
    body: PauseIn, request: Request, principal: Reader, plugin: PathName
) -> dict[str, Any]:
    """Hold the plugin's deliveries in the database; every worker obeys at its next claim."""
    _may(principal, actions.PAUSE)
    engine = runtime_of(request).engine
    reason = body.reason or "paused through the API"
    paused = actions.pause(engine, plugin, api_actor(principal, request), reason=reason)
    _health(request).forget(plugin)
    return {"plugin": plugin, "paused": True, "changed": paused}


@router.post("/plugins/{plugin}/resume", summary="Resume a plugin's sending")
def post_resume(
    body: PauseIn, request: Request, principal: Reader, plugin: PathName
) -> dict[str, Any]:
    """Resume; the plugin's due deliveries are swept at once."""
    _may(principal, actions.RESUME)
    engine = runtime_of(request).engine
    resumed = actions.resume(engine, plugin, api_actor(principal, request), reason=body.reason)
    _health(request).forget(plugin)
    return {"plugin": plugin, "paused": False, "changed": resumed}


@router.post(
    "/plugins/{plugin}/resync", summary="Send everything to a plugin again", status_code=201
)
def post_resync(
    body: PauseIn, request: Request, principal: Reader, plugin: PathName
) -> dict[str, Any]:
    """Start a resync job of every kind the plugin subscribes to; follow it at /jobs/{id}."""
    _may(principal, actions.RESYNC)
    runtime = runtime_of(request)
    if plugin not in runtime.host.active():
        raise Problem(404, "not-found", f"plugin {plugin!r} is not active")
    kinds = [
        k for k in runtime.host.description(plugin).subscriptions if not k.startswith("event.")
    ]
    job = jobs.start_resync(
        runtime.engine, plugin, kinds, api_actor(principal, request), reason=body.reason
    )
    return _job(job, request)


@router.get("/history", summary="A plugin's queue snapshots over time")
def get_history(
    request: Request,
    principal: Reader,
    plugin: Annotated[str, Query(min_length=1, max_length=64, pattern=ID_PATTERN)],
    direction: Literal["out", "in"] = "out",
    resolution: Literal["minute", "hour", "day"] = "minute",
    hours: Annotated[float, Query(gt=0, le=24 * 366)] = 24,
) -> dict[str, Any]:
    """Depth, lag, delivered and failed per bucket, oldest first."""
    since = utcnow() - timedelta(hours=hours)
    points = history(runtime_of(request).engine, direction, plugin, resolution, since)
    return {"points": [_plain(asdict(point)) for point in points]}


@router.get("/audit", summary="The audit: every action on the queues, newest first")
def get_audit(
    request: Request,
    principal: Reader,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Audit entries below id ``before``; ``next`` is the ``before`` of the next page."""
    rows = entries(runtime_of(request).engine, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "entries": [_plain(asdict(row)) for row in rows],
        "next": rows[-1].id if more and rows else None,
    }
