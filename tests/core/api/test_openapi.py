"""The OpenAPI document tells the truth: a body generated from it is accepted, on SQLite.

tests/e2e/test_fuzz.py runs schemathesis over HTTP against PostgreSQL; here every
operation that reads a body gets bodies generated from ``/openapi.json`` in-process on
SQLite (seeded), each of which must be accepted (404 for an id nobody wrote is an
acceptance: the body was read first), unless the API refuses it only for a rule no
JSON Schema can state (core.testing.fuzz_hooks.UNEXPRESSIBLE_RULES). The patterns the
document states are checked against the validators they stand for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from core.api.app import create_app
from core.api.openapi import TEXT_PATTERN
from core.locale import normalize_phone
from core.schemas.fields import _EMAIL, NOT_BLANK_PATTERN, PHONE_PATTERN, _check_email
from core.sync.runtime import SyncRuntime
from core.testing.fuzz_hooks import WEBHOOK_PREFIX, only_unexpressible, signed_body
from tests.core.api.conftest import ADMIN, TestClient
from tests.core.api.test_hostile_webhooks import SECRET, webhook_runtime
from tests.core.conftest import TOKENS

EXAMPLES = 20


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncRuntime]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    runtime = webhook_runtime(tmp, f"sqlite:///{tmp / 'openapi.db'}", api_tokens=TOKENS)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def document(runtime: SyncRuntime) -> dict[str, Any]:
    spec: dict[str, Any] = create_app(runtime, background=False).openapi()
    return spec


def operations_with_a_body(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    )


def test_the_operations_the_fuzzer_found_loose_have_bodies(document: dict[str, Any]) -> None:
    operations = operations_with_a_body(document)
    for path in ("proformas", "orders", "reservations", "returns"):
        assert ("PUT", f"/v1/{path}/{{record_id}}") in operations
    assert ("POST", "/v1/leads/{record_id}/assign") in operations
    for plugin in ("finance", "inventory", "production"):
        assert ("POST", f"/v1/webhooks/{plugin}") in operations


@pytest.fixture(scope="module")
def client(runtime: SyncRuntime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, background=False)) as running:
        yield running


@pytest.fixture(scope="module")
def loaded(client: TestClient) -> Any:
    return schemathesis.openapi.from_dict(client.get("/openapi.json").json())


OPERATIONS = [
    ("PUT", f"/v1/{kind}/{{record_id}}")
    for kind in (
        "customers",
        "contacts",
        "leads",
        "opportunities",
        "products",
        "proformas",
        "orders",
        "reservations",
        "returns",
        "production",
        "interactions",
        "tasks",
        "agents",
        "cases",
        "surveys",
        "subscriptions",
    )
] + [
    ("POST", "/v1/leads/{record_id}/assign"),
    ("POST", "/v1/leads/{record_id}/followups"),
    ("POST", "/v1/tasks/{record_id}/assign"),
    ("POST", "/v1/tasks/{record_id}/snooze"),
    ("PUT", "/v1/agents/{record_id}/away"),
    ("POST", "/v1/admin/dead/retry"),
    ("POST", "/v1/admin/dead/purge"),
    ("POST", "/v1/admin/inbox/retry"),
    ("POST", "/v1/admin/deliveries/actions"),
    ("POST", "/v1/admin/jobs"),
    ("POST", "/v1/admin/jobs/{job_id}/confirm"),
    ("POST", "/v1/admin/plugins/{plugin}/pause"),
    ("POST", "/v1/admin/plugins/{plugin}/resume"),
    ("POST", "/v1/admin/plugins/{plugin}/resync"),
    ("POST", "/v1/webhooks/finance"),
    ("POST", "/v1/webhooks/inventory"),
    ("POST", "/v1/webhooks/production"),
]


def test_every_operation_with_a_body_is_generated_from(document: dict[str, Any]) -> None:
    assert sorted(OPERATIONS) == operations_with_a_body(document)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_body_generated_from_the_document_is_accepted(
    client: TestClient, loaded: Any, method: str, path: str
) -> None:
    strategy = loaded[path][method].as_strategy(GenerationMode.POSITIVE)
    refused = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def send(case: Any) -> None:
        body = None if isinstance(case.body, schemathesis.core.NotSet) else case.body
        url = case.formatted_path
        if url.startswith(WEBHOOK_PREFIX):
            content, headers = signed_body(body, SECRET)
        else:
            content = json.dumps(body, ensure_ascii=False).encode()
            headers = {**ADMIN, "content-type": "application/json"}
        answer = client.request(method, url, content=content, headers=headers)
        problem = answer.json() if answer.status_code >= 400 else None
        if answer.status_code in (404, 409) or answer.status_code < 400:
            return
        if answer.status_code == 422 and only_unexpressible(problem):
            return
        refused.append(f"{answer.status_code} {answer.text[:300]} for {content[:300]!r}")

    send()
    assert not refused, "\n".join(refused[:5])


def test_every_unconstrained_string_in_the_document_refuses_nul(document: dict[str, Any]) -> None:
    strings = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" or "string" in (node.get("type") or []):
                strings.append(node)
            for key, value in node.items():
                if key not in ("enum", "const", "default", "examples"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document["paths"])
    walk(document["components"])
    assert len(strings) > 100
    unconstrained = [s for s in strings if not {"pattern", "format", "enum", "const"} & s.keys()]
    assert unconstrained == []
    for schema in strings:
        pattern = schema.get("pattern")
        if pattern is not None:
            assert not re.search(pattern, "a\x00b"), pattern
    assert re.search(TEXT_PATTERN, "نام\nبا خط تازه") and not re.search(TEXT_PATTERN, "\x00")


def test_a_record_upsert_links_to_every_operation_on_its_id(document: dict[str, Any]) -> None:
    base = "/v1/leads/{record_id}"
    links = document["paths"][base]["put"]["responses"]["200"]["links"]
    expected = {
        operation["operationId"]
        for path, item in document["paths"].items()
        if path == base or path.startswith(base + "/")
        for method, operation in item.items()
        if method in ("get", "post", "delete")
    }
    assert {link["operationId"] for link in links.values()} == expected
    assert {"GetRecord", "GetScore", "GetAssignment", "PostAssign", "PostFollowups"} <= set(links)
    for link in links.values():
        assert link["parameters"] == {"record_id": "$request.path.record_id"}


def test_a_405_names_every_method_of_the_path(client: TestClient) -> None:
    answer = client.request("OPTIONS", "/v1/leads/L-1", headers=ADMIN)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, PUT"
    answer = client.request("PATCH", "/v1/agents/A-1/away", headers=ADMIN)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, PUT"


@settings(max_examples=300, derandomize=True, database=None)
@given(st.from_regex(PHONE_PATTERN, fullmatch=True))
def test_every_phone_the_document_asks_for_is_one(phone: str) -> None:
    assert normalize_phone(phone).startswith("+989")


@settings(max_examples=300, derandomize=True, database=None)
@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_not_blank_means_what_strip_means(text: str) -> None:
    assert bool(re.fullmatch(NOT_BLANK_PATTERN, text)) == bool(text.strip() and "\x00" not in text)


WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]


def test_the_patterns_read_every_python_space_as_space() -> None:
    for space in WHITESPACE:
        assert not re.fullmatch(NOT_BLANK_PATTERN, space), repr(space)
        assert not _EMAIL.match(f"a{space}b@example.ir"), repr(space)


@settings(max_examples=300, derandomize=True, database=None)
@given(st.from_regex(_EMAIL.pattern, fullmatch=True))
def test_every_email_the_pattern_allows_is_accepted(email: str) -> None:
    assert _check_email(email) == email
    assert not set(email) & (set(WHITESPACE) | set(map(chr, range(32))) | {"\x7f", "\ufeff"})


def test_persian_digits_are_valid_for_the_document_and_for_the_api(
    document: dict[str, Any], client: TestClient
) -> None:
    body = {
        "type": "person",
        "name": "علی",
        "registration_number": "۱۲۳٤٥",
        "addresses": [{"line1": "خیابان", "postal_code": "۱۴۳۴۸۶۳۱۱۱"}],
    }
    put = document["paths"]["/v1/customers/{record_id}"]["put"]
    reference = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = {"$ref": reference, "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)
    answer = client.put("/v1/customers/C-digits", json=body, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    wrong = {**body, "addresses": [{"line1": "خیابان", "postal_code": "۱۴۳۴۸"}]}
    assert not jsonschema.Draft202012Validator(schema).is_valid(wrong)
    assert client.put("/v1/customers/C-digits", json=wrong, headers=ADMIN).status_code == 422
