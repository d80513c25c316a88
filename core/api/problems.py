"""RFC 9457 problem details: every error the API returns has this machine-readable shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:crm-sync:problem:"
MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Validation failed",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """An error the API answers with problem+json; ``slug`` names its type."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.headers = headers


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    """Render a Problem as an RFC 9457 response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + problem.slug,
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors is not None:
        body["errors"] = problem.errors
    return JSONResponse(
        body, status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers
    )


def field_errors(
    errors: list[Any], *, skip_prefix: tuple[str, ...] = ("body",)
) -> list[dict[str, Any]]:
    """Turn pydantic errors into ``{"field", "message", "code"}`` items without echoing input."""
    items = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        if location[: len(skip_prefix)] == list(skip_prefix):
            location = location[len(skip_prefix) :]
        items.append(
            {
                "field": ".".join(location) or None,
                "message": error.get("msg", "invalid"),
                "code": error.get("type", "invalid"),
            }
        )
    return items


async def on_problem(request: Request, error: Exception) -> JSONResponse:
    """Answer a raised Problem."""
    assert isinstance(error, Problem)
    return problem_response(error, request.url.path)


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    """Answer request validation errors: 400 for malformed JSON, 422 with field errors otherwise."""
    assert isinstance(error, RequestValidationError | ValidationError)
    errors = list(error.errors())
    if any(item.get("type") == "json_invalid" for item in errors):
        problem = Problem(400, "malformed-json", "the request body is not valid JSON")
    elif any(
        item.get("type") == "missing" and tuple(item.get("loc", ())) == ("body",) for item in errors
    ):
        problem = Problem(400, "missing-body", "the request needs a JSON body")
    else:
        in_body = all(tuple(item.get("loc", ()))[:1] == ("body",) for item in errors)
        problem = Problem(
            422,
            "validation-error",
            "the request body does not match the schema"
            if in_body
            else "the request's parameters or body do not match the schema",
            errors=field_errors(errors),
        )
    return problem_response(problem, request.url.path)


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    """Answer Starlette's own HTTP errors (unknown route, wrong method) as problems."""
    assert isinstance(error, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    detail = (
        error.detail if isinstance(error.detail, str) else TITLES.get(error.status_code, "Error")
    )
    headers = dict(error.headers) if error.headers else None
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return problem_response(
        Problem(error.status_code, slug, detail, headers=headers), request.url.path
    )


#: The methods a 405 may name (OPTIONS and TRACE are answered by no route).
METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on the request's path.

    Starlette's 405 names only the methods of the first route whose path matched,
    although a path such as ``/v1/leads/{id}`` has its GET and its PUT on two routes;
    each method is asked of the routes the way Starlette's router asks them.
    """
    routes = request.app.router.routes
    answered = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    # A path the OpenAPI document names as it is (one plugin's webhook) lists only the
    # methods documented there: a generic route's GET that this plugin answers with 404
    # (no URL check) is not a method of the resource.
    documented = request.app.openapi().get("paths", {}).get(request.url.path)
    if documented is None:
        return answered
    return [method for method in answered if method.lower() in documented]


async def on_database_error(request: Request, error: Exception) -> JSONResponse:
    """Answer a database that cannot be reached with 503: the client may try again soon."""
    return problem_response(
        Problem(
            503,
            "database-unavailable",
            "the database does not answer; try again shortly",
            headers={"Retry-After": "5"},
        ),
        request.url.path,
    )


INTERNAL_ERROR = "the server failed; the error has been logged"


async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
    """Answer any other exception with a 500 problem that leaks nothing about the cause."""
    return problem_response(Problem(500, "internal-error", INTERNAL_ERROR), request.url.path)


class AnswerUnexpected:
    """Log an exception no handler answered; answer it with a 500 problem, keeping the connection.

    Starlette's own last-resort handler re-raises after answering, and the server then
    closes the connection, so a pooled client's next, valid request failed too. Here
    the exception ends with its answer; only an exception raised after the response
    started (which cannot be answered any more) goes on to the server.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the application; answer 500 for what it raises before it started answering."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                raise
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            problem = Problem(500, "internal-error", INTERNAL_ERROR)
            await problem_response(problem, scope.get("path", ""))(scope, receive, send)
