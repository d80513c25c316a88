"""The admin console's pages under ``/admin``: what admins see, and the forms they act with.

Reading pages are GET routes that need the ``reader`` role; every action is a POST
through ``site.form`` (session and CSRF token checked) that then checks the role the
action needs (``core.admin.actions.NEEDS``), acts through the same functions as the API
and the CLI, and answers with a redirect (post/redirect/get).
"""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from core.admin import actions, jobs
from core.admin.audit import CONSOLE, Actor, entries
from core.admin.deliveries import (
    Summary,
    delivery_detail,
    delivery_summary,
    inbox_detail,
    inbox_summary,
    search_deliveries,
    search_inbox,
)
from core.admin.filters import (
    DELIVERY_LISTS,
    INBOX_STATES,
    DeliveryCursor,
    DeliveryFilter,
    FilterError,
    InboxFilter,
)
from core.admin.overview import HealthCache, overview
from core.admin.snapshots import DAY_ROWS, HOUR_ROWS, MINUTE_ROWS, history, snapshot_plugins
from core.db.admin_tables import IN, OUT
from core.db.types import utcnow
from core.kinds import KINDS
from core.sync.error_class import NAMED
from core.sync.runtime import SyncRuntime
from core.web import NavItem, Series, Viewer, WebError, WebSite, line_chart, source_of

#: The history ranges: which resolution each reads and how far back.
RANGES = {
    "hours": (MINUTE_ROWS, timedelta(hours=6)),
    "day": (MINUTE_ROWS, timedelta(hours=24)),
    "days": (HOUR_ROWS, timedelta(days=7)),
    "months": (DAY_ROWS, timedelta(days=90)),
}
#: Notices a redirect may ask a page to show.
NOTICES = frozenset(
    {"retry", "purge", "resolve", "pause", "resume", "paused_already", "not_paused", "cancelled"}
)
PAGE_SIZE = 50


def actor_of(viewer: Viewer, request: Request) -> Actor:
    """The audit's actor for a person acting in the console."""
    return Actor(viewer.principal.name, viewer.principal.role, CONSOLE, source_of(request))


def reason_of(form: FormData) -> str | None:
    """The reason a person typed, trimmed and cut to 500 characters; None if empty."""
    text = str(form.get("reason") or "").strip()
    return text[:500] or None


class Console:
    """The console's routes on a :class:`WebSite`, around one process's runtime."""

    def __init__(self, site: WebSite, runtime: SyncRuntime) -> None:
        self.site = site
        self.runtime = runtime
        self.engine = runtime.engine
        self.health = HealthCache(runtime.settings.console.health_cache_seconds)
        site.add_package("core.admin")
        prefix = site.prefix
        site.nav.extend(
            [
                NavItem(prefix, "nav.overview"),
                NavItem(f"{prefix}/deliveries", "nav.deliveries"),
                NavItem(f"{prefix}/inbox", "nav.inbox"),
                NavItem(f"{prefix}/history", "nav.history"),
                NavItem(f"{prefix}/audit", "nav.audit"),
            ]
        )
        self.router = APIRouter(prefix=prefix, include_in_schema=False)
        self._pages()
        self._actions()

    def install(self, app: FastAPI) -> None:
        """Add the console's routes to ``app`` (the site is installed separately)."""
        app.include_router(self.router)

    @property
    def dispatchers(self) -> jobs.Dispatchers:
        """How this process enqueues what an action made due."""
        return jobs.Dispatchers(self.runtime.dispatch, self.runtime.dispatch_inbound)

    # -- pages ---------------------------------------------------------------------

    def _pages(self) -> None:
        site, router = self.site, self.router
        reader = Annotated[Viewer, Depends(site.viewer("reader"))]

        @router.get("", response_class=HTMLResponse)
        def overview_page(request: Request, viewer: reader) -> HTMLResponse:
            plugins = overview(self.engine, self.runtime.host, self.health)
            return site.render(
                request,
                "admin/overview.html",
                viewer,
                plugins=plugins,
                notice=_notice(request),
                can_pause=viewer.can(actions.NEEDS[actions.PAUSE]),
                can_resync=viewer.can(actions.NEEDS[actions.RESYNC]),
                active=set(self.runtime.host.active()),
                recent_jobs=jobs.list_jobs(self.engine, limit=5),
                now=utcnow(),
            )

        @router.get("/history", response_class=HTMLResponse)
        def history_page(
            request: Request,
            viewer: reader,
            plugin: str | None = None,
            direction: str = OUT,
            span_name: Annotated[str, Query(alias="range")] = "day",
        ) -> HTMLResponse:
            names = sorted(set(snapshot_plugins(self.engine)) | set(self.runtime.host.active()))
            chosen = plugin if plugin in names else (names[0] if names else None)
            if span_name not in RANGES:
                span_name = "day"
            if direction not in (OUT, IN):
                direction = OUT
            resolution, span = RANGES[span_name]
            points = (
                history(self.engine, direction, chosen, resolution, utcnow() - span)
                if chosen
                else []
            )
            loc = site.locale(request)

            def chart(
                key: str, lines: list[tuple[str, str, list[tuple[Any, float]]]], fmt: Any
            ) -> Any:
                return line_chart(
                    loc.t(key),
                    [Series(loc.t(name), css, pts) for name, css, pts in lines],
                    y_label=fmt,
                    x_label=loc.axis_time,
                    empty=loc.t("history.empty"),
                )

            charts = [
                chart(
                    "history.depth",
                    [
                        ("history.series.depth", "s0", [(p.at, p.depth) for p in points]),
                        ("history.series.dead", "s1", [(p.at, p.dead) for p in points]),
                    ],
                    loc.number,
                ),
                chart(
                    "history.lag",
                    [("history.series.lag", "s3", [(p.at, p.lag_seconds) for p in points])],
                    loc.duration,
                ),
                chart(
                    "history.throughput",
                    [
                        ("history.series.done", "s2", [(p.at, p.done) for p in points]),
                        ("history.series.failures", "s1", [(p.at, p.failures) for p in points]),
                    ],
                    loc.number,
                ),
            ]
            return site.render(
                request,
                "admin/history.html",
                viewer,
                names=names,
                chosen=chosen,
                direction=direction,
                range=span_name,
                ranges=list(RANGES),
                charts=charts,
            )

        @router.get("/deliveries", response_class=HTMLResponse)
        def deliveries_page(request: Request, viewer: reader) -> HTMLResponse:
            values = dict(request.query_params)
            try:
                criteria = DeliveryFilter.parse(values, site.zone)
                after = DeliveryCursor.decode(values["after"]) if values.get("after") else None
            except FilterError as error:
                return self._bad_filter(request, viewer, "admin/deliveries.html", error, values)
            page = search_deliveries(self.engine, criteria, after=after, limit=PAGE_SIZE)
            return site.render(
                request,
                "admin/deliveries.html",
                viewer,
                **self._list_context(viewer, values),
                criteria=criteria,
                page=page,
                **_summary(delivery_summary(self.engine, criteria)),
                error=None,
                notice=_notice(request),
            )

        @router.get("/deliveries/{plugin}/{kind}/{record_id}", response_class=HTMLResponse)
        def delivery_page(
            request: Request, viewer: reader, plugin: str, kind: str, record_id: str
        ) -> HTMLResponse:
            detail = delivery_detail(self.engine, self.runtime.host, plugin, kind, record_id)
            if detail is None:
                raise WebError(404, "errors.not_found")
            return site.render(
                request,
                "admin/delivery.html",
                viewer,
                detail=detail,
                notice=_notice(request),
                can=_abilities(viewer),
            )

        @router.get("/inbox", response_class=HTMLResponse)
        def inbox_page(request: Request, viewer: reader) -> HTMLResponse:
            values = dict(request.query_params)
            try:
                criteria = InboxFilter.parse(values, site.zone)
                before = int(values["before"]) if values.get("before", "").isdigit() else None
            except FilterError as error:
                return self._bad_filter(request, viewer, "admin/inbox.html", error, values)
            page = search_inbox(self.engine, criteria, before=before, limit=PAGE_SIZE)
            return site.render(
                request,
                "admin/inbox.html",
                viewer,
                **self._list_context(viewer, values),
                criteria=criteria,
                page=page,
                **_summary(inbox_summary(self.engine, criteria)),
                error=None,
                notice=_notice(request),
            )

        @router.get("/inbox/{event}", response_class=HTMLResponse)
        def inbox_event_page(request: Request, viewer: reader, event: int) -> HTMLResponse:
            detail = inbox_detail(self.engine, event)
            if detail is None:
                raise WebError(404, "errors.not_found")
            return site.render(
                request,
                "admin/inbox_event.html",
                viewer,
                detail=detail,
                notice=_notice(request),
                can=_abilities(viewer),
            )

        @router.get("/jobs/{job_id}", response_class=HTMLResponse)
        def job_page(request: Request, viewer: reader, job_id: int) -> HTMLResponse:
            job = jobs.get_job(self.engine, job_id)
            if job is None:
                raise WebError(404, "errors.not_found")
            return site.render(
                request,
                "admin/job.html",
                viewer,
                job=job,
                delivered=jobs.delivered(self.engine, job),
                can_act=viewer.can(actions.NEEDS.get(job.action, "admin")),
                audit=entries(self.engine, job_id=job_id),
            )

        @router.get("/audit", response_class=HTMLResponse)
        def audit_page(request: Request, viewer: reader, before: int | None = None) -> HTMLResponse:
            rows = entries(self.engine, before=before, limit=PAGE_SIZE + 1)
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            return site.render(
                request,
                "admin/audit.html",
                viewer,
                rows=rows,
                next_before=rows[-1].id if more else None,
                jobs=jobs.list_jobs(self.engine, limit=10),
            )

    def _list_context(self, viewer: Viewer, values: dict[str, str]) -> dict[str, Any]:
        return {
            "values": values,
            "plugins": sorted(set(self.runtime.host.names())),
            "kinds": sorted(kind.type for kind in KINDS.values()),
            "classes": NAMED,
            "lists": list(DELIVERY_LISTS),
            "inbox_states": INBOX_STATES,
            "can": _abilities(viewer),
        }

    def _bad_filter(
        self,
        request: Request,
        viewer: Viewer,
        template: str,
        error: FilterError,
        values: dict[str, str],
    ) -> HTMLResponse:
        from core.admin.deliveries import Page

        return self.site.render(
            request,
            template,
            viewer,
            status=400,
            **self._list_context(viewer, values),
            criteria=None,
            page=Page([], None),
            total=0,
            groups=[],
            error=error,
            notice=None,
        )

    # -- actions -----------------------------------------------------------------------

    def _actions(self) -> None:
        site, router, prefix = self.site, self.router, self.site.prefix
        acting = Annotated[tuple[Viewer, FormData], Depends(site.form("reader"))]

        def allowed(viewer: Viewer, action: str) -> None:
            needed = actions.NEEDS.get(action)
            if needed is None:
                raise WebError(400, "errors.unknown_action")
            if not viewer.can(needed):
                raise WebError(403, "errors.role")

        @router.post("/deliveries/act")
        def act_deliveries(request: Request, acted: acting) -> Response:
            viewer, form = acted
            action = str(form.get("action") or "")
            allowed(viewer, action)
            if action not in actions.DELIVERY_FROM:
                raise WebError(400, "errors.unknown_action")
            keys = [_key(str(value)) for value in form.getlist("key")]
            if not keys:
                raise WebError(400, "errors.nothing_selected")
            changed = actions.act_on_deliveries(
                self.engine,
                action,
                keys,
                actor_of(viewer, request),
                reason=reason_of(form),
                dispatch=self.runtime.dispatch,
            )
            back = _back(form, f"{prefix}/deliveries")
            return site.redirect(_with_notice(back, action, changed))

        @router.post("/deliveries/count")
        def count_deliveries_action(request: Request, acted: acting) -> Response:
            viewer, form = acted
            action = str(form.get("action") or "")
            allowed(viewer, action)
            values = {k: str(v) for k, v in form.items() if k not in ("csrf", "action", "next")}
            try:
                criteria = DeliveryFilter.parse(values, site.zone)
            except FilterError as error:
                raise WebError(400, "errors.bad_filter_plain") from error
            try:
                job = jobs.count_job(self.engine, action, criteria, actor_of(viewer, request))
            except jobs.JobError as error:
                raise WebError(400, "errors.unknown_action") from error
            return site.redirect(f"{prefix}/jobs/{job.id}")

        @router.post("/inbox/act")
        def act_inbox(request: Request, acted: acting) -> Response:
            viewer, form = acted
            action = str(form.get("action") or "")
            allowed(viewer, action)
            if action not in actions.INBOX_FROM:
                raise WebError(400, "errors.unknown_action")
            ids = [int(str(value)) for value in form.getlist("key") if str(value).isdigit()]
            if not ids:
                raise WebError(400, "errors.nothing_selected")
            changed = actions.act_on_inbox(
                self.engine,
                action,
                ids,
                actor_of(viewer, request),
                reason=reason_of(form),
                dispatch=self.runtime.dispatch_inbound,
            )
            back = _back(form, f"{prefix}/inbox")
            return site.redirect(_with_notice(back, action, changed))

        @router.post("/inbox/count")
        def count_inbox_action(request: Request, acted: acting) -> Response:
            viewer, form = acted
            action = str(form.get("action") or "")
            allowed(viewer, action)
            values = {k: str(v) for k, v in form.items() if k not in ("csrf", "action", "next")}
            try:
                criteria = InboxFilter.parse(values, site.zone)
                job = jobs.count_job(self.engine, action, criteria, actor_of(viewer, request))
            except (FilterError, jobs.JobError) as error:
                raise WebError(400, "errors.bad_filter_plain") from error
            return site.redirect(f"{prefix}/jobs/{job.id}")

        @router.post("/jobs/{job_id}/confirm")
        def confirm(request: Request, acted: acting, job_id: int) -> Response:
            viewer, form = acted
            job = jobs.get_job(self.engine, job_id)
            if job is None:
                raise WebError(404, "errors.not_found")
            allowed(viewer, job.action)
            try:
                jobs.confirm_job(
                    self.engine, job_id, actor_of(viewer, request), reason=reason_of(form)
                )
            except jobs.JobError as error:
                raise WebError(409, "errors.job_state") from error
            return site.redirect(f"{prefix}/jobs/{job_id}")

        @router.post("/jobs/{job_id}/cancel")
        def cancel(request: Request, acted: acting, job_id: int) -> Response:
            viewer, _ = acted
            job = jobs.get_job(self.engine, job_id)
            if job is None:
                raise WebError(404, "errors.not_found")
            allowed(viewer, job.action)
            try:
                jobs.cancel_job(self.engine, job_id, actor_of(viewer, request))
            except jobs.JobError as error:
                raise WebError(409, "errors.job_state") from error
            return site.redirect(f"{prefix}/jobs/{job_id}")

        @router.post("/plugins/{plugin}/pause")
        def pause(request: Request, acted: acting, plugin: str) -> Response:
            viewer, form = acted
            allowed(viewer, actions.PAUSE)
            reason = reason_of(form) or "paused in the console"
            done = actions.pause(self.engine, plugin, actor_of(viewer, request), reason=reason)
            self.health.forget(plugin)
            return site.redirect(_with_notice(prefix, "pause" if done else "paused_already", 1))

        @router.post("/plugins/{plugin}/resume")
        def resume(request: Request, acted: acting, plugin: str) -> Response:
            viewer, form = acted
            allowed(viewer, actions.RESUME)
            done = actions.resume(
                self.engine, plugin, actor_of(viewer, request), reason=reason_of(form)
            )
            self.health.forget(plugin)
            return site.redirect(_with_notice(prefix, "resume" if done else "not_paused", 1))

        @router.post("/plugins/{plugin}/resync")
        def resync(request: Request, acted: acting, plugin: str) -> Response:
            viewer, form = acted
            allowed(viewer, actions.RESYNC)
            if plugin not in self.runtime.host.active():
                raise WebError(400, "errors.inactive_plugin")
            kinds = list(self.runtime.host.description(plugin).subscriptions)
            kinds = [kind for kind in kinds if not kind.startswith("event.")]
            job = jobs.start_resync(
                self.engine, plugin, kinds, actor_of(viewer, request), reason=reason_of(form)
            )
            return site.redirect(f"{prefix}/jobs/{job.id}")


def _summary(summary: Summary) -> dict[str, Any]:
    """A list's total and error groups, as its template names them."""
    return {"total": summary.total, "groups": summary.groups}


def _abilities(viewer: Viewer) -> dict[str, bool]:
    """Which actions this viewer may take, for templates to show only those."""
    return {action: viewer.can(role) for action, role in actions.NEEDS.items()}


def _key(value: str) -> actions.Key:
    """A delivery named ``plugin/kind/record_id`` (the id may itself hold slashes)."""
    plugin, _, rest = value.partition("/")
    kind, _, record_id = rest.partition("/")
    if not plugin or not kind or not record_id:
        raise WebError(400, "errors.nothing_selected")
    return plugin, kind, record_id


def _back(form: FormData, fallback: str) -> str:
    from core.web import local_target

    return local_target(str(form.get("next") or ""), fallback)


def _with_notice(location: str, notice: str, count: int) -> str:
    joiner = "&" if "?" in location else "?"
    return f"{location}{joiner}notice={notice}&n={count}"


def _notice(request: Request) -> tuple[str, int] | None:
    """The notice a redirect asked for: a known key and a count."""
    key = request.query_params.get("notice")
    count = request.query_params.get("n", "0")
    if key not in NOTICES or not count.isdigit():
        return None
    return key, int(count)


def mount_console(app: FastAPI, runtime: SyncRuntime) -> WebSite:
    """Serve the admin console on ``app`` under ``/admin``; return the site for more pages."""
    site = WebSite(runtime.settings, runtime.engine, app.state.verifier)
    console = Console(site, runtime)
    site.install(app)
    console.install(app)
    app.state.web = site
    return site
