"""What the inventory plugin asks of the warehouse, and how the warehouse's answers read.

A canonical record becomes at most one *request* (reserve or release a reservation,
create a return); every backend carries out the same requests. What comes back, by
webhook or by polling, is one of three *statuses* (a reservation's lines, an order's
delivery state, a return's result); each is a pydantic model, so the webhook's JSON
Schemas and the checks on inbound payloads come from the same definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from core.errors import MappingError
from core.plugin_types import SyncRecord
from core.schemas.base import RecordId
from core.schemas.fields import NonNegativeAmount, Quantity, Timestamp
from core.schemas.sales import (
    DeliveryState,
    LineReservationState,
    ProForma,
    ReturnRequest,
    SalesOrder,
    StockReservation,
)

#: Where a pro-forma's validity ends: the end of its last valid day in Iran.
VALIDITY_ZONE = ZoneInfo("Asia/Tehran")

RESERVATION_STATUS = "inventory.reservation_status"
DELIVERY_STATUS = "inventory.delivery_status"
RETURN_STATUS = "inventory.return_status"
RESERVATION_EXPIRED = "inventory.reservation_expired"
RESERVATION_DOCUMENT = "inventory.reservation"
RETURN_DOCUMENT = "inventory.return"

#: Order states after which the order's goods are still wanted (reserve, keep reserved).
_LIVE_ORDER = frozenset({"confirmed", "in_production", "ready"})
_DEAD_PROFORMA = frozenset({"rejected", "cancelled", "expired"})


def derived_reservation_id(document_id: str) -> str:
    """The id of the reservation the plugin keeps for a pro-forma or an order it reserves for."""
    return f"res-{document_id}"


def return_reference(return_id: str) -> str:
    """The reference an ERP return carries: the CRM id with a prefix no ERP sequence uses."""
    return f"rma-{return_id}"


def parts_reference(reservation_id: str) -> str:
    """The reference of the ERP document holding a service case's parts."""
    return f"svc-{reservation_id}"


# -- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A CRM product and the quantity wanted (or returned)."""

    product_id: str
    quantity: Decimal


@dataclass(frozen=True)
class ReservationRequest:
    """Reserve (or release) the lines of one reservation.

    ``sale_refs`` are the CRM ids the ERP sale may carry as its reference, in the order
    to try them (an order's own id, then its pro-forma's); empty for a service case,
    whose parts are not sold. ``derived`` says the plugin keeps the canonical
    reservation itself (created under ``reservation_id``) rather than the CRM.
    """

    action: Literal["reserve", "release"]
    reservation_id: str
    lines: tuple[Line, ...]
    sale_refs: tuple[str, ...] = ()
    order_id: str | None = None
    proforma_id: str | None = None
    service_case_id: str | None = None
    expires_at: datetime | None = None
    derived: bool = False

    def reservation_fields(self) -> dict[str, Any]:
        """The fields of a new canonical reservation for this request."""
        return {
            "order_id": self.order_id,
            "proforma_id": self.proforma_id,
            "service_case_id": self.service_case_id,
            "lines": [
                {"product_id": line.product_id, "quantity": str(line.quantity)}
                for line in self.lines
            ],
            "status": "requested",
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True)
class ReturnOrder:
    """Create the ERP's return of ``lines`` of an order, once per ``return_id``."""

    return_id: str
    order_id: str
    customer_id: str
    reason: str
    lines: tuple[Line, ...]
    resolution: str | None = None


Request = ReservationRequest | ReturnOrder


def _end_of_validity(day: Any) -> datetime:
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=VALIDITY_ZONE)
    return end.astimezone(UTC)


def request_for(record: SyncRecord, reserve_on: str) -> Request | None:
    """The request a record's latest version makes, or None when it asks nothing of stock.

    Pro-formas (with ``reserve_on = "proforma"``) reserve once approved and release when
    rejected, cancelled or expired; orders reserve once confirmed (with ``reserve_on =
    "order"``) and release when cancelled; a reservation the CRM sent is reserved unless
    its status is ``released``; a return request in status ``requested`` becomes a return.
    """
    data = record.data
    if isinstance(data, ProForma):
        if reserve_on != "proforma":
            return None
        lines = tuple(Line(line.product_id, line.quantity) for line in data.lines)
        action: Literal["reserve", "release"]
        if data.status == "approved":
            action = "reserve"
        elif data.status in _DEAD_PROFORMA:
            action = "release"
        else:
            return None
        return ReservationRequest(
            action=action,
            reservation_id=derived_reservation_id(record.id),
            lines=lines,
            sale_refs=(record.id,),
            proforma_id=record.id,
            expires_at=_end_of_validity(data.valid_until) if data.valid_until else None,
            derived=True,
        )
    if isinstance(data, SalesOrder):
        lines = tuple(Line(line.product_id, line.quantity) for line in data.lines)
        refs = (record.id, data.proforma_id) if data.proforma_id else (record.id,)
        if reserve_on == "order":
            if data.status in _LIVE_ORDER:
                action = "reserve"
            elif data.status == "cancelled":
                action = "release"
            else:
                return None
            return ReservationRequest(
                action=action,
                reservation_id=derived_reservation_id(record.id),
                lines=lines,
                sale_refs=refs,
                order_id=record.id,
                derived=True,
            )
        if data.status == "cancelled" and data.proforma_id:
            return ReservationRequest(
                action="release",
                reservation_id=derived_reservation_id(data.proforma_id),
                lines=lines,
                sale_refs=refs,
                proforma_id=data.proforma_id,
                derived=True,
            )
        return None
    if isinstance(data, StockReservation):
        sale_refs = tuple(ref for ref in (data.order_id, data.proforma_id) if ref)
        return ReservationRequest(
            action="release" if data.status == "released" else "reserve",
            reservation_id=record.id,
            lines=tuple(Line(line.product_id, line.quantity) for line in data.lines),
            sale_refs=sale_refs,
            order_id=data.order_id,
            proforma_id=data.proforma_id,
            service_case_id=data.service_case_id,
            expires_at=data.expires_at,
        )
    if isinstance(data, ReturnRequest):
        if data.status != "requested":
            return None
        return ReturnOrder(
            return_id=record.id,
            order_id=data.order_id,
            customer_id=data.customer_id,
            reason=data.reason,
            lines=tuple(Line(line.product_id, line.quantity) for line in data.lines),
            resolution=data.resolution,
        )
    raise MappingError(f"the inventory plugin does not handle {record.type} records")


# -- statuses that come back ------------------------------------------------------------


class _Status(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineStatus(_Status):
    """How much of one product of a reservation the warehouse holds."""

    product_id: RecordId
    reserved_quantity: NonNegativeAmount
    state: LineReservationState


class ReservationStatus(_Status):
    """The warehouse's answer to a reservation: per line, or that it was released.

    ``reported_at`` is when the ERP recorded this state, when it says (a poll of
    Odoo's stock moves gives their newest ``write_date``); it orders late reports.
    """

    reservation_id: RecordId
    status: Literal["reserved", "partial", "unavailable", "released"]
    lines: list[LineStatus] = Field(default_factory=list, max_length=1000)
    reported_at: Timestamp | None = None


class DeliveryStatus(_Status):
    """How far an order's goods have gone."""

    order_id: RecordId
    delivery_state: DeliveryState


class ReturnStatus(_Status):
    """What became of a return: goods received, money refunded or goods replaced."""

    return_id: RecordId
    status: Literal["received", "refunded", "replaced", "rejected"]
    received_at: Timestamp | None = None
    refunded_amount: NonNegativeAmount | None = None


class ReservationExpired(_Status):
    """A reservation whose ``expires_at`` passed, found while polling: release it."""

    reservation_id: RecordId
    expires_at: datetime


STATUS_MODELS: dict[str, type[_Status]] = {
    RESERVATION_STATUS: ReservationStatus,
    DELIVERY_STATUS: DeliveryStatus,
    RETURN_STATUS: ReturnStatus,
    RESERVATION_EXPIRED: ReservationExpired,
}


def overall(lines: Sequence[LineStatus]) -> Literal["reserved", "partial", "unavailable"]:
    """Sum up per-line states: all reserved, none reserved, or something in between."""
    states = {line.state for line in lines}
    if states == {"reserved"}:
        return "reserved"
    if not states or states == {"unavailable"}:
        return "unavailable"
    return "partial"


def line_status(product_id: str, wanted: Decimal, reserved: Decimal) -> LineStatus:
    """The state of one line from the quantity wanted and the quantity reserved."""
    # ERPs answer floats such as 3.0: the CRM's own spelling of the quantity is kept.
    reserved = wanted if reserved >= wanted else Decimal(format(reserved.normalize(), "f"))
    reserved = max(reserved, Decimal(0))
    state: LineReservationState
    if reserved >= wanted:
        state = "reserved"
    elif reserved > 0:
        state = "partly_reserved"
    else:
        state = "unavailable"
    return LineStatus(product_id=product_id, reserved_quantity=reserved, state=state)


def reservation_changes(current: StockReservation, status: ReservationStatus) -> dict[str, Any]:
    """The canonical reservation's new lines and status after the warehouse's answer.

    Lines are matched by product in order; a line the answer does not mention keeps
    what it had. A release clears every line's reserved quantity.
    """
    answers: dict[str, list[LineStatus]] = {}
    for answer in status.lines:
        answers.setdefault(answer.product_id, []).append(answer)
    lines = []
    for line in current.lines:
        body = line.model_dump(mode="json")
        if status.status == "released":
            body.update(reserved_quantity="0", state=None)
        elif answers.get(line.product_id):
            answer = answers[line.product_id].pop(0)
            body.update(reserved_quantity=str(answer.reserved_quantity), state=answer.state)
        lines.append(body)
    changes: dict[str, Any] = {"lines": lines, "status": status.status}
    if status.reported_at is not None:
        changes["reported_at"] = status.reported_at.isoformat()
    return changes


def is_stale(current: StockReservation, status: ReservationStatus) -> bool:
    """Whether the ERP recorded ``status`` before the state the reservation holds.

    A status without a time, or a reservation holding none, cannot be ordered and is
    not stale; one recorded at the same time is applied, as the later to arrive.
    """
    if status.reported_at is None or current.reported_at is None:
        return False
    return status.reported_at < current.reported_at


def delivery_state(shipment_states: Sequence[str]) -> DeliveryState:
    """An order's delivery state from its live shipments' states (cancelled ones left out).

    ``done`` means the goods reached the customer's location (``delivered``); ``packed``
    or ``shipped`` that they left the shelves for the carrier.
    """
    live = [state for state in shipment_states if state not in ("cancelled", "cancel")]
    if not live:
        return "none"
    done = [state for state in live if state == "done"]
    if len(done) == len(live):
        return "delivered"
    if done:
        return "partly_shipped"
    if all(state in ("packed", "shipped") for state in live):
        return "shipped"
    if any(state in ("packed", "shipped") for state in live):
        return "partly_shipped"
    return "none"


__all__ = [
    "DELIVERY_STATUS",
    "RESERVATION_DOCUMENT",
    "RESERVATION_EXPIRED",
    "RESERVATION_STATUS",
    "RETURN_DOCUMENT",
    "RETURN_STATUS",
    "STATUS_MODELS",
    "DeliveryStatus",
    "Line",
    "LineStatus",
    "ReservationExpired",
    "ReservationRequest",
    "ReservationStatus",
    "ReturnOrder",
    "ReturnStatus",
    "delivery_state",
    "derived_reservation_id",
    "is_stale",
    "line_status",
    "overall",
    "parts_reference",
    "request_for",
    "reservation_changes",
    "return_reference",
]


# -- the document a request travels as --------------------------------------------------


@dataclass(frozen=True)
class Track:
    """Follow an order's deliveries: find its ERP sale and keep the binding (no stock change)."""

    order_id: str
    sale_refs: tuple[str, ...]


def track_for(record: SyncRecord) -> Track | None:
    """The tracking request of an order whose goods may ship (confirmed or later)."""
    data = record.data
    if isinstance(data, SalesOrder) and data.status not in ("draft", "cancelled"):
        refs = (record.id, data.proforma_id) if data.proforma_id else (record.id,)
        return Track(order_id=record.id, sale_refs=refs)
    return None


def _lines(lines: Sequence[Line], skus: dict[str, str | None]) -> list[dict[str, Any]]:
    return [
        {
            "product_id": line.product_id,
            "sku": skus.get(line.product_id),
            "quantity": str(line.quantity),
        }
        for line in lines
    ]


def document_data(request: Request | Track, skus: dict[str, str | None]) -> dict[str, Any]:
    """The JSON a request travels as: the ``data`` of a webhook document, and what push reads."""
    if isinstance(request, ReservationRequest):
        return {
            "document": RESERVATION_DOCUMENT,
            "action": request.action,
            "reservation_id": request.reservation_id,
            "order_id": request.order_id,
            "proforma_id": request.proforma_id,
            "service_case_id": request.service_case_id,
            "sale_refs": list(request.sale_refs),
            "expires_at": request.expires_at.isoformat() if request.expires_at else None,
            "derived": request.derived,
            "lines": _lines(request.lines, skus),
        }
    if isinstance(request, ReturnOrder):
        return {
            "document": RETURN_DOCUMENT,
            "action": "return",
            "return_id": request.return_id,
            "reference": return_reference(request.return_id),
            "order_id": request.order_id,
            "customer_id": request.customer_id,
            "reason": request.reason,
            "resolution": request.resolution,
            "lines": _lines(request.lines, skus),
        }
    return {
        "document": "inventory.track",
        "action": "track",
        "order_id": request.order_id,
        "sale_refs": list(request.sale_refs),
    }


def request_from(data: dict[str, Any]) -> Request | Track | None:
    """Read back the request :func:`document_data` wrote (None for ``{"action": "none"}``)."""
    action = data.get("action")
    lines = tuple(
        Line(str(line["product_id"]), Decimal(str(line["quantity"])))
        for line in data.get("lines", [])
    )
    if action in ("reserve", "release"):
        expires = data.get("expires_at")
        return ReservationRequest(
            action=action,
            reservation_id=str(data["reservation_id"]),
            lines=lines,
            sale_refs=tuple(data.get("sale_refs", [])),
            order_id=data.get("order_id"),
            proforma_id=data.get("proforma_id"),
            service_case_id=data.get("service_case_id"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            derived=bool(data.get("derived")),
        )
    if action == "return":
        return ReturnOrder(
            return_id=str(data["return_id"]),
            order_id=str(data["order_id"]),
            customer_id=str(data["customer_id"]),
            reason=str(data["reason"]),
            lines=lines,
            resolution=data.get("resolution"),
        )
    if action == "track":
        return Track(order_id=str(data["order_id"]), sale_refs=tuple(data.get("sale_refs", [])))
    return None


# -- JSON Schemas of the documents ------------------------------------------------------


class DocumentLine(_Status):
    """A product line of an outgoing document; ``sku`` is the CRM product's SKU when known."""

    product_id: RecordId
    sku: str | None = None
    quantity: Quantity


class ReservationDocument(_Status):
    """``inventory.reservation``: reserve or release stock for a document or a service case.

    Exactly one of ``order_id``, ``proforma_id`` and ``service_case_id`` is set; answer
    with an ``inventory.reservation_status`` for ``reservation_id``.
    """

    document: Literal["inventory.reservation"]
    action: Literal["reserve", "release"]
    reservation_id: RecordId
    order_id: str | None = None
    proforma_id: str | None = None
    service_case_id: str | None = None
    sale_refs: list[str]
    expires_at: datetime | None = None
    derived: bool
    lines: list[DocumentLine] = Field(min_length=1, max_length=1000)


class ReturnDocument(_Status):
    """``inventory.return``: goods of an order come back (RMA).

    Answer with an ``inventory.return_status`` for ``return_id``.
    """

    document: Literal["inventory.return"]
    action: Literal["return"]
    return_id: RecordId
    reference: str
    order_id: str
    customer_id: str
    reason: str
    resolution: Literal["refund", "replace"] | None = None
    lines: list[DocumentLine] = Field(min_length=1, max_length=1000)


OUTBOUND_MODELS: dict[str, type[_Status]] = {
    RESERVATION_DOCUMENT: ReservationDocument,
    RETURN_DOCUMENT: ReturnDocument,
}


def inbound_schema(type_: str, model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a signed status the warehouse sends: ``{"type", "data"}``."""
    data = model.model_json_schema(mode="validation")
    definitions = data.pop("$defs", None)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"crm-sync {type_} (sent to POST /v1/webhooks/inventory)",
        "type": "object",
        "required": ["type", "data"],
        "properties": {"type": {"const": type_}, "data": data},
        "additionalProperties": False,
    }
    if definitions:
        schema["$defs"] = definitions
    return schema
