"""Assignment routes: manual (re)assignment with history, SLA state, follow-ups, away agents.

``POST /v1/leads/{id}/assign`` gives a lead to an agent by hand (``agent_id`` and a
reason; the token's name is recorded as who) or, without ``agent_id``, by the rules.
``GET /v1/leads/{id}/assignment`` returns the lead's owner, first-response deadline,
first contact, SLA state and the whole history. Follow-ups are tasks with a stage,
deadline, snooze and overdue alert. Every step also lands on the record's timeline.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from core.api.auth import Principal, require
from core.api.problems import Problem, problem_response
from core.api.records import RecordIdPath, runtime_of
from core.schemas.base import RecordId, together
from core.schemas.fields import Timestamp
from lead_scoring.assignment import AssignmentService
from lead_scoring.sla import Stage, create_followup, reassign_task, snooze, task_history

router = APIRouter(tags=["assignment"])

Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignIn(_Body):
    """Who gets the lead and why; without ``agent_id`` the assignment rules decide."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=together("agent_id", "why"))

    agent_id: RecordId | None = None
    why: Reason | None = None


class HistoryOut(BaseModel):
    """One step: who moved the record from whom to whom, when, why and under which rule."""

    id: int
    action: str
    from_agent: str | None
    to_agent: str | None
    by: str
    why: str | None
    rule: str | None
    turn: int | None
    at: datetime
    details: dict[str, Any]


class AssignmentOut(BaseModel):
    """A lead's owner, first-response deadline and contact, SLA state and history.

    ``sla`` is none (no owner yet, or a linked duplicate), pending, met or breached.
    """

    lead_id: str
    owner_id: str | None
    assigned_at: datetime | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    sla: str
    rule: str | None
    linked_to: str | None
    escalations: int
    history: list[HistoryOut]


class FollowUpIn(_Body):
    """A follow-up of a lead: stage, deadline, and optionally subject and owner."""

    stage: Stage
    due_at: Timestamp
    subject: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    owner_id: RecordId | None = None


class FollowUpOut(BaseModel):
    """The created follow-up task."""

    task_id: str


class SnoozeIn(_Body):
    """The new deadline of a task and why it moves."""

    until: Timestamp
    why: Reason


class TaskAssignIn(_Body):
    """Who takes the task over and why."""

    agent_id: RecordId
    why: Reason


class TaskHistoryOut(BaseModel):
    """The ownership and snooze history of a task."""

    task_id: str
    history: list[HistoryOut]


class AwayIn(_Body):
    """An agent away until a time (or until cleared) and why."""

    until: Timestamp | None = None
    reason: Annotated[str, Field(max_length=2000)] | None = None


def service_of(request: Request) -> AssignmentService:
    """The app's assignment service, built on first use from its runtime."""
    service = getattr(request.app.state, "assignment", None)
    if not isinstance(service, AssignmentService):
        service = AssignmentService.from_runtime(runtime_of(request))
        request.app.state.assignment = service
    return service


async def on_unknown_record(request: Request, error: Exception) -> JSONResponse:
    """Answer an unknown lead, task or agent (``UnknownRecord``) with a 404 problem."""
    return problem_response(Problem(404, "not-found", str(error)), request.url.path)


def assignment_out(service: AssignmentService, lead_id: str) -> dict[str, Any]:
    """The lead's measures and history as the API returns them."""
    measures = service.measures([lead_id])[lead_id]
    return {**asdict(measures), "history": service.history("lead", lead_id)}


def lead_measure_fields(request: Request, lead_id: str) -> dict[str, Any]:
    """assigned_at, first_response_due_at, first_response_at and sla of one lead.

    For other lead routes (``GET /v1/leads/{id}/measures``) to merge into their answer.
    """
    measures = service_of(request).measures([lead_id])[lead_id]
    names = ("assigned_at", "first_response_due_at", "first_response_at", "sla")
    return {name: getattr(measures, name) for name in names}


@router.post(
    "/v1/leads/{record_id}/assign",
    response_model=AssignmentOut,
    summary="Assign a lead by hand (or by the rules)",
)
def assign_lead(
    record_id: RecordIdPath,
    body: AssignIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("writer"))],
) -> dict[str, Any]:
    """Give the lead to ``agent_id`` (``why`` required), or let the rules assign it."""
    service = service_of(request)
    if body.agent_id is None:
        service.assign(record_id)
    else:
        if body.why is None:
            raise Problem(
                422,
                "validation",
                "a manual assignment needs a reason",
                errors=[{"field": "why", "message": "required with agent_id"}],
            )
        service.reassign(record_id, body.agent_id, by=principal.name, why=body.why)
    return assignment_out(service, record_id)


@router.get(
    "/v1/leads/{record_id}/assignment",
    response_model=AssignmentOut,
    summary="A lead's owner, first-response SLA and assignment history",
)
def get_assignment(
    record_id: RecordIdPath,
    request: Request,
    principal: Annotated[Principal, Depends(require("reader"))],
) -> dict[str, Any]:
    """Return the lead's current assignment, SLA state and every step so far."""
    service = service_of(request)
    service.lead_record(record_id)
    return assignment_out(service, record_id)


@router.post(
    "/v1/leads/{record_id}/followups",
    response_model=FollowUpOut,
    status_code=201,
    summary="Create a follow-up task of a lead",
)
def post_followup(
    record_id: RecordIdPath,
    body: FollowUpIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("writer"))],
) -> dict[str, Any]:
    """Create a task with a stage and deadline; an alert fires if it is still open then."""
    task_id = create_followup(
        service_of(request),
        record_id,
        stage=body.stage,
        due_at=body.due_at,
        by=principal.name,
        subject=body.subject,
        owner_id=body.owner_id,
    )
    return {"task_id": task_id}


@router.post("/v1/tasks/{record_id}/snooze", response_model=TaskHistoryOut, summary="Snooze a task")
def post_snooze(
    record_id: RecordIdPath,
    body: SnoozeIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("writer"))],
) -> dict[str, Any]:
    """Move an open task's deadline (and its overdue alert) to ``until``."""
    service = service_of(request)
    try:
        snooze(service, record_id, until=body.until, by=principal.name, why=body.why)
    except ValueError as error:
        raise Problem(409, "conflict", str(error)) from None
    return {"task_id": record_id, "history": service.history("task", record_id)}


@router.post(
    "/v1/tasks/{record_id}/assign", response_model=TaskHistoryOut, summary="Reassign a task"
)
def post_task_assign(
    record_id: RecordIdPath,
    body: TaskAssignIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("writer"))],
) -> dict[str, Any]:
    """Move a task to another agent, keeping who, when and why."""
    service = service_of(request)
    reassign_task(service, record_id, body.agent_id, by=principal.name, why=body.why)
    return {"task_id": record_id, "history": service.history("task", record_id)}


@router.get(
    "/v1/tasks/{record_id}/assignment",
    response_model=TaskHistoryOut,
    summary="A task's ownership and snooze history",
)
def get_task_history(
    record_id: RecordIdPath,
    request: Request,
    principal: Annotated[Principal, Depends(require("reader"))],
) -> dict[str, Any]:
    """Return every change of owner and deadline of a task."""
    return {"task_id": record_id, "history": task_history(service_of(request), record_id)}


@router.put("/v1/agents/{record_id}/away", status_code=204, summary="Mark an agent away")
def put_away(
    record_id: RecordIdPath,
    body: AwayIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("writer"))],
) -> Response:
    """Take an agent out of the rotation until ``until`` (or until cleared)."""
    service_of(request).set_away(record_id, until=body.until, reason=body.reason)
    return Response(status_code=204)


@router.delete("/v1/agents/{record_id}/away", status_code=204, summary="An agent is back")
def delete_away(
    record_id: RecordIdPath,
    request: Request,
    principal: Annotated[Principal, Depends(require("writer"))],
) -> Response:
    """Put an agent back into the rotation."""
    service_of(request).clear_away(record_id)
    return Response(status_code=204)


__all__ = ["assignment_out", "lead_measure_fields", "on_unknown_record", "router", "service_of"]
