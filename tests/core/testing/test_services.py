"""Service discovery, skip-or-fail on a missing service, and the service fixtures' clean-up."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pika
import pytest
import redis
from standardwebhooks import Webhook

from core.testing.services import (
    POSTGRES,
    RABBITMQ,
    REDIS,
    Service,
    connect_postgres,
    create_postgres_database,
    delete_rabbitmq_queues,
    delete_redis_namespace,
    drop_postgres_database,
    list_rabbitmq_queues,
    postgres_database_url,
    redact,
)

UNREACHABLE = {
    "PostgreSQL": "postgresql+psycopg://postgres@127.0.0.1:1/",
    "Redis": "redis://127.0.0.1:1/0",
    "RabbitMQ": "amqp://guest:secret-password@127.0.0.1:1/",
}

SERVICES = pytest.mark.parametrize("service", [POSTGRES, REDIS, RABBITMQ], ids=lambda s: s.name)


@SERVICES
def test_a_missing_service_skips_the_test_locally(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv(service.env_var, UNREACHABLE[service.name])

    with pytest.raises(pytest.skip.Exception, match=f"{service.name} is not reachable"):
        service.require()


@SERVICES
def test_a_missing_service_fails_the_test_in_ci(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv(service.env_var, UNREACHABLE[service.name])

    with pytest.raises(pytest.fail.Exception, match="CI=true") as failure:
        service.require()

    assert service.env_var in str(failure.value)
    assert "secret-password" not in str(failure.value)


def test_only_ci_true_turns_a_skip_into_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv(REDIS.env_var, UNREACHABLE["Redis"])

    with pytest.raises(pytest.skip.Exception):
        REDIS.require()


def test_urls_default_to_loopback_and_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in (POSTGRES, REDIS, RABBITMQ):
        monkeypatch.delenv(service.env_var, raising=False)
    assert POSTGRES.url() == "postgresql+psycopg://postgres@127.0.0.1:5432/"
    assert REDIS.url() == "redis://127.0.0.1:6379/0"
    assert RABBITMQ.url() == "amqp://guest:guest@127.0.0.1:5672/"

    monkeypatch.setenv(REDIS.env_var, "redis://cache.example:6380/2")
    assert REDIS.url() == "redis://cache.example:6380/2"


def test_redact_hides_only_the_password() -> None:
    assert redact("amqp://guest:guest@127.0.0.1:5672/") == "amqp://guest:***@127.0.0.1:5672/"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_postgres_database_url_names_the_database() -> None:
    url = postgres_database_url("postgresql+psycopg://postgres@127.0.0.1:5432/", "crm_t1")
    assert url == "postgresql+psycopg://postgres@127.0.0.1:5432/crm_t1"


def _database_exists(server_url: str, name: str) -> bool:
    with connect_postgres(server_url) as connection:
        row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_postgres_url_is_a_fresh_empty_database(postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    assert name.startswith("crm_sync_test_")
    with connect_postgres(postgres_url, dbname=name) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_drop_postgres_database_disconnects_users(postgres_server_url: str) -> None:
    url = create_postgres_database(postgres_server_url, "crm_sync_test_drop_check")
    assert url.endswith("/crm_sync_test_drop_check")
    holder = connect_postgres(url, dbname="crm_sync_test_drop_check")
    try:
        drop_postgres_database(postgres_server_url, "crm_sync_test_drop_check")
    finally:
        holder.close()
    assert not _database_exists(postgres_server_url, "crm_sync_test_drop_check")


def test_delete_redis_namespace_deletes_only_that_namespace(
    redis_url: str, redis_namespace: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{redis_namespace}:a", "1")
        client.rpush(f"{redis_namespace}:queue", "x")
        client.set(f"{redis_namespace}-other:b", "keep")
        other = redis_namespace.replace("crm-sync-test-", "crm-sync-keep-")
        client.set(f"{other}:c", "keep")

        assert delete_redis_namespace(redis_url, f"{redis_namespace}:") == 2
        assert client.exists(f"{redis_namespace}-other:b", f"{other}:c") == 2
        client.delete(f"{other}:c")
    finally:
        client.close()


def test_delete_rabbitmq_queues_deletes_only_prefixed_queues(
    rabbitmq_url: str, queue_prefix: str
) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        for name in ("finance", "finance.DQ", "finance.XQ"):
            channel.queue_declare(queue=queue_prefix + name, durable=True)
        unrelated = queue_prefix.replace("crm_sync_test_", "crm_sync_keep_") + "finance"
        channel.queue_declare(queue=unrelated)

        deleted = delete_rabbitmq_queues(rabbitmq_url, queue_prefix)

        assert sorted(deleted) == [
            queue_prefix + n for n in ("finance", "finance.DQ", "finance.XQ")
        ]
        remaining = list_rabbitmq_queues(rabbitmq_url)
        assert unrelated in remaining
        assert not [name for name in remaining if name.startswith(queue_prefix)]
        channel.queue_delete(queue=unrelated)
    finally:
        connection.close()


SERVICE_TESTS = """
import json
from pathlib import Path

import pika
import psycopg
import redis

RECORD = Path(__file__).with_name("record.json")


def test_uses_postgres(postgres_url):
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name) as connection:
        connection.execute("CREATE TABLE t (id int)")
    RECORD.write_text(json.dumps({**json.loads(RECORD.read_text()), "database": name}))


def test_uses_redis(redis_url, redis_namespace):
    client = redis.Redis.from_url(redis_url)
    client.set(redis_namespace + ":key", "1")
    client.close()
    RECORD.write_text(json.dumps({**json.loads(RECORD.read_text()), "namespace": redis_namespace}))


def test_uses_rabbitmq(rabbitmq_url, queue_prefix):
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    connection.channel().queue_declare(queue=queue_prefix + "finance")
    connection.close()
    RECORD.write_text(json.dumps({**json.loads(RECORD.read_text()), "prefix": queue_prefix}))


def test_uses_nothing(webhook_secret, receiver):
    assert webhook_secret.startswith("whsec_")
    assert receiver.url.startswith("http://127.0.0.1:")
"""


def test_fixtures_mark_tests_and_clean_up_every_service(
    pytester: pytest.Pytester,
    postgres_server_url: str,
    redis_server_url: str,
    rabbitmq_server_url: str,
) -> None:
    pytester.makepyfile(test_inner=SERVICE_TESTS)
    record = pytester.path / "record.json"
    record.write_text("{}")

    only_services = pytester.runpytest_subprocess(
        "-p", "core.testing.fixtures", "--strict-markers", "-m", "postgres or redis or rabbitmq"
    )
    only_services.assert_outcomes(passed=3, deselected=1)
    without_services = pytester.runpytest_subprocess(
        "-p", "core.testing.fixtures", "-m", "not postgres and not redis and not rabbitmq"
    )
    without_services.assert_outcomes(passed=1, deselected=3)

    seen = json.loads(record.read_text())
    assert not _database_exists(postgres_server_url, seen["database"])
    client = redis.Redis.from_url(redis_server_url)
    try:
        assert list(client.scan_iter(match=seen["namespace"] + "*")) == []
    finally:
        client.close()
    assert not [
        q for q in list_rabbitmq_queues(rabbitmq_server_url) if q.startswith(seen["prefix"])
    ]


def test_missing_services_skip_locally_and_fail_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_inner=SERVICE_TESTS)
    (pytester.path / "record.json").write_text("{}")
    for service in (POSTGRES, REDIS, RABBITMQ):
        monkeypatch.setenv(service.env_var, UNREACHABLE[service.name])

    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest_subprocess("-p", "core.testing.fixtures").assert_outcomes(
        passed=1, skipped=3
    )
    monkeypatch.setenv("CI", "true")
    in_ci = pytester.runpytest_subprocess("-p", "core.testing.fixtures")
    in_ci.assert_outcomes(passed=1, errors=3)
    in_ci.stdout.fnmatch_lines(["*CI=true, so a missing service fails*"])


def test_webhook_secret_is_fresh_and_usable(webhook_secret: str) -> None:
    key = base64.b64decode(webhook_secret.removeprefix("whsec_"))

    assert webhook_secret.startswith("whsec_")
    assert len(key) == 32
    assert Webhook(webhook_secret).sign("id", datetime.now(UTC), "{}").startswith("v1,")
