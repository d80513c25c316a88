"""Fixtures for core tests: settings, an embedded runtime on SQLite, a scripted plugin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from tests.core.scripted_plugin import ScriptedPlugin

TOKENS = ",".join(
    f"{role}:{role}:{role}-token-0123456789" for role in ("admin", "writer", "reader")
)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build settings for a test: SQLite in tmp_path, fast retries, three API tokens."""

    def build(**overrides: Any) -> Settings:
        sync = {
            "min_backoff_seconds": 0.2,
            "max_backoff_seconds": 2.0,
            "push_timeout_seconds": 2.0,
            "lease_seconds": 5.0,
            "sweep_interval_seconds": 0.2,
            "requeue_after_seconds": 1.0,
            "max_attempts": 4,
        }
        sync.update(overrides.pop("sync", {}))
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": f"sqlite:///{tmp_path / 'crm-sync.db'}",
            "api_tokens": TOKENS,
            "worker_threads": 4,
            "sync": sync,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def scripted() -> ScriptedPlugin:
    """A test plugin subscribed to customers whose pushes a test scripts."""
    return ScriptedPlugin()
