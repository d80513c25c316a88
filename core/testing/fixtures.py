"""Pytest fixtures for crm-sync's tests and for the tests of third-party plugins.

Load with ``pytest_plugins = ["core.testing.fixtures"]`` in a top-level conftest.py.
Fixtures that need PostgreSQL, Redis or RabbitMQ give each test its own database,
key namespace or queue prefix, clean up afterwards, and mark the test ``postgres``,
``redis`` or ``rabbitmq`` so ``-m`` can select it. A missing service skips the test
locally and fails it under ``CI=true`` (see ``core.testing.services``).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from core.settings import Settings
from core.sync.runtime import SyncRuntime
from core.testing.receiver import Receiver
from core.testing.schema import create_migrated_postgres_database, migrate
from core.testing.services import (
    POSTGRES,
    RABBITMQ,
    REDIS,
    create_postgres_database,
    delete_rabbitmq_queues,
    delete_redis_namespace,
    drop_postgres_database,
)

SERVICE_MARKERS = {
    "postgres_server_url": "postgres",
    "redis_server_url": "redis",
    "rabbitmq_server_url": "rabbitmq",
}
"""Which marker a test gets when it uses (even indirectly) one of these fixtures."""

_MARKER_HELP = {
    "postgres": "needs PostgreSQL (fails under CI=true when missing, skips locally)",
    "redis": "needs Redis (fails under CI=true when missing, skips locally)",
    "rabbitmq": "needs RabbitMQ (fails under CI=true when missing, skips locally)",
}


def migrated_runtime(
    settings: Settings, plugins: dict[str, object] | None = None, **kwargs: Any
) -> SyncRuntime:
    """A runtime holding ``plugins`` (entry points not loaded unless asked), schema migrated.

    ``kwargs`` go to ``SyncRuntime`` (``transport`` answers the plugins' HTTP calls).
    The caller closes it; the ``make_runtime`` fixture does that for a test.
    """
    kwargs.setdefault("load_entry_points", False)
    runtime = SyncRuntime(settings, extra_plugins=plugins or {}, **kwargs)
    migrate(runtime.engine)
    return runtime


@pytest.fixture
def make_runtime() -> Iterator[Callable[..., SyncRuntime]]:
    """Build migrated runtimes (see :func:`migrated_runtime`); each is closed after the test."""
    built: list[SyncRuntime] = []

    def build(
        settings: Settings, plugins: dict[str, object] | None = None, **kwargs: Any
    ) -> SyncRuntime:
        runtime = migrated_runtime(settings, plugins, **kwargs)
        built.append(runtime)
        return runtime

    yield build
    for runtime in built:
        runtime.close()


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the service markers, so projects loading this plugin need not."""
    for name, text in _MARKER_HELP.items():
        config.addinivalue_line("markers", f"{name}: {text}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the services its fixtures need, before ``-m`` selects tests."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in SERVICE_MARKERS.items():
            if fixture in names:
                item.add_marker(marker)


@pytest.fixture
def postgres_server_url() -> str:
    """The PostgreSQL server URL (no database), once the server answers."""
    return POSTGRES.require()


@contextmanager
def _scratch_database(server_url: str, create: Callable[[str, str], str]) -> Iterator[str]:
    """A database of a unique name made by ``create``; its URL; dropped afterwards."""
    name = _unique("crm_sync_test_")
    url = create(server_url, name)
    try:
        yield url
    finally:
        drop_postgres_database(server_url, name)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test; its SQLAlchemy URL. Dropped afterwards."""
    with _scratch_database(postgres_server_url, create_postgres_database) as url:
        yield url


@pytest.fixture
def migrated_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database at the current schema (copied from a template); dropped afterwards."""
    with _scratch_database(postgres_server_url, create_migrated_postgres_database) as url:
        yield url


@pytest.fixture
def redis_server_url() -> str:
    """The Redis URL, once the server answers."""
    return REDIS.require()


@pytest.fixture
def redis_namespace(redis_server_url: str) -> Iterator[str]:
    """A key prefix unique to this test; every key starting with it is deleted afterwards."""
    namespace = _unique("crm-sync-test-")
    try:
        yield namespace
    finally:
        delete_redis_namespace(redis_server_url, namespace)


@pytest.fixture
def redis_url(redis_server_url: str, redis_namespace: str) -> str:
    """The Redis URL; put every key under ``redis_namespace``, which is cleaned up."""
    return redis_server_url


@pytest.fixture
def rabbitmq_server_url() -> str:
    """The RabbitMQ URL, once the broker answers."""
    return RABBITMQ.require()


@pytest.fixture
def queue_prefix(rabbitmq_server_url: str) -> Iterator[str]:
    """A queue name prefix unique to this test; queues starting with it are deleted afterwards."""
    prefix = _unique("crm_sync_test_") + "_"
    try:
        yield prefix
    finally:
        delete_rabbitmq_queues(rabbitmq_server_url, prefix)


@pytest.fixture
def rabbitmq_url(rabbitmq_server_url: str, queue_prefix: str) -> str:
    """The RabbitMQ URL; name every queue with ``queue_prefix``, which is cleaned up."""
    return rabbitmq_server_url


@pytest.fixture
def webhook_secret() -> str:
    """A fresh Standard Webhooks secret, ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def receiver(webhook_secret: str) -> Iterator[Receiver]:
    """A running in-thread ``Receiver`` that verifies ``webhook_secret``; stopped afterwards."""
    with Receiver(webhook_secret) as running:
        yield running
