"""``GET /v1/schemas``: JSON Schemas of the documents crm-sync sends and receives."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from core.api.auth import Principal, require
from core.api.problems import Problem
from core.api.records import runtime_of
from core.connectors.webhook import document_schema
from core.kinds import KINDS
from core.schemas.base import ID_PATTERN

router = APIRouter(prefix="/v1/schemas", tags=["schemas"])


def all_schemas(request: Request) -> dict[str, dict[str, Any]]:
    """Core's envelope of every canonical kind, replaced or added to by the plugins.

    Built on the first request and kept on the app: kinds and plugins are fixed once the
    process has started, and building every schema costs milliseconds.
    """
    schemas = getattr(request.app.state, "document_schemas", None)
    if schemas is None:
        schemas = {
            kind.type: document_schema(
                kind.type, kind.schema.model_json_schema(mode="serialization")
            )
            for kind in KINDS.values()
        }
        schemas.update(runtime_of(request).host.document_schemas())
        request.app.state.document_schemas = schemas
    assert isinstance(schemas, dict)
    return schemas


@router.get("", summary="Document types with a schema")
def list_schemas(
    request: Request, principal: Annotated[Principal, Depends(require("reader"))]
) -> dict[str, list[str]]:
    """The document types ``GET /v1/schemas/{type}`` describes."""
    return {"types": sorted(all_schemas(request))}


@router.get(
    "/{type_}",
    summary="JSON Schema of one document type",
    responses={200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}}},
)
def get_schema(
    type_: Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)],
    request: Request,
    principal: Annotated[Principal, Depends(require("reader"))],
) -> JSONResponse:
    """The JSON Schema (draft 2020-12) of a document type."""
    schema = all_schemas(request).get(type_)
    if schema is None:
        raise Problem(404, "not-found", f"no document type {type_!r}")
    return JSONResponse(schema, media_type="application/schema+json")
