"""The ``webhook`` backend: signed documents out, signed invoice statuses in.

Outbound, customers, products and pro-formas are POSTed as signed JSON documents (see
docs/receiving.md), a pro-forma's customer and products first. Inbound, the finance
system POSTs ``invoice_status`` documents to ``/v1/webhooks/finance``, signed per the
Standard Webhooks specification with the same secret; ``webhook-id`` deduplicates them.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from core.connectors.http import classify_exception
from core.connectors.webhook import (
    WebhookSender,
    WebhookTarget,
    read_json,
    validation_problems,
    verify_signature,
)
from core.errors import WebhookRejected
from core.plugin_types import (
    HealthReport,
    InboundEvent,
    OutboundDocument,
    PluginContext,
    PollResult,
    PushResult,
)
from plugins.finance.backends import Dependencies, FinanceBackend
from plugins.finance.mapping import INVOICE_STATUS, InvoiceStatusDocument
from plugins.finance.settings import FinanceSettings


class WebhookBackend(FinanceBackend):
    """Signed JSON documents to one URL; invoice statuses back through the webhook endpoint."""

    def __init__(
        self, context: PluginContext, settings: FinanceSettings, target: WebhookTarget
    ) -> None:
        super().__init__(context, settings)
        self.target = target
        self.sender = WebhookSender(target, context.http)

    def _send_one(self, document: OutboundDocument) -> PushResult:
        return self.sender.push([document])[0]

    def push_customer(self, document: OutboundDocument) -> PushResult:
        """POST the customer document."""
        return self._send_one(document)

    def push_product(self, document: OutboundDocument) -> PushResult:
        """POST the product document."""
        return self._send_one(document)

    def push_proforma(self, document: OutboundDocument, dependencies: Dependencies) -> PushResult:
        """POST the pro-forma document (its customer and products were sent before)."""
        return self._send_one(document)

    def withdraw(self, document: OutboundDocument) -> PushResult:
        """POST the withdrawn pro-forma: the finance system learns its new status."""
        return self._send_one(document)

    def push(self, documents: list[OutboundDocument]) -> list[PushResult]:
        """Send the pro-formas' missing dependencies, then every document (batched if set).

        A pro-forma whose dependency could not be sent fails alone; the others go out
        together.
        """
        results: list[PushResult | None] = [None] * len(documents)
        ready: list[int] = []
        for index, document in enumerate(documents):
            if document.type == "proforma":
                try:
                    self.dependencies(document)
                except Exception as error:
                    results[index] = PushResult(error=classify_exception(error))
                    continue
            ready.append(index)
        answers = self.sender.push([documents[index] for index in ready])
        for index, answer in zip(ready, answers, strict=True):
            results[index] = answer
        return [result if result is not None else PushResult() for result in results]

    def poll(self, cursor: str | None) -> PollResult:
        """Nothing to poll: the finance system pushes its invoice statuses."""
        return PollResult(events=[], cursor=cursor)

    def health(self) -> HealthReport:
        """Check that the finance system answers at its URL (any answer but 502-504 will do)."""
        url = self.target.url
        try:
            response = self.context.http.head(str(url))
        except Exception as error:
            return HealthReport(ok=False, detail=f"{url} unreachable: {type(error).__name__}")
        unavailable = response.status_code in (502, 503, 504)
        return HealthReport(ok=not unavailable, detail=f"{url} answers HTTP {response.status_code}")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[InboundEvent]:
        """Verify the signature, then read one ``invoice_status`` document.

        A missing or wrong signature (or a timestamp outside the tolerance the Standard
        Webhooks library allows) is refused with 401; a body that is not JSON with 400; a
        document that does not match the schema with 422 naming the fields.
        """
        webhook_id = verify_signature(self.target.secret, headers, body)
        raw = read_json(body)
        try:
            document = InvoiceStatusDocument.model_validate(raw)
        except ValidationError as error:
            fields = validation_problems(error)
            raise WebhookRejected(422, f"not an {INVOICE_STATUS} document: {fields}") from None
        return [
            InboundEvent(
                event_id=webhook_id,
                type=INVOICE_STATUS,
                payload=document.model_dump(mode="json", exclude_none=True),
                occurred_at=document.occurred_at,
            )
        ]
