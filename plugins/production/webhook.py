"""The ``webhook`` backend: the ERP POSTs signed work-order status documents to crm-sync.

An in-house or proprietary ERP sends ``POST /v1/webhooks/production`` with one
``work_order_status`` document (or a JSON array of them) in the same signed envelope
crm-sync uses for the documents it sends (``type``, ``id``, ``version``, ``occurred_at``,
``idempotency_key``, ``data``), signed per Standard Webhooks with the plugin's
``secret``. docs/receiving.md describes the document; ``GET
/v1/schemas/work_order_status`` serves its JSON Schema.

- A missing, stale or wrong signature is refused with 401, a body that is not JSON
  with 400, a JSON body that is not a valid document with 422 (nothing is stored).
- The ``webhook-id`` header deduplicates: a redelivery with the same id is stored once
  (documents of an array get ``<webhook-id>:<index>``).
- A document's ``id`` is the ERP's id of the work order, which becomes the id of the
  canonical ``production_status`` record; ``occurred_at`` orders reports of one work
  order, so an older report arriving late changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from core.connectors.webhook import (
    MAX_KEY,
    MAX_VERSION,
    document_schema,
    read_json,
    validation_problems,
    verify_signature,
)
from core.errors import WebhookRejected
from core.plugin_types import InboundEvent
from core.schemas.base import RecordId
from core.schemas.fields import Day, Timestamp
from plugins.production.mapping import WorkOrderReport

#: The document type an ERP sends about one work order.
DOCUMENT_TYPE = "work_order_status"

#: Most documents one call may carry (core refuses more events per call).
MAX_DOCUMENTS = 1000


class WorkOrderData(BaseModel):
    """The ``data`` of a ``work_order_status`` document."""

    model_config = ConfigDict(extra="forbid", title="Work order status")

    order_id: RecordId = Field(description="The CRM id of the order the work order is for")
    work_order: str = Field(
        min_length=1, max_length=200, description="The work order's number, as people read it"
    )
    stage: str = Field(
        min_length=1,
        max_length=200,
        description="The ERP's stage name; 'cancelled' stops it counting for the promise",
    )
    progress: int = Field(default=0, ge=0, le=100, description="Percent done, 0 to 100")
    eta: Day | None = Field(
        default=None, description="When the goods are (expected to be) finished; ISO date"
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Why the ETA changed, for the order's timeline"
    )


class WorkOrderDocument(BaseModel):
    """The signed envelope of one ``work_order_status`` document."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["work_order_status"]
    id: RecordId = Field(description="The ERP's id of the work order")
    version: int = Field(ge=1, le=MAX_VERSION)
    occurred_at: Timestamp
    idempotency_key: str = Field(min_length=1, max_length=MAX_KEY)
    external_id: str | None = Field(default=None, max_length=MAX_KEY)
    data: WorkOrderData

    def report(self) -> WorkOrderReport:
        """The canonical report this document carries."""
        return WorkOrderReport(
            status_id=self.id,
            order_id=self.data.order_id,
            work_order=self.data.work_order,
            stage=self.data.stage,
            progress=self.data.progress,
            eta=self.data.eta,
            reported_at=self.occurred_at,
            reason=self.data.reason,
        )


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of the inbound document, in crm-sync's signed envelope."""
    data = WorkOrderData.model_json_schema()
    return {
        DOCUMENT_TYPE: document_schema(
            DOCUMENT_TYPE, data, title="crm-sync work_order_status document (ERP to crm-sync)"
        )
    }


def body_schema() -> dict[str, Any]:
    """The JSON Schema of a webhook call's body: one document or an array of them."""
    document = schemas()[DOCUMENT_TYPE]
    array = {"type": "array", "items": document, "minItems": 1, "maxItems": MAX_DOCUMENTS}
    return {"oneOf": [document, array]}


def parse(secret: SecretStr, headers: Mapping[str, str], body: bytes) -> list[InboundEvent]:
    """Verify and parse one webhook call into inbound events (see the module docstring)."""
    webhook_id = verify_signature(secret, headers, body)
    parsed = read_json(body)
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise WebhookRejected(422, "the body holds no document")
    events = []
    for index, item in enumerate(items):
        try:
            document = WorkOrderDocument.model_validate(item)
        except ValidationError as error:
            where = f"document {index}: " if isinstance(parsed, list) else ""
            problems = validation_problems(error)
            raise WebhookRejected(
                422, f"{where}not a {DOCUMENT_TYPE} document ({problems})"
            ) from None
        event_id = f"{webhook_id}:{index}" if isinstance(parsed, list) else webhook_id
        events.append(document.report().event(event_id))
    return events


__all__ = [
    "DOCUMENT_TYPE",
    "MAX_DOCUMENTS",
    "WorkOrderData",
    "WorkOrderDocument",
    "body_schema",
    "parse",
    "schemas",
]
