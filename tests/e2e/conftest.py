"""Deployments for end-to-end tests: embedded, PostgreSQL + Redis, PostgreSQL + RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.testing.receiver import Receiver
from tests.e2e.harness import Deployment, base_env

MODES = ("embedded", "postgres-redis", "postgres-rabbitmq")


def deployment_env(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver, secret: str
) -> dict[str, str]:
    """Environment of a deployment in ``mode``, using the service fixtures it needs."""
    env = base_env(tmp_path, receiver.url, secret)
    if mode == "embedded":
        return env
    env["CRM_SYNC_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    if mode == "postgres-redis":
        env["CRM_SYNC_BROKER_URL"] = request.getfixturevalue("redis_url")
        env["CRM_SYNC_QUEUE_PREFIX"] = request.getfixturevalue("redis_namespace")
    else:
        env["CRM_SYNC_BROKER_URL"] = request.getfixturevalue("rabbitmq_url")
        env["CRM_SYNC_QUEUE_PREFIX"] = request.getfixturevalue("queue_prefix")
    return env


@pytest.fixture
def start_deployment(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver, webhook_secret: str
) -> Iterator[object]:
    """Start a deployment in a given mode: migrate, serve and (with a broker) one worker."""
    started: list[Deployment] = []

    def start(mode: str, *, workers: int = 1) -> Deployment:
        deployment = Deployment(
            tmp_path, deployment_env(mode, request, tmp_path, receiver, webhook_secret)
        )
        started.append(deployment)
        if mode != "embedded":
            migrated = deployment.cli("db", "upgrade")
            assert migrated.returncode == 0, migrated.stderr
        deployment.serve()
        if mode != "embedded" and workers:
            deployment.worker(processes=workers)
        return deployment

    yield start
    for deployment in started:
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            print(deployment.logs())
        deployment.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[object]:
    """Keep each phase's report on the test item so fixtures can print logs on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
