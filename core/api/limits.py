"""The guard every request passes before a route runs: body size, JSON limits, query text.

One ASGI middleware, so records, admin actions, assignment and every plugin's webhook
refuse hostile input the same way without a check of their own:

- a body larger than the limit is a 413, whatever the method (DELETE and GET too);
  the limit is ``max_body_bytes``, or what the route's plugin declares for its webhook
  (``PluginDescription.max_body_bytes``), found through ``limit_for``;
- a JSON body (declared ``application/json``, ``*+json``, or not declared at all) that
  breaks the limits of core.json_limits is a 400 (not JSON, too deep, a huge number) or a
  422 naming the field (NUL or an unpaired surrogate in text) before any route reads it.
  Signed routes (``signed_prefix``, the webhooks) are the exception: nothing of their
  body is read before the plugin knows the sender, so a forged call is a 401 whatever it
  holds; the plugin then reads it with ``core.connectors.webhook.read_json``, which
  applies the same limits, and core checks the events before storing them;
- a query parameter holding NUL is a 422 naming the parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.api.problems import Problem, problem_response
from core.json_limits import FORBIDDEN_CHARACTERS, FORBIDDEN_MESSAGE, RefusedJSON, decode

#: Finds the body limit a path declares for itself, or None for the default.
LimitFor = Callable[[str], int | None]


def _no_route_limit(path: str) -> None:
    return None


class BodyGuard:
    """Reads at most the path's limit of a request body, checks it, then replays it.

    The body is buffered (it is small by definition) and replayed to the application,
    so nothing downstream ever sees a partial or unchecked body.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        limit_for: LimitFor = _no_route_limit,
        signed_prefix: str | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.limit_for = limit_for
        self.signed_prefix = signed_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413, 400 or 422 before the application runs."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _query_problem(scope.get("query_string", b""))
        if problem is not None:
            await problem_response(problem, scope.get("path", ""))(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.limit_for(path) or self.limit
        signed = self.signed_prefix is not None and path.startswith(self.signed_prefix)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and not signed and _is_json(headers.get(b"content-type")):
            try:
                decode(body)
            except RefusedJSON as refused:
                await problem_response(_problem(refused), scope.get("path", ""))(
                    scope, receive, send
                )
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class TakeTurns:
    """At most ``limit`` requests under ``prefix`` run at once; the others wait their turn.

    The event loop serves the requests it holds in turn, so a flood of webhook calls
    (forged or not) would otherwise get as many turns as it has connections, and a
    record write would wait behind all of them. Queued here, a flood holds at most
    ``limit`` turns however many connections it opens; other routes keep theirs.
    """

    def __init__(self, app: ASGIApp, prefix: str, limit: int) -> None:
        self.app = app
        self.prefix = prefix
        self.turns = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request under the prefix on when a turn is free, any other at once."""
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        async with self.turns:
            await self.app(scope, receive, send)


def _is_json(content_type: bytes | None) -> bool:
    """Whether a body of this content type is read as JSON by the routes (or by FastAPI)."""
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _problem(refused: RefusedJSON) -> Problem:
    if refused.status == 422:
        return Problem(
            422,
            refused.slug,
            "the request body does not match the schema",
            errors=[
                {"field": refused.field, "message": refused.message, "code": "forbidden_character"}
            ],
        )
    return Problem(refused.status, refused.slug, refused.message)


def _query_problem(query: bytes) -> Problem | None:
    """A 422 naming the query parameters that hold NUL, or None (the usual, cheap case)."""
    if b"%00" not in query:
        return None
    fields = [
        FORBIDDEN_CHARACTERS.sub("", name)
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        if FORBIDDEN_CHARACTERS.search(name) or FORBIDDEN_CHARACTERS.search(value)
    ]
    return Problem(
        422,
        "validation-error",
        "the request's parameters or body do not match the schema",
        errors=[
            {"field": f"query.{name}", "message": FORBIDDEN_MESSAGE, "code": "forbidden_character"}
            for name in fields or ["?"]
        ],
    )


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """Answer 413 and close: the rest of the body is unread, so the connection cannot be reused."""
    problem = Problem(
        413,
        "body-too-large",
        f"the request body is larger than {limit} bytes",
        headers={"connection": "close"},
    )
    await problem_response(problem, scope.get("path", ""))(scope, receive, send)
