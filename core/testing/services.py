"""Find the real PostgreSQL, Redis and RabbitMQ the integration tests use, and clean up after them.

A service that does not answer skips its tests on a developer's machine but fails them
when ``CI`` is ``"true"``, as Dramatiq's own ``redis_broker`` fixture does: a missing
service must never turn CI green. Each service's URL can be overridden with an
environment variable (``CRM_SYNC_TEST_POSTGRES_URL`` and so on).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pika
import psycopg
import pytest
import redis
from pika.exceptions import AMQPError
from psycopg import sql
from sqlalchemy.engine import make_url

CONNECT_TIMEOUT = 3


class ServiceUnavailableError(Exception):
    """A service a test needs did not answer."""


def in_ci() -> bool:
    """Whether this run is CI (``CI=true``), where a missing service is a failure."""
    return os.environ.get("CI") == "true"


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect_postgres(url: str, dbname: str = "postgres") -> psycopg.Connection[Any]:
    """Open an autocommit connection to ``dbname`` on the server named by a SQLAlchemy URL."""
    parsed = make_url(url)
    try:
        return psycopg.connect(
            host=parsed.host,
            port=parsed.port,
            user=parsed.username,
            password=parsed.password,
            dbname=dbname,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(str(exc).strip()) from exc


def check_postgres(url: str) -> None:
    """Raise ServiceUnavailableError unless PostgreSQL answers a query at ``url``."""
    with connect_postgres(url) as connection:
        connection.execute("SELECT 1")


def check_redis(url: str) -> None:
    """Raise ServiceUnavailableError unless Redis answers PING at ``url``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailableError(str(exc)) from exc
    finally:
        client.close()


def _rabbitmq_parameters(url: str) -> pika.URLParameters:
    parameters = pika.URLParameters(url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = CONNECT_TIMEOUT
    parameters.blocked_connection_timeout = CONNECT_TIMEOUT
    return parameters


def _rabbitmq_connect(url: str) -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(_rabbitmq_parameters(url))
    except AMQPError as exc:
        raise ServiceUnavailableError(repr(exc)) from exc


def check_rabbitmq(url: str) -> None:
    """Raise ServiceUnavailableError unless RabbitMQ accepts an AMQP connection at ``url``."""
    _rabbitmq_connect(url).close()


@dataclass(frozen=True)
class Service:
    """A real service the integration tests talk to: where it is and how to tell it answers."""

    name: str
    env_var: str
    default_url: str
    check: Callable[[str], None]

    def url(self) -> str:
        """The service's URL: the environment variable when set, else the default."""
        return os.environ.get(self.env_var) or self.default_url

    def require(self) -> str:
        """Return the URL if the service answers; otherwise skip the test, or fail it in CI."""
        url = self.url()
        try:
            self.check(url)
        except ServiceUnavailableError as exc:
            message = f"{self.name} is not reachable at {redact(url)} ({self.env_var}): {exc}"
            if in_ci():
                pytest.fail(f"{message}; CI=true, so a missing service fails", pytrace=False)
            pytest.skip(message)
        return url


POSTGRES = Service(
    "PostgreSQL",
    "CRM_SYNC_TEST_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/",
    check_postgres,
)
REDIS = Service("Redis", "CRM_SYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0", check_redis)
RABBITMQ = Service(
    "RabbitMQ", "CRM_SYNC_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/", check_rabbitmq
)


def postgres_database_url(server_url: str, name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the server of ``server_url``."""
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_postgres_database(server_url: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` (empty, or a copy of database ``template``); return its URL."""
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    with connect_postgres(server_url) as connection:
        connection.execute(statement)
    return postgres_database_url(server_url, name)


def drop_postgres_database(server_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting anyone still using it."""
    with connect_postgres(server_url) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def delete_redis_namespace(url: str, namespace: str) -> int:
    """Delete every key that starts with ``namespace``; return how many were deleted."""
    client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{namespace}*", count=1000):
            batch.append(key)
            if len(batch) == 500:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
    finally:
        client.close()
    return deleted


def _queues_from_management_api(url: str, vhost: str) -> list[str] | None:
    """Queue names from the RabbitMQ management API on port 15672, or None if it is off."""
    parts = urlsplit(url)
    api = f"http://{parts.hostname}:15672/api/queues/{quote(vhost, safe='')}"
    auth = (parts.username or "guest", parts.password or "guest")
    try:
        response = httpx.get(api, params={"columns": "name"}, auth=auth, timeout=CONNECT_TIMEOUT)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return [str(queue["name"]) for queue in response.json()]


def _queues_from_rabbitmqctl(vhost: str) -> list[str] | None:
    """Queue names from ``rabbitmqctl`` on this machine, or None when it is not installed."""
    command = shutil.which("rabbitmqctl")
    if command is None:
        return None
    result = subprocess.run(
        [command, "list_queues", "--vhost", vhost, "--quiet", "--no-table-headers", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def list_rabbitmq_queues(url: str) -> list[str]:
    """Every queue name in the virtual host of ``url``.

    AMQP cannot list queues, so this asks the management API and falls back to
    ``rabbitmqctl`` on this machine.
    """
    vhost = _rabbitmq_parameters(url).virtual_host
    names = _queues_from_management_api(url, vhost)
    if names is None:
        names = _queues_from_rabbitmqctl(vhost)
    if names is None:
        raise ServiceUnavailableError(
            f"cannot list the queues of {redact(url)}: enable the management plugin "
            "or install rabbitmqctl on this machine"
        )
    return names


def delete_rabbitmq_queues(url: str, prefix: str) -> list[str]:
    """Delete every queue whose name starts with ``prefix``; return the names deleted."""
    names = [name for name in list_rabbitmq_queues(url) if name.startswith(prefix)]
    if not names:
        return []
    connection = _rabbitmq_connect(url)
    try:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(queue=name)
    finally:
        connection.close()
    return names
