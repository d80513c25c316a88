"""crm-sync core: canonical model, storage, outbox, sync engine, plugin host, API and CLI.

The names below are the public API for plugin authors; everything else may change.
"""

from core.errors import (
    ConfigurationError,
    HoldSending,
    MappingError,
    PermanentError,
    RateLimited,
    SyncError,
    TransientError,
    WaitingFor,
    WebhookRejected,
)
from core.hookspecs import hookimpl
from core.plugin_types import (
    HealthReport,
    InboundEvent,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PluginSettings,
    PollResult,
    PushResult,
    Records,
    SyncRecord,
)
from core.sync.idempotency import idempotency_key

__all__ = [
    "ConfigurationError",
    "HealthReport",
    "HoldSending",
    "InboundEvent",
    "MappingError",
    "OutboundDocument",
    "PermanentError",
    "PluginContext",
    "PluginDescription",
    "PluginSettings",
    "PollResult",
    "PushResult",
    "RateLimited",
    "Records",
    "SyncError",
    "SyncRecord",
    "TransientError",
    "WaitingFor",
    "WebhookRejected",
    "hookimpl",
    "idempotency_key",
]
