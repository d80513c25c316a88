"""What every finance backend does, and the dependency handling they share.

A pro-forma needs its customer and products in the ERP first. Before a pro-forma is
pushed, each of them that this plugin has no external id for is pushed through the same
backend, and its external id is recorded at once with ``context.records.bind``: a crash
right after that never loses it, and the dependency's own delivery is then skipped
because the target already holds that version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal

from core import idempotency_key
from core.connectors.http import classify_exception
from core.errors import TransientError
from core.plugin_types import (
    HealthReport,
    OutboundDocument,
    PluginContext,
    PollResult,
    PushResult,
    SyncRecord,
)
from plugins.finance.mapping import map_record
from plugins.finance.settings import FinanceSettings


@dataclass(frozen=True)
class Dependencies:
    """External ids of a pro-forma's customer and products (by CRM id), None when unknown."""

    customer: str | None
    products: dict[str, str | None] = field(default_factory=dict)


def totals_note(erp_total: Decimal, crm_total: Decimal, *, erp: str) -> str | None:
    """The binding note when the ERP's total differs from the CRM's; None when they agree."""
    if erp_total == crm_total:
        return None
    difference = erp_total - crm_total
    return (
        f"{erp}'s total {erp_total} differs from the CRM's {crm_total} by {difference:+} "
        "(taxes or discounts were computed differently)"
    )


#: Pro-forma statuses that withdraw it: no quotation is made for it any more.
WITHDRAWN = ("rejected", "cancelled", "expired")


class FinanceBackend(ABC):
    """One way of reaching the finance system; ``push`` handles a pro-forma's dependencies."""

    #: Name shown in notes and messages ("Tryton", "Odoo", "the finance system").
    label = "the finance system"

    def __init__(self, context: PluginContext, settings: FinanceSettings) -> None:
        self.context = context
        self.settings = settings

    # -- what a backend implements ----------------------------------------------------

    @abstractmethod
    def push_customer(self, document: OutboundDocument) -> PushResult:
        """Create or update the customer's account; return its external id."""

    @abstractmethod
    def push_product(self, document: OutboundDocument) -> PushResult:
        """Create or update the product; return its external id."""

    @abstractmethod
    def push_proforma(self, document: OutboundDocument, dependencies: Dependencies) -> PushResult:
        """Create or update the quotation; issue the sale and invoice once approved."""

    @abstractmethod
    def withdraw(self, document: OutboundDocument) -> PushResult:
        """Handle a pro-forma the CRM gave up on (``WITHDRAWN``); its dependencies are not sent."""

    @abstractmethod
    def poll(self, cursor: str | None) -> PollResult:
        """Invoice statuses changed since ``cursor``."""

    @abstractmethod
    def health(self) -> HealthReport:
        """Whether the finance system answers and accepts our credentials."""

    # -- shared -------------------------------------------------------------------------

    def push(self, documents: list[OutboundDocument]) -> list[PushResult]:
        """Push each document, pro-formas after their dependencies; one result per document."""
        results = []
        for document in documents:
            try:
                results.append(self.push_one(document))
            except Exception as error:
                results.append(PushResult(error=classify_exception(error)))
        return results

    def push_one(self, document: OutboundDocument) -> PushResult:
        """Push one document of any subscribed type."""
        if document.type == "customer":
            return self.push_customer(document)
        if document.type == "product":
            return self.push_product(document)
        if document.payload.get("status") in WITHDRAWN:
            return self.withdraw(document)
        return self.push_proforma(document, self.dependencies(document))

    def dependencies(self, document: OutboundDocument) -> Dependencies:
        """Make sure the pro-forma's customer and products exist in the target, in that order."""
        payload = document.payload
        customer = self.ensure("customer", str(payload["customer_id"]), document)
        product_ids = dict.fromkeys(str(line["product_id"]) for line in payload["lines"])
        products = {pid: self.ensure("product", pid, document) for pid in product_ids}
        return Dependencies(customer=customer, products=products)

    def ensure(self, type_: str, record_id: str, dependant: OutboundDocument) -> str | None:
        """The external id of a dependency, pushing (and binding) it first if the target lacks it.

        A dependency the CRM does not hold yet is a transient failure of the dependant:
        the CRM may send it a moment later.
        """
        records = self.context.store()
        known = records.external_id(type_, record_id)
        if known is not None:
            return known
        record = records.get(type_, record_id)
        if record is None:
            raise TransientError(
                f"{dependant.type} {dependant.id} needs {type_} {record_id!r}, "
                "which the CRM does not hold yet"
            )
        outbound = self.outbound(record)
        result = (
            self.push_customer(outbound) if type_ == "customer" else self.push_product(outbound)
        )
        if result.error is not None:
            raise result.error
        if result.external_id is not None:
            records.bind(type_, record_id, result.external_id, record.version)
        return result.external_id

    def outbound(self, record: SyncRecord) -> OutboundDocument:
        """The document of a record as the sync engine would send it (same idempotency key)."""
        return OutboundDocument(
            type=record.type,
            id=record.id,
            version=record.version,
            occurred_at=record.updated_at,
            idempotency_key=idempotency_key(
                self.context.name, record.type, record.id, record.version
            ),
            payload=map_record(record),
            external_id=record.external_id,
        )
