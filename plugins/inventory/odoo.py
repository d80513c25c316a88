"""The inventory plugin's ``odoo`` backend, on the :mod:`erp.odoo` operations.

The sale order of a pro-forma or order is found by its ``client_order_ref`` (the CRM
id the finance plugin wrote there) and must be confirmed (``sale``/``done``); its
outgoing pickings are reserved (``action_assign``) or released (``do_unreserve``) and
read back per move. Service parts are a picking of the configured type whose origin is
``svc-<reservation id>``, cancelled when the parts are released; a return goes through
Odoo's return wizard on the order's done delivery, with origin ``rma-<return id>``.
Polling reads pickings and their stock moves changed since the cursor (``poll_pickings``,
``poll_moves``, safe for shared timestamps and late commits); Odoo is the truth about
what is held, so a picking its scheduler reserves again after a release is reported as
the reservation's new state, with the moves' time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from core.errors import MappingError, PermanentError, TransientError
from core.plugin_types import InboundEvent, PluginContext, PollResult
from core.schemas.sales import StockReservation
from erp.odoo import Odoo, OdooClient
from erp.odoo.polling import PollCursor
from erp.odoo.rights import INVENTORY, rights_detail
from erp.odoo.stock import PartsRequest, PickingStatus
from erp.odoo.stock import ReturnLine as OdooReturnLine
from erp.odoo.stock import ReturnRequest as OdooReturn
from erp.odoo.values import ODOO_DATETIME_FORMAT
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


def order_key(order_id: int) -> str:
    """The external id of an Odoo sale order, as bindings keep it."""
    return f"sale.order,{order_id}"


class OdooInventory:
    """Reservations, deliveries and returns on one Odoo database."""

    def __init__(self, client: OdooClient, settings: InventorySettings) -> None:
        self.client = client
        self.odoo = Odoo(client)
        self.settings = settings

    def _products(self, lines: Sequence[Line], sku_of: SkuOf) -> dict[str, int | None]:
        skus = {line.product_id: sku_of(line.product_id) for line in lines}
        by_sku = self.odoo.products.ids_by_sku(sku for sku in skus.values() if sku)
        return {product: by_sku.get(sku) if sku else None for product, sku in skus.items()}

    def _statuses(
        self, lines: Sequence[Line], pickings: Sequence[PickingStatus], sku_of: SkuOf
    ) -> list[LineStatus]:
        products = self._products(lines, sku_of)
        reserved: dict[int | None, Decimal] = {}
        for picking in pickings:
            for move in picking.moves:
                amount = move.done if move.state == "done" else move.reserved
                reserved[move.product_id] = reserved.get(move.product_id, Decimal(0)) + amount
        statuses = []
        for line in lines:
            product = products[line.product_id]
            held = reserved.get(product, Decimal(0))
            status = line_status(line.product_id, line.quantity, held)
            reserved[product] = held - status.reserved_quantity
            statuses.append(status)
        return statuses

    def reserve(self, request: ReservationRequest, sku_of: SkuOf) -> Answer:
        """Reserve (or release) the order's open deliveries or the case's parts picking."""
        release = request.action == "release"
        if request.service_case_id is not None:
            return self._parts(request, sku_of)
        order = self.odoo.sales.confirmed_order(request.sale_refs, required=not release)
        if order is None:
            return Answer(None, _released(request.reservation_id))
        pickings = []
        for picking in self.odoo.stock.deliveries_of(order):
            if picking.type_code != "outgoing" or picking.state == "cancel":
                continue
            if picking.state == "done":
                # Shipped goods were held for this sale: they count as reserved, so a
                # later version of the document does not read as unavailable.
                if not release:
                    pickings.append(picking)
                continue
            done = (
                self.odoo.stock.release(picking.picking_id)
                if release
                else self.odoo.stock.reserve(picking.picking_id)
            )
            pickings.append(done)
        if release:
            return Answer(order_key(order), _released(request.reservation_id))
        lines = self._statuses(request.lines, pickings, sku_of)
        status = ReservationStatus(
            reservation_id=request.reservation_id, status=overall(lines), lines=lines
        )
        return Answer(order_key(order), status)

    def _parts(self, request: ReservationRequest, sku_of: SkuOf) -> Answer:
        reference = parts_reference(request.reservation_id)
        if request.action == "release":
            return self._release_parts(request.reservation_id, reference)
        settings = self.settings
        if None in (
            settings.odoo_parts_picking_type,
            settings.odoo_parts_from,
            settings.odoo_parts_to,
        ):
            raise MappingError(
                "set odoo_parts_picking_type, odoo_parts_from and odoo_parts_to to reserve "
                "a service case's parts in Odoo"
            )
        products = self._products(request.lines, sku_of)
        missing = sorted(crm for crm, odoo in products.items() if odoo is None)
        if missing:
            raise MappingError(f"Odoo has no product for {', '.join(missing)} (by SKU)")
        picking = self.odoo.stock.reserve_parts(
            PartsRequest(
                crm_id=reference,
                picking_type_id=int(settings.odoo_parts_picking_type or 0),
                location_id=int(settings.odoo_parts_from or 0),
                location_dest_id=int(settings.odoo_parts_to or 0),
                lines=tuple(
                    (int(products[line.product_id] or 0), line.quantity) for line in request.lines
                ),
            )
        )
        lines = self._statuses(request.lines, [picking], sku_of)
        status = ReservationStatus(
            reservation_id=request.reservation_id, status=overall(lines), lines=lines
        )
        return Answer(f"stock.picking,{picking.picking_id}", status)

    def _release_parts(self, reservation_id: str, reference: str) -> Answer:
        """Cancel the open picking of a case's parts, so its stock is free for good."""
        found = self.odoo.stock.release_parts(reference)
        key = f"stock.picking,{found}" if found is not None else None
        return Answer(key, _released(reservation_id))

    def create_return(self, request: ReturnOrder, context: PluginContext) -> Answer:
        """Return goods from the order's done delivery through Odoo's return wizard."""
        records = context.store()
        order_record = records.get("order", request.order_id)
        refs = [request.order_id]
        proforma = getattr(order_record.data, "proforma_id", None) if order_record else None
        if proforma:
            refs.append(str(proforma))
        order = self.odoo.sales.confirmed_order(refs)
        assert order is not None
        sku_of = _sku_reader(context)
        products = self._products(request.lines, sku_of)
        missing = sorted(crm for crm, odoo in products.items() if odoo is None)
        if missing:
            raise MappingError(f"Odoo has no product for {', '.join(missing)} (by SKU)")
        done = [
            p
            for p in self.odoo.stock.deliveries_of(order)
            if p.type_code == "outgoing" and p.state == "done"
        ]
        if not done:
            raise TransientError(f"Odoo sale order {order} has no done delivery to return from yet")
        picking = self.odoo.stock.create_return(
            OdooReturn(
                crm_id=return_reference(request.return_id),
                picking_id=done[0].picking_id,
                lines=tuple(
                    OdooReturnLine(int(products[line.product_id] or 0), line.quantity)
                    for line in request.lines
                ),
                reason=request.reason,
            )
        )
        status = _return_status(request.return_id, picking)
        return Answer(f"stock.picking,{picking.picking_id}", status)

    def track(self, request: Track) -> Answer:
        """Bind an order to its confirmed sale order and read its delivery state."""
        order = self.odoo.sales.confirmed_order(request.sale_refs)
        assert order is not None
        pickings = self.odoo.stock.deliveries_of(order)
        states = [p.state for p in pickings if p.type_code == "outgoing"]
        return Answer(
            order_key(order),
            DeliveryStatus(order_id=request.order_id, delivery_state=delivery_state(states)),
        )

    def check(self) -> str:
        """Log in and check the access rights the plugin needs (erp.odoo.rights)."""
        uid = self.client.check_login()
        missing = rights_detail(self.client, INVENTORY)
        if missing is not None:
            raise PermanentError(missing)
        return f"logged in to Odoo as user {uid}"

    def poll(self, context: PluginContext, cursor: str | None) -> PollResult:
        """Report the statuses behind the pickings and stock moves changed since ``cursor``.

        Pickings say when goods shipped or came back; moves say what is held, for a
        move reserved later inside a picking that stays ``assigned`` changes only the
        move. Both are read from their own cursor (``pickings``, ``moves``); a cursor
        saved before moves were polled starts the moves at its pickings' time.
        """
        state = json.loads(cursor) if cursor else {}
        watch = Watch.from_json(state.get("watch"))
        pickings_from = PollCursor.from_json(state.get("pickings"))
        moves_saved = state.get("moves")
        moves_from = (
            PollCursor.from_json(moves_saved)
            if moves_saved
            else PollCursor(write_date=pickings_from.write_date)
        )
        changes = self.odoo.stock.poll_pickings(pickings_from)
        moved = self.odoo.stock.poll_moves(moves_from)
        newest: dict[int, str] = {}
        for move in moved.items:
            newest[move.picking_id] = max(newest.get(move.picking_id, ""), move.changed_at)
        known = {picking.picking_id for picking in changes.items}
        pickings = [*changes.items, *self.odoo.stock.read_pickings(sorted(set(newest) - known))]
        records = context.store()
        events: list[InboundEvent] = []
        orders: dict[int, tuple[str, str | None]] = {}
        for picking in pickings:
            stamp = picking.date_done.isoformat() if picking.date_done else picking.state
            origin = picking.origin or ""
            if origin.startswith("rma-") and picking.type_code == "incoming":
                return_id = origin.removeprefix("rma-")
                status = _return_status(return_id, picking)
                if status is not None and records.get("return", return_id) is not None:
                    payload = status.model_dump(mode="json")
                    key = f"odoo:return:{return_id}"
                    events.append(
                        InboundEvent(event_id(key, payload, stamp), RETURN_STATUS, payload)
                    )
                continue
            if origin.startswith("svc-"):
                continue
            orders.setdefault(picking.picking_id, (stamp, newest.get(picking.picking_id)))
        if orders:
            by_order: dict[int, tuple[str, str | None]] = {}
            for picking_id, sale in self.odoo.stock.sale_orders_of(list(orders)).items():
                stamp, changed = orders[picking_id]
                earlier = by_order.get(sale, (stamp, None))[1]
                by_order[sale] = (stamp, max(filter(None, (earlier, changed)), default=None))
            for sale, (stamp, changed) in sorted(by_order.items()):
                events.extend(self._order_events(context, sale, stamp, changed, watch))
        events.extend(expired_reservations(context, watch))
        cursor_out = json.dumps(
            {
                "moves": moved.cursor.to_json(),
                "pickings": changes.cursor.to_json(),
                "watch": watch.to_json(),
            },
            sort_keys=True,
        )
        return PollResult(events, cursor_out, more=changes.has_more or moved.has_more)

    def _order_events(
        self,
        context: PluginContext,
        order: int,
        stamp: str,
        changed: str | None,
        watch: Watch,
    ) -> list[InboundEvent]:
        """The reservation and delivery statuses of one sale order whose stock changed.

        ``changed`` is the newest ``write_date`` of its changed moves: the time the
        reservation's state is reported at, and part of the event id, so the same
        state reached again later (reserved, released, reserved by the scheduler) is
        a new event. A reservation crm-sync released is reported again only when Odoo
        holds something for it again; while nothing is held it stays released.
        """
        records = context.store()
        key = order_key(order)
        pickings = [p for p in self.odoo.stock.deliveries_of(order) if p.type_code == "outgoing"]
        events: list[InboundEvent] = []
        reservation_id = records.find_by_external_id("reservation", key)
        if reservation_id is None:
            ref = self.odoo.sales.reference_of(order)
            if ref is not None and records.get("reservation", derived_reservation_id(ref)):
                reservation_id = derived_reservation_id(ref)
        moment = f"{stamp}@{changed}" if changed else stamp
        if reservation_id is not None:
            record = records.get("reservation", reservation_id)
            data = record.data if record is not None else None
            if isinstance(data, StockReservation):
                wanted = [Line(line.product_id, line.quantity) for line in data.lines]
                lines = self._statuses(wanted, pickings, _sku_reader(context))
                held = overall(lines)
                if data.status != "released" or held != "unavailable":
                    payload = ReservationStatus(
                        reservation_id=reservation_id,
                        status=held,
                        lines=lines,
                        reported_at=_odoo_time(changed),
                    ).model_dump(mode="json")
                    events.append(
                        InboundEvent(
                            event_id(f"odoo:{key}:r", payload, moment),
                            RESERVATION_STATUS,
                            payload,
                        )
                    )
            watch.note_reservation(context, reservation_id)
        order_id = records.find_by_external_id("order", key)
        if order_id is not None:
            payload = DeliveryStatus(
                order_id=order_id, delivery_state=delivery_state([p.state for p in pickings])
            ).model_dump(mode="json")
            events.append(
                InboundEvent(event_id(f"odoo:{key}:d", payload, stamp), DELIVERY_STATUS, payload)
            )
        return events


def _odoo_time(stamp: str | None) -> datetime | None:
    """An Odoo ``write_date`` string (UTC) as an aware time; None stays None."""
    if stamp is None:
        return None
    return datetime.strptime(stamp, ODOO_DATETIME_FORMAT).replace(tzinfo=UTC)


def _sku_reader(context: PluginContext) -> SkuOf:
    def sku_of(product_id: str) -> str | None:
        record = context.store().get("product", product_id)
        sku = getattr(record.data, "sku", None) if record is not None else None
        return str(sku) if sku else None

    return sku_of


def _released(reservation_id: str) -> ReservationStatus:
    return ReservationStatus(reservation_id=reservation_id, status="released", lines=[])


def _return_status(return_id: str, picking: PickingStatus) -> ReturnStatus | None:
    if picking.state != "done":
        return None
    received = picking.date_done.replace(tzinfo=None) if picking.date_done else None
    return ReturnStatus(
        return_id=return_id,
        status="received",
        received_at=received.replace(tzinfo=UTC) if received else None,
    )


__all__ = ["OdooInventory", "order_key"]
