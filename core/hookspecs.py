"""Every hook a crm-sync plugin can implement.

Plugins are found through the entry-point group ``crm_sync.plugins``. Hooks marked
"called on one plugin" are invoked by core on a single plugin at a time (the plugin
whose queue the job belongs to), so ``firstresult=True`` there only means "this
plugin's answer"; broadcast hooks are called on every enabled plugin and their results
collected in a list. ``docs/plugins.md`` documents each hook; a test fails when a hook
or an argument is missing from that guide. Each specification's body only raises
``NotImplementedError``: pluggy never calls it, and ``mypy --strict`` accepts it as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from core.plugin_types import (
        HealthReport,
        InboundEvent,
        OutboundDocument,
        PluginContext,
        PluginDescription,
        PluginSettings,
        PollResult,
        PushResult,
        SyncRecord,
    )
    from core.schemas.leads import Lead
    from lead_scoring.facts import EngagementEvent

PROJECT_NAME = "crm_sync"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------
# Declaration: what the plugin is and what it wants (called on one plugin)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_sync_settings_model() -> type[PluginSettings]:
    """Return the pydantic model of this plugin's settings.

    Core validates ``[plugins.NAME]`` from the config file and the
    ``CRM_SYNC_PLUGINS__NAME__FIELD`` environment variables against it when the plugin
    loads; a validation error stops start-up with a message naming the plugin and the
    field. Secrets should be ``SecretStr``. Called on one plugin; stops at its answer.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Describe the configured plugin: subscriptions, target and batch size.

    ``context`` carries the validated settings. Return ``target=None`` when no target is
    configured: the plugin then stays installed but idle and nothing is queued for it.
    Called on one plugin; stops at its answer.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Outbound: a canonical record on its way to the target (called on one plugin)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_sync_map_record(context: PluginContext, record: SyncRecord) -> dict[str, object]:
    """Map the latest version of a canonical record to the target's document.

    ``record`` is the record as stored (already validated) with the external id the
    target returned earlier, if any. Return the payload to push. Raise
    ``core.errors.MappingError`` when the record cannot be represented in the target:
    the delivery goes to the dead list with that reason. Called on one plugin.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def crm_sync_push(context: PluginContext, documents: list[OutboundDocument]) -> list[PushResult]:
    """Send documents to the target and return one result per document, in order.

    ``documents`` holds at most ``PluginDescription.max_batch`` documents, each with its
    idempotency key. Raise ``TransientError`` or ``PermanentError`` (or let an
    ``httpx`` error propagate) when the whole call failed; return a ``PushResult`` with
    ``error`` set when only some documents failed. A returned ``external_id`` is stored
    on the record's binding. Called on one plugin; stops at its answer.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Inbound: what the target tells us back (called on one plugin)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_sync_parse_webhook(
    context: PluginContext, headers: Mapping[str, str], body: bytes
) -> list[InboundEvent]:
    """Verify and parse a webhook the target sent to ``POST /v1/webhooks/{plugin}``.

    ``headers`` (lower-cased names) and the raw ``body`` are as received. Check the
    signature first; raise ``core.errors.WebhookRejected(401, ...)`` when it is missing
    or wrong and ``WebhookRejected(400 or 422, ...)`` when the body is malformed: the
    API then answers that status and stores nothing. Return the events the body holds;
    core stores them deduplicated by ``event_id`` and applies them through
    ``crm_sync_apply_inbound``. Only called when ``accepts_webhooks`` is set.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def crm_sync_verify_webhook(context: PluginContext, query: Mapping[str, str]) -> str:
    """Answer a target's ``GET /v1/webhooks/{plugin}`` check that the callback URL is ours.

    Some targets (Meta's WhatsApp Cloud API) call the webhook URL with a GET carrying a
    token and a challenge before they send anything. ``query`` holds the query
    parameters as received. Return the text to answer with 200 (the challenge); raise
    ``core.errors.WebhookRejected(403, ...)`` when the token is wrong. A plugin that does
    not implement it answers 404. Called on one plugin; nothing is stored.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def crm_sync_poll(context: PluginContext, cursor: str | None) -> PollResult:
    """Ask the target what changed since ``cursor`` (None: from the start).

    Called by the scheduler every ``poll_interval`` seconds, by one process at a time.
    Return the events found and the cursor to resume from; core stores both in one
    transaction, so a restart resumes where the last poll ended and an event seen twice
    (same ``event_id``) is applied once. Set ``more`` to poll again at once.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def crm_sync_apply_inbound(context: PluginContext, event: InboundEvent) -> None:
    """Apply one inbound event to the canonical records, through ``context.records``.

    Raise ``PermanentError`` when the event cannot be applied (a status for a record we
    do not know, a malformed payload): it is kept as a failed inbound event with the
    reason. Raise ``TransientError`` to be called again later.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Lead scoring (broadcast: called on every enabled plugin that implements it)
# ---------------------------------------------------------------------------


@hookspec
def crm_sync_scoring_signals(
    context: PluginContext, lead_id: str, lead: Lead
) -> list[EngagementEvent]:
    """Return engagement events this plugin knows about a lead, for its score.

    Called by the bundled ``lead_scoring`` plugin each time it rescores a lead (a lead
    or one of its interactions changed, ``crm-sync score --all``, the scheduled
    rescoring), on every enabled plugin with that plugin's own ``context``; the events
    of all of them are added to those of the lead's interactions. Each event's
    ``type`` is matched by the rules file's engagement rules (``whatsapp_reply``,
    ``email_opened``...), and ``at`` must be timezone-aware. Return ``[]`` for a lead
    you know nothing of; keep it fast (it runs inside the scoring job) and do not
    write records here. An exception is logged and adds nothing for that lead.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Lead assignment (first result: each enabled plugin in name order until one answers)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_sync_assign_lead(
    context: PluginContext, lead: SyncRecord, candidates: list[str]
) -> str | None:
    """Take over the assignment of a new lead: return the id of the agent who gets it.

    ``lead`` is the lead as stored; ``candidates`` are the agents the assignment rules
    left after eligibility, capacity and working hours (empty when none), in id order,
    for a plugin that only wants to choose among them. Return None to let the rules
    decide. The answer must be an active agent's id, else it is logged and ignored.
    Called on each enabled plugin (with its own ``context``) in name order; stops at
    the first answer, because one lead has one owner. Duplicates of an open lead are
    linked before this hook is asked, so it never sees them.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Operations (called on one plugin)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_sync_document_schemas(context: PluginContext) -> dict[str, dict[str, Any]]:
    """Return JSON Schemas of the documents this plugin sends or receives, by type name.

    Served at ``GET /v1/schemas/{type}`` so a receiving team can validate what arrives;
    ``core.connectors.webhook.document_schema`` wraps a data schema in the signed
    envelope. A type core already describes (every canonical kind) is replaced by the
    plugin's schema. Called on one plugin.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Check that the target is reachable and the credentials work.

    Used by ``crm-sync plugins --check`` and ``/readyz?plugins=1``. Must return within the
    HTTP client's timeout and never raise: report failures in ``HealthReport.detail``.
    Called on one plugin; stops at its answer.
    """
    raise NotImplementedError
