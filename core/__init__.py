"""crm-sync core: canonical model, storage, outbox, sync engine, plugin host, API and CLI.

The names below are the public API for plugin authors; everything else may change.
"""

from core.errors import ConfigurationError, MappingError, PermanentError, SyncError, TransientError
from core.hookspecs import hookimpl
from core.plugin_types import (
    HealthReport,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PluginSettings,
    PushResult,
    SyncRecord,
)

__all__ = [
    "ConfigurationError",
    "HealthReport",
    "MappingError",
    "OutboundDocument",
    "PermanentError",
    "PluginContext",
    "PluginDescription",
    "PluginSettings",
    "PushResult",
    "SyncError",
    "SyncRecord",
    "TransientError",
    "hookimpl",
]
