"""Every bundled plugin's webhook against hostile bodies and headers, on SQLite and PostgreSQL.

The plugin contract runs the hostile bodies on SQLite for each plugin on its own; here
the three webhook plugins share one runtime per database, so what PostgreSQL refuses
(NUL in text, values wider than their columns) is proven refused before it gets there.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

import plugins.finance.plugin as finance
import plugins.inventory.plugin as inventory
import plugins.production.plugin as production
from core.api.app import create_app
from core.db.inbound_tables import InboxEvent
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from core.testing.fixtures import migrated_runtime
from core.testing.hostile import assert_all_refused, hostile_bodies
from core.testing.services import POSTGRES, create_postgres_database, drop_postgres_database
from tests.core.api.conftest import TestClient
from tests.plugins.finance.test_contract import INVOICE_STATUS
from tests.plugins.inventory.test_webhook import RESERVATION_STATUS
from tests.plugins.production.test_contract import WORK_ORDER_STATUS

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
VALID = {
    "finance": INVOICE_STATUS,
    "inventory": RESERVATION_STATUS,
    "production": WORK_ORDER_STATUS,
}


@pytest.fixture(scope="module", params=DATABASES)
def runtime(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SyncRuntime]:
    tmp: Path = tmp_path_factory.mktemp("webhooks")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'webhooks.db'}"
    else:
        server = POSTGRES.require()
        name = f"crm_sync_test_{uuid.uuid4().hex[:16]}"
        url = create_postgres_database(server, name)
        request.addfinalizer(lambda: drop_postgres_database(server, name))
    runtime = webhook_runtime(tmp, url)
    yield runtime
    runtime.close()


def webhook_runtime(tmp: Path, url: str, **settings: Any) -> SyncRuntime:
    """A runtime on ``url`` whose finance, inventory and production plugins take webhooks."""
    target = {"url": "http://127.0.0.1:9/", "secret": SECRET}
    configured = Settings(
        data_dir=tmp,
        database_url=url,
        plugins={"finance": target, "inventory": target, "production": {"secret": SECRET}},
        **settings,
    )
    plugins = {"finance": finance, "inventory": inventory, "production": production}
    return migrated_runtime(configured, plugins)


@pytest.fixture
def client(runtime: SyncRuntime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, background=False)) as running:
        yield running


def signed(body: bytes, **changes: str) -> dict[str, str]:
    message_id = changes.pop("message_id", f"msg_{uuid.uuid4().hex}")
    now = datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(message_id, now, body.decode(errors="replace")),
        "content-type": "application/json",
    }
    return {**headers, **changes}


def inbox(runtime: SyncRuntime) -> int:
    with runtime.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(InboxEvent)).scalar_one())


@pytest.mark.parametrize("plugin", sorted(VALID))
def test_every_hostile_body_is_refused_and_nothing_is_stored(
    client: TestClient, runtime: SyncRuntime, plugin: str
) -> None:
    def send(body: bytes) -> Any:
        return client.post(f"/v1/webhooks/{plugin}", content=body, headers=signed(body))

    cases = hostile_bodies(VALID[plugin], max_body=runtime.settings.max_body_bytes, signed=True)
    assert_all_refused(send, cases, lambda: inbox(runtime))
    before = inbox(runtime)
    assert send(json.dumps(VALID[plugin]).encode()).status_code == 200
    assert inbox(runtime) == before + 1


@pytest.mark.parametrize("plugin", sorted(VALID))
def test_a_webhook_id_wider_than_its_column_is_refused(
    client: TestClient, runtime: SyncRuntime, plugin: str
) -> None:
    body = json.dumps(VALID[plugin]).encode()
    before = inbox(runtime)
    for length, status in ((10_000, 400), (201, 400), (200, 200)):
        headers = signed(body, message_id="m" * length)
        answer = client.post(f"/v1/webhooks/{plugin}", content=body, headers=headers)
        assert answer.status_code == status, (length, answer.text)
    assert inbox(runtime) == before + 1


@pytest.mark.parametrize("plugin", sorted(VALID))
def test_a_timestamp_out_of_every_range_is_a_401(
    client: TestClient, runtime: SyncRuntime, plugin: str
) -> None:
    body = json.dumps(VALID[plugin]).encode()
    before = inbox(runtime)
    for timestamp in ("9" * 30, "-1", "1e9", "0x10"):
        headers = signed(body, **{"webhook-timestamp": timestamp})
        answer = client.post(f"/v1/webhooks/{plugin}", content=body, headers=headers)
        assert answer.status_code == 401, (timestamp, answer.text)
    assert inbox(runtime) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 10**30),
        ("version", 2**53),
        ("id", ".."),
        ("idempotency_key", "k" * 257),
        ("external_id", "e" * 257),
    ],
)
def test_a_work_order_document_out_of_range_is_a_422(
    client: TestClient, runtime: SyncRuntime, field: str, value: Any
) -> None:
    body = json.dumps({**WORK_ORDER_STATUS, field: value}).encode()
    before = inbox(runtime)
    answer = client.post("/v1/webhooks/production", content=body, headers=signed(body))
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]
    assert inbox(runtime) == before


def test_the_largest_version_is_accepted(client: TestClient, runtime: SyncRuntime) -> None:
    body = json.dumps({**WORK_ORDER_STATUS, "version": 2**53 - 1}).encode()
    answer = client.post("/v1/webhooks/production", content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
