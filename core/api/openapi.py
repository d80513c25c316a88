"""The OpenAPI document: FastAPI's, completed so a client generated from it sends valid requests.

FastAPI describes the routes and their bodies; this adds what it cannot know:

- every operation answers errors as RFC 9457 problems (``default``), instead of
  FastAPI's 422 shape that the API never sends;
- each active plugin that takes webhooks gets its own ``POST /v1/webhooks/<name>``
  with the body schema it declares (``PluginDescription.webhook_schema``), in place of
  the generic ``{plugin}`` route that has no body to describe, and its ``GET`` when
  the plugin answers URL checks (``crm_sync_verify_webhook``);
- each record upsert links to every other operation on the same id (``GET`` the
  record, its sync state, its timeline, a lead's score and assignment, a task's
  snooze), so a stateful client (or fuzzer) can follow a write with what uses it;
- every string that no pattern, format or list of values constrains says that it
  holds no NUL (``TEXT_PATTERN``), as core.json_limits refuses it everywhere;
- the API's own rules on every body, in the description (see docs/api-limits.md).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from core.json_limits import MAX_DEPTH, MAX_NUMBER_CHARS
from core.sync.runtime import SyncRuntime

WEBHOOK_PATH = "/v1/webhooks/{plugin}"

#: The shape of every error answer.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
    },
}

#: Text as the API takes it: anything but NUL (an unpaired surrogate is refused too, but
#: a JSON Schema pattern cannot say so portably).
TEXT_PATTERN = "^[^\\x00]*$"

RULES = f"""Every request body is JSON, at most the configured size (1 MiB by default; a
plugin may declare its own for its webhook). Refused on every route: a body that is
not UTF-8 or not JSON, nests deeper than {MAX_DEPTH} levels or holds a number of more
than {MAX_NUMBER_CHARS} characters (400); text holding NUL (U+0000) or an unpaired
surrogate, and ids made only of dots (422, naming the field). Errors are RFC 9457
problems (application/problem+json)."""


def _move_definitions(schema: dict[str, Any], components: dict[str, Any], prefix: str) -> Any:
    """Move a JSON Schema's ``$defs`` (at any depth) into the components, rewriting references."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            for name, definition in node.get("$defs", {}).items():
                components[prefix + name] = rewrite(definition)
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                node = {**node, "$ref": f"#/components/schemas/{prefix}{reference[8:]}"}
            return {
                key: rewrite(value)
                for key, value in node.items()
                if key not in ("$defs", "$schema")
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return rewrite(schema)


def _webhook_paths(
    generic: dict[str, Any], runtime: SyncRuntime, components: dict[str, Any]
) -> dict[str, Any]:
    """One documented webhook path per active plugin that takes webhooks."""
    paths = {}
    for name in runtime.host.active():
        description = runtime.host.description(name)
        if not description.accepts_webhooks:
            continue
        operation = copy.deepcopy(generic["post"])
        operation["operationId"] = f"receive_webhook_{name}"
        operation["summary"] = f"Receive events from the {name} plugin's target"
        operation.pop("parameters", None)
        if description.webhook_schema is not None:
            prefix = f"webhook_{name}_"
            body = _move_definitions(dict(description.webhook_schema), components, prefix)
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        item = {"post": operation}
        if "get" in generic and name in runtime.host.implementers("crm_sync_verify_webhook"):
            check = copy.deepcopy(generic["get"])
            check["operationId"] = f"verify_webhook_{name}"
            check["summary"] = f"Answer the {name} plugin's target checking the webhook URL"
            check.pop("parameters", None)
            item["get"] = check
        paths[f"/v1/webhooks/{name}"] = item
    return paths


def _link_name(method: str, suffix: str) -> str:
    """A link's name from the operation it leads to: ``GET /sync`` is ``GetSync``."""
    words = [method.capitalize(), *(part.capitalize() for part in suffix.split("/") if part)]
    return "".join(words) if len(words) > 1 else f"{words[0]}Record"


def _link_operations(paths: dict[str, Any]) -> None:
    """Link every record upsert to the other operations on the id it wrote."""
    for path, item in paths.items():
        put = item.get("put")
        if put is None or not path.endswith("/{record_id}"):
            continue
        links = {
            _link_name(method, other[len(path) :]): operation["operationId"]
            for other, other_item in paths.items()
            if other == path or other.startswith(path + "/")
            for method, operation in other_item.items()
            if operation is not put and method in ("get", "post", "delete")
        }
        for status in ("200", "201"):
            if status in put["responses"]:
                put["responses"][status]["links"] = {
                    name: {
                        "operationId": operation_id,
                        "parameters": {"record_id": "$request.path.record_id"},
                    }
                    for name, operation_id in sorted(links.items())
                }


def _refuse_nul(node: Any) -> None:
    """Give every string schema nothing else constrains the ``TEXT_PATTERN``, in place."""
    if isinstance(node, list):
        for item in node:
            _refuse_nul(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    is_text = kind == "string" or (isinstance(kind, list) and "string" in kind)
    if is_text and not {"pattern", "format", "enum", "const"} & node.keys():
        node["pattern"] = TEXT_PATTERN
    for key, value in node.items():
        if key not in ("examples", "example", "default", "const", "enum"):
            _refuse_nul(value)


def build_openapi(app: FastAPI, runtime: SyncRuntime) -> dict[str, Any]:
    """The API's OpenAPI document (see the module docstring), built once per app."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = copy.deepcopy(
        get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=RULES,
            routes=app.routes,
        )
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    paths: dict[str, Any] = document["paths"]
    generic = paths.pop(WEBHOOK_PATH, None)
    if generic is not None:
        paths.update(_webhook_paths(generic, runtime, components))
    _link_operations(paths)
    for record_type, component in (("lead", "Lead"), ("customer", "Customer")):
        properties = components.get(component, {}).get("properties", {})
        if "attributes" in properties:
            properties["attributes"] = runtime.settings.attributes.json_schema(record_type)
    _refuse_nul(paths)
    _refuse_nul(components)
    problem = {
        "description": "an error, as an RFC 9457 problem",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    for item in paths.values():
        for operation in item.values():
            operation["responses"].pop("422", None)
            operation["responses"]["default"] = problem
    app.openapi_schema = document
    return document


__all__ = ["PROBLEM_SCHEMA", "RULES", "TEXT_PATTERN", "build_openapi"]
