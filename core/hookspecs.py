"""Every hook a crm-sync plugin can implement.

Plugins are found through the entry-point group ``crm_sync.plugins``. Hooks marked
"called on one plugin" are invoked by core on a single plugin at a time (the plugin
whose queue the job belongs to), so ``firstresult=True`` there only means "this
plugin's answer"; broadcast hooks are called on every enabled plugin and their results
collected in a list. ``docs/plugins.md`` documents each hook; a test fails when a hook
or an argument is missing from that guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from core.plugin_types import (
        HealthReport,
        OutboundDocument,
        PluginContext,
        PluginDescription,
        PluginSettings,
        PushResult,
        SyncRecord,
    )

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


@hookspec(firstresult=True)
def crm_sync_describe(context: PluginContext) -> PluginDescription:
    """Describe the configured plugin: subscriptions, target and batch size.

    ``context`` carries the validated settings. Return ``target=None`` when no target is
    configured: the plugin then stays installed but idle and nothing is queued for it.
    Called on one plugin; stops at its answer.
    """


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


@hookspec(firstresult=True)
def crm_sync_push(context: PluginContext, documents: list[OutboundDocument]) -> list[PushResult]:
    """Send documents to the target and return one result per document, in order.

    ``documents`` holds at most ``PluginDescription.max_batch`` documents, each with its
    idempotency key. Raise ``TransientError`` or ``PermanentError`` (or let an
    ``httpx`` error propagate) when the whole call failed; return a ``PushResult`` with
    ``error`` set when only some documents failed. A returned ``external_id`` is stored
    on the record's binding. Called on one plugin; stops at its answer.
    """


# ---------------------------------------------------------------------------
# Operations (called on one plugin)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_sync_health(context: PluginContext) -> HealthReport:
    """Check that the target is reachable and the credentials work.

    Used by ``crm-sync plugins --check`` and ``/readyz?plugins=1``. Must return within the
    HTTP client's timeout and never raise: report failures in ``HealthReport.detail``.
    Called on one plugin; stops at its answer.
    """
