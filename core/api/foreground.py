"""Marks every HTTP request's writes as foreground, so they go before background writers.

On the embedded SQLite default one writer at a time holds the file, and the in-process
worker's claims and finalizations (every retry of a down target among them) queue with
the requests' writes; :class:`core.db.engine.WriterLock` lets a request's write in
first. The mark is a context variable, which the threads a route runs in inherit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from core.db.engine import foreground_writes


class ForegroundWrites:
    """Runs each HTTP request with ``foreground_writes`` set (a client waits for its writes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request marked as foreground; other scopes as they are."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = foreground_writes.set(True)
        try:
            await self.app(scope, receive, send)
        finally:
            foreground_writes.reset(token)
