"""The web base every page of crm-sync builds on: sign-in, sessions, CSRF, headers, templates.

A :class:`WebSite` owns the Jinja2 environment (templates and messages of ``core.web``
plus those of each package that adds pages), the session store and the routes that
every page needs (sign-in, sign-out, preferences, static files). Pages are ordinary
FastAPI routes that depend on :meth:`WebSite.viewer` (GET: who is looking) or
:meth:`WebSite.form` (POST: who acts, with the CSRF token checked and the form read).

Security: the session cookie is HttpOnly and SameSite=Strict (and Secure, with the
``__Host-`` prefix, outside development); every POST must carry the session's CSRF
token and come from this site; GET never changes anything; every response under the
site's prefix carries a strict Content-Security-Policy that allows nothing from
outside the server, no inline script and no inline style.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import BaseLoader, ChoiceLoader, Environment, PackageLoader, StrictUndefined
from sqlalchemy import Engine
from starlette.datastructures import FormData, MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.api.auth import Principal, TokenVerifier, allows
from core.errors import ConfigurationError
from core.settings import Role, Settings
from core.web.locale import Catalog, Locale, Preferences
from core.web.sessions import Session, SessionStore, SignInThrottle

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: The form field (and header) that carries the CSRF token.
CSRF_FIELD = "csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SecurityHeaders:
    """Adds the security headers to the answers of the site's pages, as plain ASGI.

    ``SECURITY_HEADERS`` go on every answer under the prefix, ``Cache-Control: no-store``
    on all but static files; other paths pass through untouched.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request, adding the headers to the answer's start under the prefix."""
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(f"{self.prefix}/")
        ):
            await self.app(scope, receive, send)
            return
        static = path.startswith(f"{self.prefix}/static/")

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, add_headers)


class WebError(Exception):
    """A page cannot be shown or an action cannot be taken; answered by the site's handler."""

    def __init__(self, status: int, key: str, *, location: str | None = None) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.location = location


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: their principal and session."""

    principal: Principal
    session: Session

    def can(self, needed: Role) -> bool:
        """Whether this person's role allows what needs ``needed``."""
        return allows(self.principal.role, needed)


@dataclass(frozen=True)
class NavItem:
    """A link of the site's navigation: where, its message key, the role that sees it."""

    path: str
    label: str
    role: Role = "reader"


def source_of(request: Request) -> str:
    """Where a request came from, for sessions and the audit: the client's address."""
    return request.client.host if request.client else "unknown"


def local_target(value: str | None, fallback: str) -> str:
    """``value`` if it is a path on this site (no scheme, host or ``//``), else ``fallback``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return fallback
    return value


def pretty_json(value: Any) -> str:
    """A document as indented JSON for people (the template escapes it as text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def query_without(values: dict[str, str], key: str) -> str:
    """A query string of the set ``values`` without ``key`` (a link to the first page)."""
    return urlencode({k: v for k, v in values.items() if v and k != key})


def query_with(values: dict[str, str], key: str, value: str) -> str:
    """A query string of the set ``values`` with ``key`` set to ``value`` (the next page)."""
    return urlencode({**{k: v for k, v in values.items() if v}, key: value})


class WebSite:
    """The shared base of crm-sync's pages under ``prefix`` (``/admin``)."""

    def __init__(
        self, settings: Settings, engine: Engine, verifier: TokenVerifier, *, prefix: str = "/admin"
    ) -> None:
        if settings.environment == "production" and not settings.api_tokens:
            raise ConfigurationError(
                "api_tokens: the admin console refuses to start in production without "
                "API tokens (set CRM_SYNC_API_TOKENS)"
            )
        self.settings = settings
        self.console = settings.console
        self.prefix = prefix
        self.secure = settings.environment != "development"
        cookie_prefix = "__Host-" if self.secure else ""
        self.session_cookie = f"{cookie_prefix}crm_sync_session"
        self.csrf_cookie = f"{cookie_prefix}crm_sync_csrf"
        self.prefs_cookie = f"{cookie_prefix}crm_sync_prefs"
        self.zone = ZoneInfo(self.console.time_zone)
        self.default_prefs = Preferences(
            self.console.language, self.console.calendar, self.console.digits
        )
        self.catalog = Catalog()
        self.loaders: list[BaseLoader] = []
        self.loader = ChoiceLoader(self.loaders)
        self.env = Environment(loader=self.loader, autoescape=True, undefined=StrictUndefined)
        self.env.globals["static"] = self.static_url
        self.env.globals["prefix"] = prefix
        self.env.filters["urlencode_without"] = query_without
        self.env.filters["urlencode_with"] = query_with
        self.env.filters["pretty"] = pretty_json
        self.add_package("core.web")
        self.sessions = SessionStore(engine, verifier, timedelta(hours=self.console.session_hours))
        self.verifier = verifier
        self.throttle = SignInThrottle()
        self.nav: list[NavItem] = []
        self.router = APIRouter(prefix=prefix, include_in_schema=False)
        self._routes()

    # -- set-up -----------------------------------------------------------------

    def add_package(self, package: str) -> None:
        """Use ``package``'s ``templates/`` (before those added earlier) and ``messages/``."""
        self.loaders.insert(0, PackageLoader(package, "templates"))
        self.catalog.add(package)

    def install(self, app: FastAPI) -> None:
        """Add the site's routes, static files, error handler and security headers to ``app``."""
        app.include_router(self.router)
        app.mount(
            f"{self.prefix}/static",
            StaticFiles(packages=[("core.web", "static")]),
            name="web-static",
        )
        app.add_exception_handler(WebError, self._on_error)  # type: ignore[arg-type]
        app.add_middleware(SecurityHeaders, prefix=self.prefix)

    def static_url(self, name: str) -> str:
        """The URL of a file of ``core/web/static``."""
        return f"{self.prefix}/static/{name}"

    # -- who is looking ------------------------------------------------------------

    def locale(self, request: Request) -> Locale:
        """The request's locale from its preferences cookie (or the console's defaults)."""
        prefs = Preferences.decode(request.cookies.get(self.prefs_cookie), self.default_prefs)
        if self.prefs_cookie not in request.cookies:
            wanted = request.headers.get("accept-language", "")[:2].lower()
            if wanted in ("fa", "en") and wanted != prefs.language:
                digits = "latin" if wanted == "en" else "persian"
                prefs = Preferences(wanted, prefs.calendar, digits)
        return Locale(self.catalog, prefs, self.zone)

    def current(self, request: Request) -> Viewer | None:
        """The signed-in viewer of a request, or None."""
        session = self.sessions.find(request.cookies.get(self.session_cookie))
        return Viewer(session.principal, session) if session else None

    def viewer(self, role: Role = "reader") -> Callable[[Request], Viewer]:
        """A dependency for pages: the viewer, else a redirect to sign-in, or 403 for the role."""

        def dependency(request: Request) -> Viewer:
            viewer = self.current(request)
            if viewer is None:
                target = quote(
                    request.url.path + (f"?{request.url.query}" if request.url.query else "")
                )
                raise WebError(303, "sign_in", location=f"{self.prefix}/sign-in?next={target}")
            if not viewer.can(role):
                raise WebError(403, "errors.role")
            return viewer

        return dependency

    def form(
        self, role: Role = "reader"
    ) -> Callable[[Request], Awaitable[tuple[Viewer, FormData]]]:
        """A dependency for actions: the viewer and the form, CSRF token and origin checked."""

        async def dependency(request: Request) -> tuple[Viewer, FormData]:
            viewer = self.current(request)
            if viewer is None:
                raise WebError(303, "sign_in", location=f"{self.prefix}/sign-in")
            form = await request.form()
            self._check_origin(request)
            presented = str(form.get(CSRF_FIELD) or request.headers.get("x-csrf-token") or "")
            if not secrets.compare_digest(presented.encode(), viewer.session.csrf.encode()):
                raise WebError(403, "errors.csrf")
            if not viewer.can(role):
                raise WebError(403, "errors.role")
            return viewer, form

        return dependency

    def _check_origin(self, request: Request) -> None:
        """Refuse a state-changing request that a browser says came from another site."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise WebError(403, "errors.csrf")
        origin = request.headers.get("origin")
        if origin and origin != "null":
            host = request.headers.get("host", "")
            if urlsplit(origin).netloc != host:
                raise WebError(403, "errors.csrf")

    # -- rendering -------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None,
        *,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """A page: ``template`` with the locale, viewer, CSRF token and navigation."""
        loc = self.locale(request)
        csrf = viewer.session.csrf if viewer else self._anonymous_csrf(request)
        html = self.env.get_template(template).render(
            loc=loc,
            t=loc.t,
            viewer=viewer,
            csrf=csrf,
            nav=[item for item in self.nav if viewer and viewer.can(item.role)],
            path=request.url.path,
            query=request.url.query,
            refresh_seconds=self.console.refresh_seconds,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if viewer is None and request.cookies.get(self.csrf_cookie) != csrf:
            self._cookie(response, self.csrf_cookie, csrf, max_age=3600)
        return response

    def _anonymous_csrf(self, request: Request) -> str:
        """The CSRF token of a visitor not signed in: a random cookie the form repeats."""
        value = request.cookies.get(self.csrf_cookie)
        if value and 20 <= len(value) <= 64:
            return value
        return secrets.token_urlsafe(24)

    def _cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def redirect(self, location: str) -> RedirectResponse:
        """See-other to ``location`` (after a POST)."""
        return RedirectResponse(location, status_code=303)

    async def _on_error(self, request: Request, error: WebError) -> Response:
        if error.location is not None:
            return self.redirect(error.location)
        viewer = None if error.key == "errors.csrf" else self.current(request)
        return self.render(
            request, "web/error.html", viewer, status=error.status, message_key=error.key
        )

    # -- the routes every site has ------------------------------------------------------

    def _routes(self) -> None:
        router = self.router

        @router.get("/sign-in", response_class=HTMLResponse)
        def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
            target = local_target(next, self.prefix)
            return self.render(request, "web/sign_in.html", None, next=target, failed=False)

        @router.post("/sign-in", response_class=HTMLResponse)
        async def sign_in(request: Request) -> Response:
            form = await request.form()
            self._check_anonymous_csrf(request, form)
            target = local_target(str(form.get("next") or ""), self.prefix)
            source = source_of(request)
            token = str(form.get("token") or "").strip()
            principal = None
            if not self.throttle.blocked(source) and 0 < len(token) <= 512:
                principal = self.verifier.verify(token)
            if principal is None:
                self.throttle.failed(source)
                return self.render(
                    request, "web/sign_in.html", None, status=401, next=target, failed=True
                )
            value, _ = self.sessions.create(principal, source)
            response = self.redirect(target)
            self._cookie(
                response,
                self.session_cookie,
                value,
                max_age=int(self.console.session_hours * 3600),
            )
            response.delete_cookie(self.csrf_cookie, path="/")
            return response

        @router.post("/sign-out")
        async def sign_out(request: Request) -> Response:
            viewer, _ = await self.form("reader")(request)
            self.sessions.end(viewer.session)
            response = self.redirect(f"{self.prefix}/sign-in")
            response.delete_cookie(self.session_cookie, path="/")
            return response

        @router.post("/preferences")
        async def preferences(request: Request) -> Response:
            form = await request.form()
            if self.current(request) is None:
                self._check_anonymous_csrf(request, form)
            else:
                await self.form("reader")(request)
            current = self.locale(request).prefs
            chosen = Preferences.decode(
                ".".join(
                    str(form.get(name) or getattr(current, name))
                    for name in ("language", "calendar", "digits")
                ),
                current,
            )
            response = self.redirect(local_target(str(form.get("next") or ""), self.prefix))
            self._cookie(response, self.prefs_cookie, chosen.encode(), max_age=365 * 86400)
            return response

    def _check_anonymous_csrf(self, request: Request, form: FormData) -> None:
        self._check_origin(request)
        cookie = request.cookies.get(self.csrf_cookie) or ""
        presented = str(form.get(CSRF_FIELD) or "")
        if not cookie or not secrets.compare_digest(cookie.encode(), presented.encode()):
            raise WebError(403, "errors.csrf")
