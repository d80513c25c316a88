"""The inventory plugin's ``tryton`` backend, on the :mod:`erp.tryton` operations.

The ERP sale of a pro-forma or order is created and confirmed by the finance plugin
under the CRM id as its ``reference``; this backend only finds it (a missing or not yet
confirmed sale is a transient error: try again later), reserves or releases its
shipments' stock and reads the result per line. A service case's parts are held by an
internal shipment whose reference is ``svc-<reservation id>``; a return is a sale with
negative lines whose reference is ``rma-<return id>``.

Polling reads the stock moves written since the cursor (every reservation, shipment
and return receipt writes them), finds their sales and reports each bound record's
status; the cursor keeps the newest write time and the moves already seen at the end
of the overlap window, so moves sharing a timestamp and transactions that commit late
are neither missed nor reported twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.errors import MappingError, TransientError
from core.plugin_types import InboundEvent, PluginContext, PollResult
from core.schemas.sales import SalesOrder, StockReservation
from erp.tryton import Tryton, TrytonClient
from erp.tryton.stock import LineReservation, MoveCursor, ReturnInput, ReturnLineInput
from erp.tryton.stock import ReturnStatus as TrytonReturn
from plugins.inventory.backends import Answer, SkuOf, Watch, event_id, expired_reservations
from plugins.inventory.mapping import (
    DELIVERY_STATUS,
    RESERVATION_STATUS,
    RETURN_STATUS,
    DeliveryStatus,
    Line,
    LineStatus,
    ReservationRequest,
    ReservationStatus,
    ReturnOrder,
    ReturnStatus,
    Track,
    delivery_state,
    derived_reservation_id,
    line_status,
    overall,
    parts_reference,
    return_reference,
)
from plugins.inventory.settings import InventorySettings

#: Moves read per poll (plus those remembered from the overlap window).
POLL_LIMIT = 500


def sale_key(sale_id: int) -> str:
    """The external id of a Tryton sale, as bindings keep it."""
    return f"sale.sale,{sale_id}"


class TrytonInventory:
    """Reservations, deliveries and returns on one Tryton database."""

    def __init__(self, client: TrytonClient, settings: InventorySettings) -> None:
        self.client = client
        self.erp = Tryton(client)
        self.settings = settings

    # -- requests -----------------------------------------------------------------------

    def reserve(self, request: ReservationRequest, sku_of: SkuOf) -> Answer:
        """Reserve or release a sale's stock, or a service case's parts; answer per line."""
        if request.service_case_id is not None:
            return self._parts(request, sku_of)
        release = request.action == "release"
        sale_id = self.erp.sales.confirmed_sale(request.sale_refs, required=not release)
        if sale_id is None:
            return Answer(None, _released(request.reservation_id))
        status = self.erp.stock.release(sale_id) if release else self.erp.stock.reserve(sale_id)
        if release:
            return Answer(sale_key(sale_id), _released(request.reservation_id))
        lines = self._line_statuses(request.lines, status.lines, sku_of)
        answer = ReservationStatus(
            reservation_id=request.reservation_id, status=overall(lines), lines=lines
        )
        return Answer(sale_key(sale_id), answer)

    def _product_ids(self, lines: Sequence[Line], sku_of: SkuOf) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        for line in lines:
            if line.product_id not in found:
                sku = sku_of(line.product_id)
                found[line.product_id] = self.erp.products.find_product(sku) if sku else None
        return found

    def _line_statuses(
        self, lines: Sequence[Line], erp_lines: Sequence[LineReservation], sku_of: SkuOf
    ) -> list[LineStatus]:
        products = self._product_ids(lines, sku_of)
        pool: dict[int | None, list[LineReservation]] = {}
        for erp_line in erp_lines:
            pool.setdefault(erp_line.product_id, []).append(erp_line)
        statuses = []
        for line in lines:
            matches = pool.get(products[line.product_id]) or []
            reserved = matches.pop(0).reserved_quantity if matches else Decimal(0)
            statuses.append(line_status(line.product_id, line.quantity, reserved))
        return statuses

    def _location(self, code: str | None, setting: str) -> int:
        if not code:
            raise MappingError(f"set {setting} to reserve a service case's parts in Tryton")
        found = self.erp.stock.location(code)
        if found is None:
            raise MappingError(f"Tryton has no stock location with code {code!r} ({setting})")
        return found

    def _parts(self, request: ReservationRequest, sku_of: SkuOf) -> Answer:
        reference = parts_reference(request.reservation_id)
        model = "stock.shipment.internal"
        if request.action == "release":
            found = self.erp.stock.release_parts(reference)
            key = f"{model},{found}" if found is not None else None
            return Answer(key, _released(request.reservation_id))
        shipment = self.erp.stock.find_parts(reference)
        if shipment is None:
            origin = self._location(self.settings.tryton_parts_from, "tryton_parts_from")
            target = self._location(self.settings.tryton_parts_to, "tryton_parts_to")
            products = self._product_ids(request.lines, sku_of)
            missing = [crm for crm, erp in products.items() if erp is None]
            if missing:
                raise MappingError(f"Tryton has no product for {', '.join(missing)} (by SKU)")
            shipment = self.erp.stock.create_parts(
                reference,
                from_location=origin,
                to_location=target,
                lines=[(products[line.product_id] or 0, line.quantity) for line in request.lines],
            )
        moves = self.erp.stock.assign_parts(shipment)
        lines = _parts_statuses(request.lines, moves, self._product_ids(request.lines, sku_of))
        answer = ReservationStatus(
            reservation_id=request.reservation_id, status=overall(lines), lines=lines
        )
        return Answer(f"{model},{shipment}", answer)

    def create_return(self, request: ReturnOrder, context: PluginContext) -> Answer:
        """Create the return sale (once, by ``rma-<id>``) at the prices the order was sold at."""
        records = context.store()
        party = self.erp.partners.find_party(request.customer_id)
        if party is None:
            raise TransientError(f"Tryton has no party for customer {request.customer_id} yet")
        order = records.get("order", request.order_id)
        refs = [request.order_id]
        if order is not None and isinstance(order.data, SalesOrder) and order.data.proforma_id:
            refs.append(order.data.proforma_id)
        original = self.erp.sales.confirmed_sale(refs, required=False)
        sold = self.erp.sales.sale(original).lines if original is not None else ()
        lines = []
        for line in request.lines:
            product = records.get("product", line.product_id)
            sku = getattr(product.data, "sku", None) if product is not None else None
            product_id = self.erp.products.find_product(sku) if sku else None
            if product_id is None:
                raise MappingError(f"Tryton has no product for {line.product_id} (by SKU)")
            match = next((s for s in sold if s.product_id == product_id and s.quantity > 0), None)
            if match is None:
                raise MappingError(
                    f"product {line.product_id} was not sold on order {request.order_id} in Tryton"
                )
            lines.append(
                ReturnLineInput(
                    product_id=product_id,
                    quantity=line.quantity,
                    unit_price=match.unit_price,
                    tax_ids=match.tax_ids,
                    unit_id=match.unit_id,
                )
            )
        status = self.erp.stock.create_return(
            ReturnInput(
                crm_ref=return_reference(request.return_id),
                party_id=party,
                lines=tuple(lines),
                reason=request.reason,
            )
        )
        return Answer(sale_key(status.sale.id), _return_status(request.return_id, status))

    def track(self, request: Track) -> Answer:
        """Bind an order to its confirmed sale (transient until the finance plugin made it)."""
        sale_id = self.erp.sales.confirmed_sale(request.sale_refs)
        assert sale_id is not None
        return Answer(sale_key(sale_id), self._delivery(request.order_id, sale_id))

    def _delivery(self, order_id: str, sale_id: int) -> DeliveryStatus:
        status = self.erp.stock.delivery(sale_id)
        states = [shipment.state for shipment in status.shipments]
        return DeliveryStatus(order_id=order_id, delivery_state=delivery_state(states))

    def check(self) -> str:
        """Log in and read the user's context."""
        self.client.login()
        return f"logged in to {self.client.database}"

    # -- polling ------------------------------------------------------------------------

    def poll(self, context: PluginContext, cursor: str | None) -> PollResult:
        """Report the statuses of the sales whose stock moves changed since ``cursor``."""
        state = json.loads(cursor) if cursor else {}
        watch = Watch.from_json(state.get("watch"))
        changed, moves, more = self.erp.stock.changed_sales(
            MoveCursor(state.get("since"), dict(state.get("seen", {}))), limit=POLL_LIMIT
        )
        events: list[InboundEvent] = []
        for sale_id, stamp in sorted(changed.items()):
            events.extend(self._sale_events(context, sale_id, stamp, watch))
        for return_id, key in list(watch.returns.items()):
            events.extend(self._return_events(return_id, int(key.split(",")[1]), "watch", watch))
        events.extend(expired_reservations(context, watch))
        cursor_out = json.dumps(
            {"since": moves.since, "seen": dict(moves.seen), "watch": watch.to_json()},
            sort_keys=True,
        )
        return PollResult(events, cursor_out, more=more)

    def _sale_events(
        self, context: PluginContext, sale_id: int, stamp: str, watch: Watch
    ) -> list[InboundEvent]:
        records = context.store()
        key = sale_key(sale_id)
        events: list[InboundEvent] = []
        return_id = records.find_by_external_id("return", key)
        if return_id is not None:
            return self._return_events(return_id, sale_id, stamp, watch)
        reference = self.erp.sales.sale(sale_id).reference
        reservation_id = records.find_by_external_id("reservation", key)
        if reservation_id is None and reference:
            candidate = derived_reservation_id(reference)
            if records.get("reservation", candidate) is not None:
                reservation_id = candidate
        if reservation_id is not None:
            record = records.get("reservation", reservation_id)
            if isinstance(record.data if record else None, StockReservation):
                assert record is not None and isinstance(record.data, StockReservation)
                wanted = [Line(line.product_id, line.quantity) for line in record.data.lines]
                lines = self._line_statuses(
                    wanted, self.erp.stock.reservation(sale_id).lines, _sku_reader(context)
                )
                held = overall(lines)
                # Tryton is the truth about what is held: a released reservation whose
                # shipment was assigned again is reported; while nothing is held it
                # stays released.
                if record.data.status != "released" or held != "unavailable":
                    payload = ReservationStatus(
                        reservation_id=reservation_id,
                        status=held,
                        lines=lines,
                        reported_at=_tryton_time(stamp),
                    ).model_dump(mode="json")
                    events.append(
                        InboundEvent(
                            event_id(f"tryton:{key}:r", payload, stamp), RESERVATION_STATUS, payload
                        )
                    )
                watch.note_reservation(context, reservation_id)
        order_id = records.find_by_external_id("order", key)
        if order_id is not None:
            payload = self._delivery(order_id, sale_id).model_dump(mode="json")
            events.append(
                InboundEvent(event_id(f"tryton:{key}:d", payload, stamp), DELIVERY_STATUS, payload)
            )
        return events

    def _return_events(
        self, return_id: str, sale_id: int, stamp: str, watch: Watch
    ) -> list[InboundEvent]:
        status = _return_status(return_id, self.erp.stock.return_status(sale_id))
        if status is None or status.status in ("refunded", "replaced"):
            watch.returns.pop(return_id, None)
        else:
            watch.returns[return_id] = sale_key(sale_id)
        if status is None:
            return []
        payload = status.model_dump(mode="json", exclude={"received_at"})
        # The status alone identifies a return's event: it only moves forward.
        return [
            InboundEvent(
                event_id(f"tryton:return:{return_id}", payload, "-"), RETURN_STATUS, payload
            )
        ]


def _tryton_time(stamp: str) -> datetime:
    """A move's ``write_date`` as the poll keeps it (ISO, UTC, naive) as an aware time."""
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _sku_reader(context: PluginContext) -> SkuOf:
    def sku_of(product_id: str) -> str | None:
        record = context.store().get("product", product_id)
        sku = getattr(record.data, "sku", None) if record is not None else None
        return str(sku) if sku else None

    return sku_of


def _parts_statuses(
    lines: Sequence[Line], moves: Sequence[dict[str, Any]], products: dict[str, int | None]
) -> list[LineStatus]:
    """Per line, how much of a service case's parts the internal shipment's moves hold.

    Tryton splits a move it can only partly assign into an assigned part and a waiting
    rest, and assigns the rest later as a separate move once stock arrives; so the
    assigned quantities are totalled per product and handed to that product's lines in
    order, each taking at most what it wants.
    """
    held: dict[int, Decimal] = {}
    for move in moves:
        if move["state"] in ("assigned", "done"):
            product = int(move["product"])
            held[product] = held.get(product, Decimal(0)) + Decimal(str(move["quantity"]))
    statuses = []
    for line in lines:
        product_id = products.get(line.product_id)
        available = held.get(product_id, Decimal(0)) if product_id is not None else Decimal(0)
        taken = min(available, line.quantity)
        if product_id is not None:
            held[product_id] = available - taken
        statuses.append(line_status(line.product_id, line.quantity, taken))
    return statuses


def _released(reservation_id: str) -> ReservationStatus:
    return ReservationStatus(reservation_id=reservation_id, status="released", lines=[])


def _return_status(return_id: str, status: TrytonReturn) -> ReturnStatus | None:
    if status.refunded:
        amount = sum((abs(note.total_amount) for note in status.credit_notes), Decimal(0))
        return ReturnStatus(return_id=return_id, status="refunded", refunded_amount=amount)
    if status.received:
        dates = [s.effective_date for s in status.shipments if s.effective_date]
        received = datetime.combine(max(dates), datetime.min.time(), tzinfo=UTC) if dates else None
        return ReturnStatus(return_id=return_id, status="received", received_at=received)
    return None


__all__ = ["TrytonInventory", "sale_key"]
