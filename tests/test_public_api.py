"""The public API of ``core`` for plugin authors is exactly this list; changing it is a decision."""

from __future__ import annotations

import core

PUBLIC = [
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


def test_core_all_is_pinned() -> None:
    assert core.__all__ == PUBLIC


def test_every_public_name_exists_and_star_import_gives_exactly_them() -> None:
    for name in PUBLIC:
        assert getattr(core, name) is not None
    namespace: dict[str, object] = {}
    exec("from core import *", namespace)  # noqa: S102 (a fixed import statement)
    assert sorted(name for name in namespace if name != "__builtins__") == sorted(PUBLIC)


def test_the_error_classes_keep_their_hierarchy() -> None:
    assert issubclass(core.TransientError, core.SyncError)
    assert issubclass(core.PermanentError, core.SyncError)
    assert issubclass(core.MappingError, core.PermanentError)
    assert issubclass(core.WaitingFor, core.TransientError)
    assert not issubclass(core.ConfigurationError, core.SyncError)
