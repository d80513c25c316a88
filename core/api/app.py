"""The FastAPI application: records, admin, health, readiness, metrics and docs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import dramatiq
from fastapi import Depends, FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.admin.console import mount_console
from core.admin.jobs import Dispatchers, JobRunner
from core.admin.snapshots import Maintenance
from core.api import (
    admin,
    admin_console,
    assignment,
    leads,
    media,
    problems,
    schemas,
    webhooks,
)
from core.api.auth import TokenVerifier, configured_tokens, require
from core.api.docs import mount_docs
from core.api.foreground import ForegroundWrites
from core.api.limits import BodyGuard, TakeTurns
from core.api.openapi import build_openapi
from core.api.records import record_routers
from core.api.request_metrics import CountRequests
from core.db.engine import reading
from core.metrics import ApiMetrics
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import Scheduler
from core.sync.sweeper import Sweeper
from kpis import api as kpis_api
from kpis import customers_api
from kpis.console_pages import mount_kpi_pages
from lead_scoring.assignment import UnknownRecord
from lead_scoring.plugin import periodic_jobs as lead_scoring_jobs
from lead_scoring.sla import periodic_jobs as sla_jobs

log = logging.getLogger(__name__)


def broker_reachable(runtime: SyncRuntime) -> str | None:
    """Return None when the broker answers, else a short reason."""
    broker: Any = runtime.broker
    try:
        if hasattr(broker, "client"):
            broker.client.ping()
        elif hasattr(broker, "parameters"):
            import pika

            pika.BlockingConnection(broker.parameters).close()
    except Exception as error:
        return f"broker unreachable: {type(error).__name__}"
    return None


class Background:
    """The threads ``serve`` runs beside the API: the sweeper and, embedded, the worker."""

    def __init__(self, runtime: SyncRuntime) -> None:
        self.runtime = runtime
        self.worker: dramatiq.Worker | None = None
        self.sweeper: Sweeper | None = None
        self.scheduler: Scheduler | None = None
        self.jobs: JobRunner | None = None
        self.maintenance: Maintenance | None = None

    def start(self) -> None:
        """Start the sweeper and, on the embedded default, the worker and the scheduler."""
        if self.runtime.settings.embedded:
            self.worker = dramatiq.Worker(
                self.runtime.broker, worker_threads=self.runtime.settings.worker_threads
            )
            self.worker.start()
            self.scheduler = Scheduler(
                self.runtime, [*lead_scoring_jobs(self.runtime), *sla_jobs(self.runtime)]
            )
            self.scheduler.start()
        self.sweeper = Sweeper(self.runtime)
        self.sweeper.start()
        self.maintenance = Maintenance(self.runtime)
        self.maintenance.start()
        dispatch = Dispatchers(self.runtime.dispatch, self.runtime.dispatch_inbound)
        self.jobs = JobRunner(self.runtime.engine, dispatch)
        self.jobs.start()

    def stop(self) -> None:
        """Stop the scheduler, sweeper and console loops, then let the worker finish."""
        for loop in (self.jobs, self.maintenance):
            if loop is not None:
                loop.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.worker is not None:
            self.worker.stop(timeout=10_000)


def create_app(runtime: SyncRuntime, *, background: bool = True) -> FastAPI:
    """Build the API around ``runtime``; ``background`` starts the sweeper (and embedded worker)."""
    services = Background(runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if background:
            services.start()
        try:
            yield
        finally:
            if background:
                services.stop()

    app = FastAPI(
        title="crm-sync",
        summary="Integration hub between a CRM and the systems around it",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.openapi = lambda: build_openapi(app, runtime)  # type: ignore[method-assign]
    app.state.verifier = TokenVerifier(configured_tokens(runtime.settings))
    app.state.background = services
    metrics = ApiMetrics(runtime.engine)
    app.state.metrics = metrics

    app.add_exception_handler(problems.Problem, problems.on_problem)
    app.add_exception_handler(RequestValidationError, problems.on_validation_error)
    app.add_exception_handler(ValidationError, problems.on_validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.on_http_error)
    app.add_exception_handler(OperationalError, problems.on_database_error)
    app.add_exception_handler(UnknownRecord, assignment.on_unknown_record)
    app.add_exception_handler(Exception, problems.on_unexpected)
    app.add_middleware(
        BodyGuard,
        limit=runtime.settings.max_body_bytes,
        limit_for=webhooks.declared_body_limit(runtime),
        signed_prefix=webhooks.router.prefix + "/",
    )
    app.add_middleware(problems.AnswerUnexpected)
    app.add_middleware(TakeTurns, prefix=webhooks.router.prefix + "/", limit=webhooks.WEBHOOK_TURNS)

    app.add_middleware(CountRequests, metrics=metrics)
    app.add_middleware(ForegroundWrites)

    # Webhooks first: a target's calls come in bursts, and a request is matched against
    # the routes in order (every record route is a regular expression to try).
    app.include_router(webhooks.router)
    for router in record_routers():
        app.include_router(router)
    app.include_router(admin.router)
    app.include_router(admin_console.router)
    app.include_router(schemas.router)
    app.include_router(leads.router)
    app.include_router(media.router)
    app.include_router(assignment.router)
    app.include_router(kpis_api.router)
    app.include_router(kpis_api.pipeline_router)
    app.include_router(kpis_api.funnel_router)
    app.include_router(customers_api.router)
    mount_kpi_pages(app, mount_console(app, runtime), runtime)
    mount_docs(app)

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Database and broker are reachable")
    def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            with reading(runtime.engine) as connection:
                connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unreachable: {type(error).__name__}"
        checks["broker"] = broker_reachable(runtime) or "ok"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        dependencies=[Depends(require("reader"))],
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    def get_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
