"""``/v1/webhooks/{plugin}``: events a target pushes back, verified by the plugin.

No bearer token: the plugin checks the sender's signature. Events are stored once per
sender event id, then applied by a job; the answer says how many were new. A GET is a
target checking that the URL is ours (Meta's verify-token handshake): the plugin answers
it through ``crm_sync_verify_webhook`` and nothing is stored.
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from core.api.problems import Problem, allowed_methods
from core.api.records import runtime_of
from core.errors import WebhookRejected
from core.sync.inbound import RefusedEvent, store_events
from core.sync.runtime import SyncRuntime

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

#: Most events one webhook call may carry.
MAX_EVENTS = 1000

#: Webhook calls one API process works on at once; more wait (core.api.limits.TakeTurns),
#: so a flood of them cannot crowd out record writes. Four keep a core busy.
WEBHOOK_TURNS = 4


def declared_body_limit(runtime: SyncRuntime) -> Callable[[str], int | None]:
    """The body limit a plugin declares for its webhook route, looked up by path."""
    prefix = router.prefix + "/"

    def limit_for(path: str) -> int | None:
        if not path.startswith(prefix):
            return None
        name = path[len(prefix) :]
        if name not in runtime.host.active():
            return None
        return runtime.host.description(name).max_body_bytes

    return limit_for


@router.get(
    "/{plugin}",
    summary="Answer a target's check of the webhook URL",
    response_class=PlainTextResponse,
)
def verify(plugin: str, request: Request) -> PlainTextResponse:
    """The plugin's answer (the challenge) with 200, 403 for a wrong token, 405 without one."""
    runtime = runtime_of(request)
    if plugin not in runtime.host.active() or not runtime.host.description(plugin).accepts_webhooks:
        raise Problem(404, "not-found", f"no active plugin {plugin!r} accepts webhooks")
    try:
        answer = runtime.host.verify_webhook(plugin, dict(request.query_params))
    except WebhookRejected as error:
        raise Problem(error.status, "bad-verification", str(error)) from None
    if answer is None:
        # The path is the plugin's webhook, but GET is not one of its methods.
        raise Problem(
            405,
            "method-not-allowed",
            f"plugin {plugin!r} does not answer webhook checks; its webhook takes POST",
            headers={"Allow": ", ".join(allowed_methods(request))},
        )
    return PlainTextResponse(answer)


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
    if len(events) > MAX_EVENTS:
        raise Problem(422, "bad-webhook", f"one call may carry at most {MAX_EVENTS} events")
    try:
        stored = store_events(runtime.engine, plugin, events)
    except RefusedEvent as error:
        raise Problem(422, "bad-webhook", str(error)) from None
    if stored.ids:
        runtime.dispatch_inbound(plugin, stored.ids)
    return {"accepted": len(stored.ids), "duplicates": stored.duplicates}
