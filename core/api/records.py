"""Routes of the canonical records: upsert, read, list and sync state, one set per kind.

The list (``GET /v1/<kind>``) also exports every matching record as CSV or XLSX
(``?format=`` or Accept), written by the exports of :mod:`kpis.record_export`.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from core.api.auth import Principal, require
from core.api.problems import Problem
from core.kinds import KINDS, Kind
from core.list_filters import FILTERS, UnknownFilter, list_filters
from core.schemas.attributes import AttributesRefused
from core.schemas.base import ID_PATTERN, MAX_ID
from core.store import (
    ConcurrentUpdate,
    StoredRecord,
    get_record,
    list_records,
    searchable,
    sync_rows,
    timeline,
    write_from_caller,
)
from core.sync.error_class import waiting_on
from core.sync.runtime import SyncRuntime
from kpis.downloads import download, right_to_left, wanted_format
from kpis.money import toman_rows
from kpis.record_export import record_rows
from kpis.xlsx_export import XLSX_TYPE

log = logging.getLogger(__name__)

RecordIdPath = Annotated[
    str,
    Path(
        pattern=ID_PATTERN,
        min_length=1,
        max_length=MAX_ID,
        description="the CRM's id of the record",
    ),
]


class RecordOut(BaseModel):
    """A stored record: its document with computed fields, and bookkeeping."""

    type: str
    id: str
    version: int
    created_at: datetime
    updated_at: datetime
    data: dict[str, Any]


class WriteOut(RecordOut):
    """The answer to an upsert: ``changed`` is false when the body equalled the stored record."""

    changed: bool


class RecordPage(BaseModel):
    """A page of records ordered by id; pass ``next`` as ``after`` for the following page."""

    items: list[RecordOut]
    next: str | None


class PluginSyncOut(BaseModel):
    """One plugin's delivery state of one record."""

    plugin: str
    state: str
    external_id: str | None
    synced_version: int | None
    wanted_version: int
    attempts: int
    last_error: str | None
    waiting_on: str | None = None
    note: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None


class TimelineOut(BaseModel):
    """The events about one record, oldest first."""

    type: str
    id: str
    events: list[RecordOut]


class SyncOut(BaseModel):
    """The delivery state of one record for every plugin subscribed to it."""

    type: str
    id: str
    version: int
    plugins: list[PluginSyncOut]


def runtime_of(request: Request) -> SyncRuntime:
    """The process's sync runtime."""
    runtime: SyncRuntime = request.app.state.runtime
    return runtime


def record_out(stored: StoredRecord) -> dict[str, Any]:
    """Render a stored record with its computed fields."""
    return {
        "type": stored.kind.type,
        "id": stored.id,
        "version": stored.version,
        "created_at": stored.created_at,
        "updated_at": stored.updated_at,
        "data": stored.model().model_dump(mode="json"),
    }


def _not_found(kind: Kind, record_id: str) -> Problem:
    return Problem(404, "not-found", f"there is no {kind.type} with id {record_id!r}")


def _dispatch(runtime: SyncRuntime, plugins: Sequence[str], ref: tuple[str, str]) -> None:
    """Send the message of one written record to each plugin queued for it."""
    for plugin in plugins:
        runtime.dispatch(plugin, [ref])


def _add_put(router: APIRouter, kind: Kind) -> None:
    """Add the upsert route of a writable kind."""
    schema = kind.schema

    @router.put(
        "/{record_id}",
        response_model=WriteOut,
        summary=f"Create or update a {kind.type}",
        responses={201: {"model": WriteOut, "description": "created"}},
    )
    def put_record(
        record_id: RecordIdPath,
        body: Annotated[schema, Body()],  # type: ignore[valid-type]
        request: Request,
        response: Response,
        after_answer: BackgroundTasks,
        principal: Annotated[Principal, Depends(require("writer"))],
    ) -> dict[str, Any]:
        runtime = runtime_of(request)
        subscribers = runtime.host.subscribers(kind.type)
        try:
            result = write_from_caller(
                runtime.engine,
                kind,
                record_id,
                body,
                subscribers=subscribers,
                attributes=runtime.settings.attributes,
            )
        except AttributesRefused as error:
            raise Problem(422, "invalid-attributes", str(error)) from None
        except ConcurrentUpdate:
            raise Problem(
                409, "conflict", f"{kind.type} {record_id} is changing too fast; send it again"
            ) from None
        if result.subscribers:
            # Committed: the rows are due and the sweeper re-sends any message not sent,
            # so the client need not wait for the broker.
            after_answer.add_task(_dispatch, runtime, result.subscribers, (kind.type, record_id))
        if result.created:
            response.status_code = 201
        return {**record_out(result.record), "changed": result.changed}


def build_router(kind: Kind) -> APIRouter:
    """The routes of one kind, typed with its schema so /docs shows each body."""
    router = APIRouter(prefix=f"/v1/{kind.name}", tags=[kind.name])

    if kind.writable:
        _add_put(router, kind)

    @router.get(
        "/{record_id}/timeline", response_model=TimelineOut, summary=f"Timeline of a {kind.type}"
    )
    def get_timeline(
        record_id: RecordIdPath,
        request: Request,
        principal: Annotated[Principal, Depends(require("reader"))],
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        events = timeline(runtime_of(request).engine, kind.type, record_id, limit=limit)
        return {"type": kind.type, "id": record_id, "events": [record_out(e) for e in events]}

    @router.get("/{record_id}", response_model=RecordOut, summary=f"Read a {kind.type}")
    def get_one(
        record_id: RecordIdPath,
        request: Request,
        principal: Annotated[Principal, Depends(require("reader"))],
    ) -> dict[str, Any]:
        stored = get_record(runtime_of(request).engine, kind, record_id)
        if stored is None:
            raise _not_found(kind, record_id)
        return record_out(stored)

    filters = FILTERS.get(kind.name, {})

    def list_filter(name: str) -> Any:
        """A filter parameter, in the document only for the kinds that have it."""
        return Query(
            min_length=1,
            max_length=MAX_ID,
            description=f"only {kind.name} whose {filters.get(name, name)} is this",
            include_in_schema=name in filters,
        )

    @router.get(
        "",
        response_model=RecordPage,
        summary=f"List {kind.name} by id, or export them as CSV or XLSX",
        responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
    )
    def get_page(
        request: Request,
        principal: Annotated[Principal, Depends(require("reader"))],
        after: Annotated[
            str | None, Query(pattern=ID_PATTERN, min_length=1, max_length=MAX_ID)
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        q: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=200,
                description="words or a phone to search for",
                include_in_schema=searchable(kind),
            ),
        ] = None,
        status: Annotated[str | None, list_filter("status")] = None,
        owner: Annotated[str | None, list_filter("owner")] = None,
        source: Annotated[str | None, list_filter("source")] = None,
        stage: Annotated[str | None, list_filter("stage")] = None,
        customer: Annotated[str | None, list_filter("customer")] = None,
        lead: Annotated[str | None, list_filter("lead")] = None,
        channel: Annotated[str | None, list_filter("channel")] = None,
        direction: Annotated[str | None, list_filter("direction")] = None,
        output: Annotated[
            Literal["json", "csv", "xlsx"] | None,
            Query(
                alias="format",
                description="json (default), csv or xlsx (every matching record, oldest "
                "first, streamed; after and limit do not apply); an Accept of text/csv or "
                "of the XLSX type also works",
            ),
        ] = None,
        language: Annotated[
            Literal["fa", "en"] | None,
            Query(alias="lang", description="the XLSX sheet is right-to-left for fa"),
        ] = None,
        currency: Annotated[
            Literal["rials", "toman"] | None,
            Query(description="CSV and XLSX: amounts in Toman (Rials / 10) when toman"),
        ] = None,
    ) -> Any:
        asked = {
            "status": status, "owner": owner, "source": source, "stage": stage,
            "customer": customer, "lead": lead, "channel": channel, "direction": direction,
        }  # fmt: skip
        runtime = runtime_of(request)
        kind_format = wanted_format(request, output)
        try:
            if kind_format != "json":
                rows: Iterable[Sequence[Any]] = record_rows(
                    runtime.engine,
                    kind.name,
                    filters=asked,
                    q=q,
                    time_zone=runtime.settings.kpis.time_zone,
                )
                if currency == "toman":
                    rows = toman_rows(rows)
                rtl = right_to_left(request, language, runtime.settings.console.language)
                return download(rows, kind_format, name=kind.name, title=kind.name, rtl=rtl)
            conditions = list_filters(kind, asked, q)
        except UnknownFilter as error:
            raise Problem(400, error.problem, str(error)) from None
        records = list_records(runtime.engine, kind, after=after, limit=limit, filters=conditions)
        next_after = records[-1].id if len(records) == limit else None
        return {"items": [record_out(stored) for stored in records], "next": next_after}

    @router.get("/{record_id}/sync", response_model=SyncOut, summary=f"Sync state of a {kind.type}")
    def get_sync(
        record_id: RecordIdPath,
        request: Request,
        principal: Annotated[Principal, Depends(require("reader"))],
    ) -> dict[str, Any]:
        runtime = runtime_of(request)
        stored = get_record(runtime.engine, kind, record_id)
        if stored is None:
            raise _not_found(kind, record_id)
        plugins = [
            {
                "plugin": row.plugin,
                "state": row.state,
                "external_id": row.external_id,
                "synced_version": row.synced_version,
                "wanted_version": row.wanted_version,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "waiting_on": waiting_on(row.error_class),
                "note": row.note,
                "last_attempt_at": row.last_attempt_at,
                "next_attempt_at": row.due_at if row.state in ("pending", "failed") else None,
            }
            for row in sync_rows(runtime.engine, kind.type, record_id)
        ]
        return {"type": kind.type, "id": record_id, "version": stored.version, "plugins": plugins}

    return router


def record_routers() -> list[APIRouter]:
    """One router per canonical kind."""
    return [build_router(kind) for kind in KINDS.values()]
