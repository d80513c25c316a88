"""``POST /v1/webhooks/{plugin}``: events a target pushes back, verified by the plugin.

No bearer token: the plugin checks the sender's signature. Events are stored once per
sender event id, then applied by a job; the answer says how many were new.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from core.api.problems import Problem
from core.api.records import runtime_of
from core.errors import WebhookRejected
from core.sync.inbound import store_events
from core.sync.runtime import SyncRuntime

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/{plugin}", summary="Receive events from a target system")
async def receive(plugin: str, request: Request) -> dict[str, Any]:
    """Verify, store (deduplicated) and queue the events of one webhook call."""
    runtime = runtime_of(request)
    if plugin not in runtime.host.active() or not runtime.host.description(plugin).accepts_webhooks:
        raise Problem(404, "not-found", f"no active plugin {plugin!r} accepts webhooks")
    body = await request.body()
    headers = {name.lower(): value for name, value in request.headers.items()}
    # The plugin's check, the database write and the broker call block: off the event loop.
    return await run_in_threadpool(_accept, runtime, plugin, headers, body)


def _accept(
    runtime: SyncRuntime, plugin: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """Verify, store and queue one webhook call's events; the answer's counts."""
    try:
        events = runtime.host.parse_webhook(plugin, headers, body)
    except WebhookRejected as error:
        slug = "bad-signature" if error.status == 401 else "bad-webhook"
        raise Problem(error.status, slug, str(error)) from None
    stored = store_events(runtime.engine, plugin, events)
    if stored.ids:
        runtime.dispatch_inbound(plugin, stored.ids)
    return {"accepted": len(stored.ids), "duplicates": stored.duplicates}
