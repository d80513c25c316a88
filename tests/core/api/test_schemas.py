"""Document schemas served by the API validate the documents the webhook backend sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
from fastapi import FastAPI

from core.connectors.webhook import document_body
from core.kinds import KINDS
from core.plugin_types import OutboundDocument
from core.testing.samples import SAMPLES
from tests.core.api.conftest import READER, TestClient


def test_every_kind_has_a_schema(client: TestClient) -> None:
    answer = client.get("/v1/schemas", headers=READER)
    assert answer.status_code == 200
    assert set(answer.json()["types"]) >= {kind.type for kind in KINDS.values()}


def test_a_schema_needs_a_token_and_an_unknown_type_is_404(client: TestClient) -> None:
    assert client.get("/v1/schemas/customer").status_code == 401
    missing = client.get("/v1/schemas/nothing", headers=READER)
    assert (
        missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    )


def test_sample_documents_validate_and_broken_ones_do_not(client: TestClient, app: FastAPI) -> None:
    for name, kind in KINDS.items():
        answer = client.get(f"/v1/schemas/{kind.type}", headers=READER)
        assert answer.headers["content-type"] == "application/schema+json"
        schema = answer.json()
        jsonschema.Draft202012Validator.check_schema(schema)
        model = kind.schema.model_validate(SAMPLES[name])
        document = OutboundDocument(
            type=kind.type,
            id="R-1",
            version=3,
            occurred_at=datetime.now(UTC),
            idempotency_key="crm-sync-key",
            payload=model.model_dump(mode="json"),
        )
        body = json.loads(json.dumps(document_body(document)))
        jsonschema.validate(body, schema)
        wrong = {**body, "version": "three"}
        assert not jsonschema.Draft202012Validator(schema).is_valid(wrong)
