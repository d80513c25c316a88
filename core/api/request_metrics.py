"""Counting and timing every request by method, route and status, as plain ASGI.

Starlette's ``@app.middleware("http")`` runs each request in a task of its own with
memory streams for the body and the answer: on a small route such as a webhook call
that costs more than the route. This middleware only watches the answer's start.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.metrics import ApiMetrics


class CountRequests:
    """Counts each HTTP request (``crm_sync_http_requests``) and observes its latency.

    The route is the matched route's path template (``unmatched`` when none matched);
    the status is the one answered, or 500 when the application raised before answering.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request and count it, whatever its outcome."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "500"

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope.get("method", ""), route, status).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
