"""What every inventory backend does, and the helpers the ERP backends share.

The webhook backend only sends documents: the warehouse answers later through the
signed inbound endpoint. The ERP backends (Tryton, Odoo) carry a request out at once
and return the warehouse's answer, which the plugin writes onto the canonical records;
they also poll the ERP for what its staff did since (reservations made later,
shipments, returns received, refunds) and find every reservation whose time is up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from core.plugin_types import InboundEvent, PluginContext, PollResult
from core.schemas.sales import StockReservation
from plugins.inventory.mapping import (
    RESERVATION_EXPIRED,
    DeliveryStatus,
    ReservationRequest,
    ReservationStatus,
    ReturnOrder,
    ReturnStatus,
    Track,
)

#: The SKU of a CRM product id, or None when the CRM has no such product.
SkuOf = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Answer:
    """What the ERP made of a request: its id for the binding and its status, if known now."""

    external_id: str | None
    status: ReservationStatus | ReturnStatus | DeliveryStatus | None = None


class ErpBackend(Protocol):
    """The operations the Tryton and Odoo backends implement."""

    def reserve(self, request: ReservationRequest, sku_of: SkuOf) -> Answer:
        """Reserve (or, for ``action == "release"``, release) the request's lines."""

    def create_return(self, request: ReturnOrder, context: PluginContext) -> Answer:
        """Create the ERP's return of the request's lines (once) and read its status."""

    def track(self, request: Track) -> Answer:
        """Find the ERP sale of an order so its deliveries can be followed."""

    def poll(self, context: PluginContext, cursor: str | None) -> PollResult:
        """Statuses changed in the ERP since ``cursor``, and reservations that expired."""

    def check(self) -> str:
        """Log in and read something small; raise when the ERP cannot be used."""


def event_id(prefix: str, payload: dict[str, Any], stamp: str) -> str:
    """A polled event's id: the same status seen again at the same change time is one event."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{prefix}:{stamp}:{digest[:24]}"


@dataclass
class Watch:
    """Records a poll keeps an eye on between polls, saved in the cursor.

    ``expiring`` maps a reservation id to when it expires (ISO); ``returns`` maps a
    return id to the ERP id of its return, until it is refunded or replaced (refunds
    change invoices, not stock, so they are read again each poll).
    """

    expiring: dict[str, str] = field(default_factory=dict)
    returns: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The watch list as JSON."""
        return {"expiring": dict(sorted(self.expiring.items())), "returns": self.returns}

    @classmethod
    def from_json(cls, data: Any) -> Watch:
        """Read a watch list saved by :meth:`to_json`."""
        if not isinstance(data, dict):
            return cls()
        return cls(dict(data.get("expiring", {})), dict(data.get("returns", {})))

    def note_reservation(self, context: PluginContext, reservation_id: str) -> None:
        """Watch a reservation with an expiry that is still held; forget a released one."""
        record = context.store().get("reservation", reservation_id)
        data = record.data if record is not None else None
        if (
            isinstance(data, StockReservation)
            and data.expires_at is not None
            and data.status != "released"
        ):
            self.expiring[reservation_id] = data.expires_at.astimezone(UTC).isoformat()
        else:
            self.expiring.pop(reservation_id, None)

    def expired(self, now: datetime | None = None) -> list[InboundEvent]:
        """Events for the watched reservations whose expiry has passed; they are unwatched."""
        now = now or datetime.now(UTC)
        events = []
        for reservation_id, expires in sorted(self.expiring.items()):
            if datetime.fromisoformat(expires) <= now:
                payload = {"reservation_id": reservation_id, "expires_at": expires}
                events.append(
                    InboundEvent(
                        f"expired:{reservation_id}:{expires}", RESERVATION_EXPIRED, payload
                    )
                )
                del self.expiring[reservation_id]
        return events


#: Reservation states in which the warehouse may hold (or later take) stock for it.
HELD_STATES = ("requested", "reserved", "partial", "unavailable")


def expired_reservations(
    context: PluginContext, watch: Watch, now: datetime | None = None
) -> list[InboundEvent]:
    """Release events for every reservation not yet released whose expiry has passed.

    A reservation's expiry is a point in time, not a change in the ERP, so waiting for
    the ERP to touch its documents would keep the stock held for ever. Every reservation
    in a held state is therefore looked at on each poll (indexed by status), along with
    the watch list; an ``unavailable`` one is released too, or the ERP might reserve it
    later when stock arrives. The event id is the reservation and its expiry, so the same
    expiry found again by a later poll (before it was applied) is stored once, and an
    expiry moved later makes a new event.
    """
    now = now or datetime.now(UTC)
    events = watch.expired(now)
    found = {event.payload["reservation_id"] for event in events}
    records = context.store()
    for state in HELD_STATES:
        for record in records.find("reservation", "status", state):
            data = record.data
            if not isinstance(data, StockReservation) or data.expires_at is None:
                continue
            if record.id in found or data.expires_at > now:
                continue
            expires = data.expires_at.astimezone(UTC).isoformat()
            payload = {"reservation_id": record.id, "expires_at": expires}
            events.append(
                InboundEvent(f"expired:{record.id}:{expires}", RESERVATION_EXPIRED, payload)
            )
            watch.expiring.pop(record.id, None)
            found.add(record.id)
    return events


def ensure_reservation(context: PluginContext, request: ReservationRequest) -> None:
    """Create the canonical reservation the plugin keeps for a pro-forma or an order.

    Every backend calls it when a reservation is asked for. When it exists already,
    its expiry follows the document's: a pro-forma whose validity is extended or
    shortened holds its stock until the new end.
    """
    if not request.derived:
        return
    records = context.store()
    record = records.get("reservation", request.reservation_id)
    if record is None:
        records.update(
            "reservation", request.reservation_id, request.reservation_fields(), create=True
        )
    elif isinstance(record.data, StockReservation) and record.data.expires_at != request.expires_at:
        expires = request.expires_at.isoformat() if request.expires_at else None
        records.update("reservation", request.reservation_id, {"expires_at": expires})


def sku_map(products: Sequence[str], sku_of: SkuOf) -> dict[str, str | None]:
    """The SKU of each CRM product id."""
    return {product: sku_of(product) for product in dict.fromkeys(products)}


__all__ = [
    "HELD_STATES",
    "Answer",
    "ErpBackend",
    "SkuOf",
    "Watch",
    "event_id",
    "expired_reservations",
    "sku_map",
]
