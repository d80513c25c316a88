"""Bearer tokens and roles: who may read, write and administer."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from core.api.app import create_app
from core.api.auth import TOKEN_FILE, ensure_admin_token
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import (
    ADMIN,
    PROBLEM,
    READER,
    WRITER,
    TestClient,
    queued,
    sample,
)

PROTECTED = [
    ("GET", "/v1/customers"),
    ("GET", "/v1/customers/C-1"),
    ("GET", "/v1/customers/C-1/sync"),
    ("PUT", "/v1/customers/C-1"),
    ("GET", "/v1/admin/queues"),
    ("GET", "/v1/admin/dead"),
    ("POST", "/v1/admin/dead/retry"),
    ("POST", "/v1/admin/dead/purge"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_missing_token_is_401_with_www_authenticate(
    client: TestClient, runtime: SyncRuntime, method: str, path: str
) -> None:
    answer = client.request(method, path, json=sample("customers"))
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["type"] == "urn:crm-sync:problem:unauthorized"
    assert client.get("/v1/customers/C-1", headers=ADMIN).status_code == 404
    assert queued(runtime) == 0


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token-we-know-of",
        "Bearer writer-token-012345678",
        "Basic d3JpdGVyOndyaXRlci10b2tlbi0wMTIzNDU2Nzg5",
        "writer-token-0123456789",
        "Bearer ",
    ],
    ids=["unknown", "prefix-of-a-token", "basic", "no-scheme", "empty"],
)
def test_a_wrong_token_is_401(client: TestClient, runtime: SyncRuntime, authorization: str) -> None:
    answer = client.put(
        "/v1/customers/C-1", json=sample("customers"), headers={"Authorization": authorization}
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "writer-token" not in answer.text
    assert client.get("/v1/customers/C-1", headers=ADMIN).status_code == 404


def test_an_unknown_token_says_it_is_invalid(client: TestClient) -> None:
    answer = client.get("/v1/customers", headers={"Authorization": "Bearer unknown-token-000000"})
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert answer.json()["detail"] == "the bearer token is not valid"


def test_a_reader_cannot_put(client: TestClient, runtime: SyncRuntime) -> None:
    answer = client.put("/v1/customers/C-1", json=sample("customers"), headers=READER)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["detail"] == "this needs the writer role; the token has reader"
    assert client.get("/v1/customers/C-1", headers=READER).status_code == 404
    assert queued(runtime) == 0


def test_a_reader_can_read_and_a_writer_and_admin_can_write(client: TestClient) -> None:
    assert (
        client.put("/v1/customers/C-1", json=sample("customers"), headers=WRITER).status_code == 201
    )
    body = sample("customers", name="نام دیگر")
    assert client.put("/v1/customers/C-1", json=body, headers=ADMIN).status_code == 200
    for headers in (READER, WRITER, ADMIN):
        assert client.get("/v1/customers/C-1", headers=headers).json()["version"] == 2


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("POST", "/v1/admin/dead/retry", "operator"),
        ("POST", "/v1/admin/dead/purge", "admin"),
    ],
)
@pytest.mark.parametrize("headers", [WRITER, READER], ids=["writer", "reader"])
def test_acting_on_the_dead_list_needs_its_role(
    client: TestClient, method: str, path: str, needed: str, headers: dict[str, str]
) -> None:
    answer = client.request(method, path, json={"all": True}, headers=headers)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM
    assert f"needs the {needed} role" in answer.json()["detail"]


@pytest.mark.parametrize("headers", [WRITER, READER], ids=["writer", "reader"])
def test_every_role_may_read_the_dead_list(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/v1/admin/dead", headers=headers).status_code == 200


def test_without_configured_tokens_the_data_folder_admin_token_is_used(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    settings = make_settings(api_tokens=[])
    runtime = make_runtime(settings)
    with TestClient(create_app(runtime, background=False)) as client:
        token_file = Path(settings.data_dir) / TOKEN_FILE
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        assert client.get("/v1/customers", headers=WRITER).status_code == 401
        answer = client.get("/v1/customers", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
    assert ensure_admin_token(settings) == (token, False)
