"""Stock in Odoo: deliveries and their moves, reservations, service-part pickings, returns.

``stock.picking`` ``action_assign`` reserves and ``do_unreserve`` gives back (it returns
None); picking states are ``draft``, ``waiting``, ``confirmed``, ``assigned``, ``done``,
``cancel`` (moves also ``partially_available``). A return goes through the
``stock.return.picking`` wizard. Returns and service-part pickings carry the CRM id in
``origin``; Odoo also writes sale order names there, so those ids get a prefix of their
kind (``rma-``, ``svc-``) that no Odoo sequence uses.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.errors import MappingError, PermanentError
from erp.odoo.client import OdooClient
from erp.odoo.polling import Changes, PollCursor, poll_changes
from erp.odoo.values import many2one_id, odoo_value, parse_datetime, quantities, to_decimal
from erp.odoo.wizards import press

__all__ = [
    "MoveChange",
    "MoveStatus",
    "PartsRequest",
    "PickingStatus",
    "ReturnLine",
    "ReturnRequest",
    "Stock",
]


_PICKING_FIELDS = ("name", "state", "picking_type_code", "origin", "scheduled_date", "date_done")


#: How a stock move's state reads as a reservation (stock.move ``state`` selection).
_RESERVATION = {
    "draft": "draft",
    "waiting": "waiting",
    "confirmed": "unavailable",
    "partially_available": "partially_reserved",
    "assigned": "reserved",
    "done": "done",
    "cancel": "cancelled",
}


@dataclass(frozen=True)
class ReturnLine:
    """A product and quantity to take back."""

    product_id: int
    quantity: Decimal


@dataclass(frozen=True)
class ReturnRequest:
    """A CRM return (RMA) of goods from a done delivery ``picking_id``.

    ``crm_id`` becomes the return picking's ``origin``: prefix it (``rma-42``) so it can
    never equal another picking's origin.
    """

    crm_id: str
    picking_id: int
    lines: tuple[ReturnLine, ...]
    reason: str | None = None


@dataclass(frozen=True)
class PartsRequest:
    """Parts to reserve for a CRM service case, as a picking of ``picking_type_id``.

    The locations are Odoo ``stock.location`` ids (for example the warehouse stock and
    the customer or repair location); ``lines`` are ``(product id, quantity)``.
    ``crm_id`` becomes the picking's ``origin``: prefix it (``svc-42``).
    """

    crm_id: str
    picking_type_id: int
    location_id: int
    location_dest_id: int
    lines: tuple[tuple[int, Decimal], ...]
    partner_id: int | None = None


@dataclass(frozen=True)
class MoveStatus:
    """One stock move (a picking line) with its demand, reserved and done quantities.

    ``reserved`` counts only while the move is open and ``done`` only once it is done,
    whatever the Odoo version keeps in which field.
    """

    move_id: int
    picking_id: int | None
    product_id: int | None
    sale_line_id: int | None
    state: str
    demand: Decimal
    reserved: Decimal
    done: Decimal

    @property
    def reservation(self) -> str:
        """The move's state as a reservation: ``reserved``, ``partially_reserved``, ``unavailable``.

        Also ``waiting`` (for another operation), ``draft``, ``done`` or ``cancelled``.
        """
        return _RESERVATION.get(self.state, self.state)


@dataclass(frozen=True)
class MoveChange:
    """A delivery or receipt move changed since the last poll: its picking, state and time.

    ``changed_at`` is the move's ``write_date`` (Odoo's UTC string): a move reserved
    later inside a picking that stays ``assigned`` changes it, the picking's does not.
    """

    move_id: int
    picking_id: int
    state: str
    changed_at: str


@dataclass(frozen=True)
class PickingStatus:
    """A delivery, receipt or return with its moves.

    ``type_code`` is ``outgoing`` for deliveries and ``incoming`` for receipts and
    customer returns; a done outgoing picking is shipped, a done return is received.
    """

    picking_id: int
    name: str
    state: str
    type_code: str | None
    origin: str | None
    scheduled_date: dt.datetime | None
    date_done: dt.datetime | None
    moves: tuple[MoveStatus, ...] = ()

    @property
    def done(self) -> bool:
        """True once the goods have physically moved."""
        return self.state == "done"


class Stock:
    """Reserve, release, return and read the pickings of sale orders and service cases."""

    def __init__(self, client: OdooClient) -> None:
        self.client = client
        self.profile = client.profile

    def deliveries_of(self, order_id: int) -> list[PickingStatus]:
        """Read every picking of a sale order (deliveries and returns) with its moves."""
        rows = self.client.search_read(
            "stock.picking", [("sale_id", "=", order_id)], list(_PICKING_FIELDS), order="id asc"
        )
        return self._with_moves(rows)

    def read_picking(self, picking_id: int) -> PickingStatus:
        """Read one picking with its moves."""
        rows = self.client.read("stock.picking", [picking_id], list(_PICKING_FIELDS))
        return self._with_moves(rows)[0]

    def reserve(self, picking_id: int) -> PickingStatus:
        """Reserve stock for an open picking (``action_assign``); done or cancelled ones stay."""
        (picking,) = self.client.read("stock.picking", [picking_id], ["state"])
        if picking["state"] not in ("done", "cancel"):
            press(self.client, "stock.picking", "action_assign", [picking_id])
        return self.read_picking(picking_id)

    def release(self, picking_id: int) -> PickingStatus:
        """Give back the stock reserved for a picking (``do_unreserve``); a no-op when none is."""
        (picking,) = self.client.read("stock.picking", [picking_id], ["state"])
        if picking["state"] in ("assigned", "confirmed", "waiting"):
            press(self.client, "stock.picking", "do_unreserve", [picking_id])
        return self.read_picking(picking_id)

    def reserve_parts(self, request: PartsRequest) -> PickingStatus:
        """Create (once) the picking of a service case's parts, confirm it and reserve them.

        A cancelled picking of the same case (released earlier) is not reused: asking
        again after a release makes a new one.
        """
        found = self.client.search(
            "stock.picking",
            [
                ("origin", "=", request.crm_id),
                ("picking_type_id", "=", request.picking_type_id),
                ("state", "!=", "cancel"),
            ],
            limit=1,
        )
        if found:
            return self.reserve(found[0])
        product_ids = [product_id for product_id, _ in request.lines]
        units = {
            int(row["id"]): many2one_id(row["uom_id"])
            for row in self.client.read("product.product", product_ids, ["uom_id"])
        }
        moves = [
            (
                0,
                0,
                {
                    "name": request.crm_id,
                    "product_id": product_id,
                    "product_uom_qty": quantity,
                    "product_uom": units[product_id],
                    "location_id": request.location_id,
                    "location_dest_id": request.location_dest_id,
                },
            )
            for product_id, quantity in request.lines
        ]
        values: dict[str, Any] = {
            "picking_type_id": request.picking_type_id,
            "location_id": request.location_id,
            "location_dest_id": request.location_dest_id,
            "origin": request.crm_id,
            "move_ids": moves,
        }
        if request.partner_id is not None:
            values["partner_id"] = request.partner_id
        (picking_id,) = self.client.create("stock.picking", [values])
        press(self.client, "stock.picking", "action_confirm", [picking_id])
        return self.reserve(picking_id)

    def create_return(self, request: ReturnRequest) -> PickingStatus:
        """Create (once) the return of a done delivery through the ``stock.return.picking`` wizard.

        The wizard is filled as a user would: created on the delivery, its lines set to
        the requested quantities (others to 0), then confirmed. The new return picking
        gets the CRM id as ``origin`` and the reason as its note. If a crash left an
        unmarked return of the same delivery with exactly these lines, it is claimed
        instead of creating another.
        """
        found = self.client.search("stock.picking", [("origin", "=", request.crm_id)], limit=1)
        if found:
            return self.read_picking(found[0])
        (source,) = self.client.read("stock.picking", [request.picking_id], ["name", "state"])
        if source["state"] != "done":
            raise PermanentError(
                f"Odoo picking {source['name']} is {source['state']!r}; only done deliveries "
                "can be returned"
            )
        context = {
            "lang": "en_US",
            "active_model": "stock.picking",
            "active_id": request.picking_id,
            "active_ids": [request.picking_id],
        }
        return_id = self._unclaimed_return(str(source["name"]), request)
        if return_id is None:
            return_id = self._run_return_wizard(request, context)
        marks: dict[str, Any] = {"origin": request.crm_id}
        if request.reason:
            marks["note"] = f"<p>{html.escape(request.reason)}</p>"
        self.client.write("stock.picking", [return_id], marks)
        return self.read_picking(return_id)

    def _unclaimed_return(self, source_name: str, request: ReturnRequest) -> int | None:
        candidates = self.client.search(
            "stock.picking", [("origin", "=", f"Return of {source_name}")], order="id asc"
        )
        if not candidates:
            return None
        wanted = quantities((line.product_id, line.quantity) for line in request.lines)
        moves = self.client.search_read(
            "stock.move",
            [("picking_id", "in", candidates)],
            ["picking_id", "product_id", "product_uom_qty"],
            order="id asc",
        )
        for candidate in candidates:
            lines = quantities(
                (many2one_id(move["product_id"]), to_decimal(move["product_uom_qty"]))
                for move in moves
                if many2one_id(move["picking_id"]) == candidate
            )
            if lines == wanted:
                return candidate
        return None

    def _run_return_wizard(self, request: ReturnRequest, context: Mapping[str, Any]) -> int:
        wizard = "stock.return.picking"
        (wizard_id,) = self.client.create(
            wizard, [{"picking_id": request.picking_id}], context=context
        )
        lines = self.client.search_read(
            "stock.return.picking.line",
            [("wizard_id", "=", wizard_id)],
            ["product_id", "move_id", "quantity"],
            order="id asc",
        )
        wanted = quantities((line.product_id, line.quantity) for line in request.lines)
        commands: list[Any] = []
        for row in lines:
            product_id = many2one_id(row["product_id"])
            quantity = wanted.pop(product_id, Decimal(0)) if product_id is not None else Decimal(0)
            commands.append((1, int(row["id"]), {"quantity": quantity}))
        if wanted:
            raise MappingError(
                f"products {sorted(map(str, wanted))} were not delivered in Odoo picking "
                f"{request.picking_id}"
            )
        self.client.write(wizard, [wizard_id], {"product_return_moves": commands}, context=context)
        action = self.client.call(wizard, self.profile.return_method, [wizard_id], context=context)
        if not isinstance(action, Mapping) or not isinstance(action.get("res_id"), int):
            raise PermanentError(
                f"Odoo's return wizard answered no return picking: {action!r:.200}"
            )
        return int(action["res_id"])

    def _with_moves(self, rows: Sequence[Mapping[str, Any]]) -> list[PickingStatus]:
        if not rows:
            return []
        ids = [int(row["id"]) for row in rows]
        reserved_field = self.profile.move_reserved_field
        done_field = self.profile.move_done_field
        fields = sorted(
            {
                "picking_id",
                "product_id",
                "sale_line_id",
                "state",
                "product_uom_qty",
                reserved_field,
                done_field,
            }
        )
        moves = self.client.search_read(
            "stock.move", [("picking_id", "in", ids)], fields, order="id asc"
        )
        by_picking: dict[int, list[MoveStatus]] = {picking_id: [] for picking_id in ids}
        for move in moves:
            state = str(move["state"])
            status = MoveStatus(
                move_id=int(move["id"]),
                picking_id=many2one_id(move["picking_id"]),
                product_id=many2one_id(move["product_id"]),
                sale_line_id=many2one_id(move.get("sale_line_id", False)),
                state=state,
                demand=to_decimal(move["product_uom_qty"]),
                reserved=Decimal(0)
                if state in ("done", "cancel")
                else to_decimal(move[reserved_field]),
                done=to_decimal(move[done_field]) if state == "done" else Decimal(0),
            )
            if status.picking_id in by_picking:
                by_picking[status.picking_id].append(status)
        return [
            PickingStatus(
                picking_id=int(row["id"]),
                name=str(row["name"]),
                state=str(row["state"]),
                type_code=odoo_value(row.get("picking_type_code", False)),
                origin=odoo_value(row.get("origin", False)),
                scheduled_date=parse_datetime(row.get("scheduled_date")),
                date_done=parse_datetime(row.get("date_done")),
                moves=tuple(by_picking[int(row["id"])]),
            )
            for row in rows
        ]

    def poll_pickings(
        self, cursor: PollCursor, *, limit: int = 200, overlap_seconds: int = 60
    ) -> Changes[PickingStatus]:
        """Return deliveries and receipts (returns too) changed since ``cursor``, with moves."""
        batch = poll_changes(
            self.client,
            "stock.picking",
            list(_PICKING_FIELDS),
            cursor,
            domain=[("picking_type_code", "in", ["outgoing", "incoming"])],
            limit=limit,
            overlap_seconds=overlap_seconds,
        )
        return Changes(self._with_moves(batch.records), batch.cursor, batch.has_more)

    def poll_moves(
        self, cursor: PollCursor, *, limit: int = 200, overlap_seconds: int = 60
    ) -> Changes[MoveChange]:
        """Return the moves of deliveries and receipts changed since ``cursor``.

        Reservation state lives on the moves: the scheduler reserving a make-to-order
        component, or a picking crm-sync released, writes its moves (state and
        reserved ``quantity``) while the picking may keep its state and ``write_date``.
        The read fields make the fingerprint, so a move changed within the same second
        is handed out again.
        """
        batch = poll_changes(
            self.client,
            "stock.move",
            ["picking_id", "state", "product_uom_qty", self.profile.move_reserved_field],
            cursor,
            domain=[("picking_id.picking_type_code", "in", ["outgoing", "incoming"])],
            limit=limit,
            overlap_seconds=overlap_seconds,
        )
        moves = []
        for row in batch.records:
            picking_id = many2one_id(row["picking_id"])
            if picking_id is None:
                continue
            moves.append(
                MoveChange(
                    move_id=int(row["id"]),
                    picking_id=picking_id,
                    state=str(row["state"]),
                    changed_at=str(row["write_date"]),
                )
            )
        return Changes(moves, batch.cursor, batch.has_more)

    def read_pickings(self, picking_ids: Sequence[int]) -> list[PickingStatus]:
        """Read pickings with their moves, in id order."""
        if not picking_ids:
            return []
        rows = self.client.read("stock.picking", sorted(picking_ids), list(_PICKING_FIELDS))
        return self._with_moves(rows)

    def release_parts(self, reference: str) -> int | None:
        """Cancel the open picking of a service case's parts (``origin`` ``reference``), if any.

        Unreserving alone (``do_unreserve``) would leave a confirmed picking that Odoo's
        scheduler reserves again on its next run; the picking is crm-sync's own, so it
        is cancelled (``action_cancel`` gives back whatever its moves held). A picking
        already done (the parts were taken) is left as it is. Returns the cancelled
        picking's id.
        """
        found = self.client.search(
            "stock.picking",
            [("origin", "=", reference), ("state", "not in", ["done", "cancel"])],
            limit=1,
        )
        if found:
            press(self.client, "stock.picking", "action_cancel", found)
        return found[0] if found else None

    def sale_orders_of(self, picking_ids: Sequence[int]) -> dict[int, int]:
        """The sale order of each picking that has one (``sale_id``), by picking id."""
        if not picking_ids:
            return {}
        rows = self.client.read("stock.picking", sorted(picking_ids), ["sale_id"])
        found: dict[int, int] = {}
        for row in rows:
            sale = many2one_id(row["sale_id"])
            if sale is not None:
                found[int(row["id"])] = sale
        return found
