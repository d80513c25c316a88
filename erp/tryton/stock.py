"""Stock in Tryton: a sale's shipments and their moves, reservations, service parts, returns.

A confirmed sale has customer shipments (``stock.shipment.out``): ``assign_try`` reserves
what is in stock (short stock splits a move into a reserved and a waiting part) and
``wait`` gives it back. A service case's parts are held by an internal shipment whose
``reference`` is the CRM's (``svc-<id>``). A return is a sale with negative lines, found
by its ``reference`` (``rma-<id>``): Tryton turns it into a customer return shipment and
a credit note. :meth:`Stock.changed_sales` polls the stock moves written since a cursor
(every reservation, shipment and return receipt writes them) and finds their sales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from erp.tryton.client import TrytonClient
from erp.tryton.invoices import Invoices, InvoiceStatus
from erp.tryton.sales import SaleLineInput, SaleLineResult, SaleResult, Sales
from erp.tryton.values import origin_id, to_decimal

__all__ = [
    "DeliveryStatus",
    "LineReservation",
    "MoveCursor",
    "ReservationState",
    "ReservationStatus",
    "ReturnInput",
    "ReturnLineInput",
    "ReturnStatus",
    "ShipmentState",
    "Stock",
]

ReservationState = Literal[
    "reserved", "partly reserved", "unavailable", "awaiting supply", "shipped", "cancelled"
]

#: How far back each poll of stock moves reads again, for transactions that committed late.
OVERLAP = timedelta(seconds=60)
_PARTS = "stock.shipment.internal"


@dataclass(frozen=True)
class ReturnLineInput:
    """One returned product: a positive ``quantity`` at the price it was sold at."""

    product_id: int
    quantity: Decimal
    unit_price: Decimal
    tax_ids: tuple[int, ...] = ()
    unit_id: int | None = None


@dataclass(frozen=True)
class ReturnInput:
    """A CRM return request (RMA), found again by ``crm_ref``; ``reason`` is kept on the sale."""

    crm_ref: str
    party_id: int
    lines: tuple[ReturnLineInput, ...]
    reason: str = ""
    invoice_address_id: int | None = None
    shipment_address_id: int | None = None
    payment_term_id: int | None = None


@dataclass(frozen=True)
class LineReservation:
    """How much of one sale line is reserved in the warehouse.

    ``state`` is ``reserved`` (all), ``partly reserved``, ``unavailable`` (none),
    ``awaiting supply`` (the goods come from a production or purchase first),
    ``shipped`` or ``cancelled``.
    """

    sale_line_id: int
    product_id: int | None
    quantity: Decimal
    reserved_quantity: Decimal
    state: ReservationState


@dataclass(frozen=True)
class ReservationStatus:
    """The reservation of a sale's goods, per line, with the overall state."""

    sale_id: int
    lines: tuple[LineReservation, ...]

    @property
    def state(self) -> ReservationState:
        """Sum up the lines: ``reserved`` when all are, ``unavailable`` when none is, and so on."""
        states = {line.state for line in self.lines if line.state != "cancelled"}
        if not states:
            return "cancelled"
        if states <= {"reserved", "shipped"}:
            return "shipped" if states == {"shipped"} else "reserved"
        if states <= {"unavailable", "awaiting supply"}:
            return "awaiting supply" if states == {"awaiting supply"} else "unavailable"
        return "partly reserved"


@dataclass(frozen=True)
class ShipmentState:
    """One customer shipment or return shipment and where it stands."""

    id: int
    number: str | None
    state: str
    planned_date: date | None
    effective_date: date | None


@dataclass(frozen=True)
class DeliveryStatus:
    """The sale's deliveries: Tryton's ``shipment_state`` and each shipment's state.

    ``delivered`` is true when every shipment that was not cancelled is ``done``.
    """

    sale_id: int
    shipment_state: str
    shipments: tuple[ShipmentState, ...]

    @property
    def delivered(self) -> bool:
        """True when there is a shipment and all of the live ones are done."""
        live = [s for s in self.shipments if s.state != "cancelled"]
        return bool(live) and all(s.state == "done" for s in live)


@dataclass(frozen=True)
class ReturnStatus:
    """A return: its sale, return shipments and credit notes.

    ``received`` when every return shipment has at least been received, ``refunded``
    when every credit note is paid.
    """

    sale: SaleResult
    shipments: tuple[ShipmentState, ...]
    credit_notes: tuple[InvoiceStatus, ...]

    @property
    def received(self) -> bool:
        """True when all the return shipments are received or done."""
        live = [s for s in self.shipments if s.state != "cancelled"]
        return bool(live) and all(s.state in ("received", "done") for s in live)

    @property
    def refunded(self) -> bool:
        """True when every credit note of the return is paid."""
        return bool(self.credit_notes) and all(
            note.payment_state == "paid" for note in self.credit_notes
        )


@dataclass(frozen=True)
class MoveCursor:
    """Where the last poll of stock moves stopped.

    ``since`` is the newest ``write_date`` handed out (ISO, None before the first poll);
    ``seen`` maps each move id read within the overlap window to its ``write_date``, so
    moves sharing a timestamp and transactions that commit late are neither missed nor
    reported twice.
    """

    since: str | None = None
    seen: Mapping[str, str] = field(default_factory=dict)


class Stock:
    """Reserve, release, return and read the stock of sales and service cases."""

    def __init__(self, client: TrytonClient, sales: Sales, invoices: Invoices) -> None:
        self.client = client
        self.sales = sales
        self.invoices = invoices

    # -- reservations and deliveries --------------------------------------------------

    def reserve(self, sale_id: int) -> ReservationStatus:
        """Ask Tryton to reserve the stock of the sale's waiting shipments, then read it back.

        Short stock splits a move into a reserved part and a waiting part; running this
        again later reserves whatever has arrived since.
        """
        shipments = self._shipment_rows(self.sales.sale(sale_id).shipment_ids)
        waiting = [row["id"] for row in shipments if row["state"] == "waiting"]
        if waiting:
            self.client.button("stock.shipment.out", "assign_try", waiting)
        return self.reservation(sale_id)

    def release(self, sale_id: int, *, cancel: bool = False) -> ReservationStatus:
        """Give back the stock reserved for the sale's shipments that have not been picked.

        The shipments go back to waiting (Tryton's ``wait``); with ``cancel`` they are
        cancelled instead, for a sale that will not be delivered.
        """
        shipments = self._shipment_rows(self.sales.sale(sale_id).shipment_ids)
        if cancel:
            live = [row["id"] for row in shipments if row["state"] not in ("done", "cancelled")]
            if live:
                self.client.button("stock.shipment.out", "cancel", live)
        else:
            held = [row["id"] for row in shipments if row["state"] in ("waiting", "assigned")]
            if held:
                self.client.button("stock.shipment.out", "wait", held)
        return self.reservation(sale_id)

    def reservation(self, sale_id: int) -> ReservationStatus:
        """Read how much of each sale line is reserved, from the shipments' stock moves.

        A line's outgoing move (origin the sale line) is fed by inventory moves from
        storage (origin the outgoing move); their assigned quantity is what is reserved.
        In a warehouse without a separate output location the outgoing moves themselves
        are reserved.
        """
        sale = self.sales.sale(sale_id)
        if not sale.lines:
            return ReservationStatus(sale_id, ())
        shipments = self.client.read(
            "stock.shipment.out", list(sale.shipment_ids), ["inventory_moves", "outgoing_moves"]
        )
        move_ids = [m for row in shipments for m in row["inventory_moves"] + row["outgoing_moves"]]
        moves = self.client.read("stock.move", move_ids, ["origin", "quantity", "state"])
        outgoing: dict[int, list[dict[str, Any]]] = {}
        feeding: dict[int, list[dict[str, Any]]] = {}
        for move in moves:
            line_id = origin_id(move["origin"], "sale.line")
            if line_id is not None:
                outgoing.setdefault(line_id, []).append(move)
                continue
            source = origin_id(move["origin"], "stock.move")
            if source is not None:
                feeding.setdefault(source, []).append(move)
        return ReservationStatus(
            sale_id,
            tuple(
                _line_reservation(line, outgoing.get(line.id, []), feeding) for line in sale.lines
            ),
        )

    def _shipment_rows(self, shipment_ids: Sequence[int]) -> list[dict[str, Any]]:
        return self.client.read(
            "stock.shipment.out",
            list(shipment_ids),
            ["number", "state", "planned_date", "effective_date"],
        )

    def delivery(self, sale_id: int) -> DeliveryStatus:
        """Read the sale's shipment state and each shipment's (picked, packed, done...)."""
        sale = self.sales.sale(sale_id)
        rows = self._shipment_rows(sale.shipment_ids)
        return DeliveryStatus(sale_id, sale.shipment_state, tuple(_shipment_state(r) for r in rows))

    # -- returns ----------------------------------------------------------------------

    def create_return(self, request: ReturnInput) -> ReturnStatus:
        """Create and confirm the return as a sale with negative lines, once per ``crm_ref``.

        Tryton turns the confirmed return into a customer return shipment (to receive)
        and a credit note. The reason is kept as the sale's description and comment.
        """
        sale_id = self.sales.find_sale(request.crm_ref)
        if sale_id is None:
            lines = self.sales.line_values(
                [
                    SaleLineInput(
                        product_id=line.product_id,
                        quantity=-abs(line.quantity),
                        unit_price=line.unit_price,
                        tax_ids=line.tax_ids,
                        unit_id=line.unit_id,
                        description=request.reason or None,
                    )
                    for line in request.lines
                ]
            )
            values = self.sales.sale_header(
                request.crm_ref,
                request.party_id,
                invoice_address_id=request.invoice_address_id,
                shipment_address_id=request.shipment_address_id,
                payment_term_id=request.payment_term_id,
                description=request.reason[:100] if request.reason else None,
            )
            if request.reason:
                values["comment"] = request.reason
            values["lines"] = [("create", lines)]
            (sale_id,) = self.client.create("sale.sale", [values])
        self.sales.confirm_sale(sale_id)
        return self.return_status(sale_id)

    def return_status(self, sale_id: int) -> ReturnStatus:
        """Read a return's sale, its return shipments (received, done) and credit notes."""
        sale = self.sales.sale(sale_id)
        rows = self.client.read(
            "stock.shipment.out.return",
            list(sale.return_ids),
            ["number", "state", "planned_date", "effective_date"],
        )
        return ReturnStatus(
            sale=sale,
            shipments=tuple(_shipment_state(row) for row in rows),
            credit_notes=self.invoices.statuses(sale.invoice_ids),
        )

    # -- service parts ----------------------------------------------------------------

    def location(self, code: str) -> int | None:
        """The id of the stock location whose code is ``code``, None when there is none."""
        found = self.client.search("stock.location", [("code", "=", code)], limit=1)
        return found[0] if found else None

    def find_parts(self, reference: str) -> int | None:
        """The internal shipment (not cancelled) holding a service case's parts, if any."""
        found = self.client.search(
            _PARTS, [("reference", "=", reference), ("state", "!=", "cancelled")], limit=1
        )
        return found[0] if found else None

    def create_parts(
        self,
        reference: str,
        *,
        from_location: int,
        to_location: int,
        lines: Sequence[tuple[int, Decimal]],
    ) -> int:
        """Create the internal shipment of a case's parts (``(product id, quantity)`` lines).

        It is set waiting at once, so :meth:`assign_parts` can reserve it.
        """
        units = {
            row["id"]: row["default_uom"]
            for row in self.client.read(
                "product.product", list(dict.fromkeys(p for p, _ in lines)), ["default_uom"]
            )
        }
        company = self.client.context.get("company")
        moves = [
            {
                "product": product_id,
                "quantity": float(quantity),
                "unit": units[product_id],
                "from_location": from_location,
                "to_location": to_location,
                "company": company,
            }
            for product_id, quantity in lines
        ]
        (shipment,) = self.client.create(
            _PARTS,
            [
                {
                    "reference": reference,
                    "from_location": from_location,
                    "to_location": to_location,
                    "company": company,
                    "moves": [("create", moves)],
                }
            ],
        )
        self.client.button(_PARTS, "wait", [shipment])
        return shipment

    def assign_parts(self, shipment: int) -> list[dict[str, Any]]:
        """Reserve a waiting parts shipment; return its moves (product, quantity, state)."""
        (row,) = self.client.read(_PARTS, [shipment], ["state"])
        if row["state"] == "waiting":
            self.client.button(_PARTS, "assign_try", [shipment])
        return self.client.search_read(
            "stock.move",
            [("shipment", "=", f"{_PARTS},{shipment}")],
            ["product", "quantity", "state"],
        )

    def release_parts(self, reference: str) -> int | None:
        """Cancel the open parts shipment of a case, giving its stock back; return its id."""
        shipment = self.find_parts(reference)
        if shipment is not None:
            self.client.button(_PARTS, "cancel", [shipment])
        return shipment

    # -- polling ----------------------------------------------------------------------

    def changed_sales(
        self, cursor: MoveCursor, *, limit: int
    ) -> tuple[dict[int, str], MoveCursor, bool]:
        """The sales whose stock moves were written since ``cursor``, each with its newest stamp.

        Returns ``{sale id: write_date (ISO)}``, the cursor to save, and whether the
        query was full (more may wait).
        """
        since = cursor.since
        seen: dict[str, str] = dict(cursor.seen)
        domain: list[Any] = [("write_date", "!=", None)]
        if since:
            start = datetime.fromisoformat(since) - OVERLAP
            domain.append(("write_date", ">=", start))
        query_limit = limit + len(seen)
        moves = self.client.search_read(
            "stock.move",
            domain,
            ["origin", "write_date"],
            limit=query_limit,
            order=[("write_date", "ASC"), ("id", "ASC")],
        )
        newest = since
        origins: dict[int, str] = {}
        for move in moves:
            stamp = move["write_date"].isoformat()
            if seen.get(str(move["id"])) == stamp:
                continue
            seen[str(move["id"])] = stamp
            newest = stamp if newest is None or stamp > newest else newest
            if isinstance(move["origin"], str):
                origins[move["id"]] = move["origin"]
        changed: dict[int, str] = {}
        for sale_id, stamp in self._sales_of(origins, moves).items():
            changed[sale_id] = max(stamp, changed.get(sale_id, stamp))
        if newest is not None:
            keep_from = (datetime.fromisoformat(newest) - OVERLAP).isoformat()
            seen = {key: value for key, value in seen.items() if value >= keep_from}
        return changed, MoveCursor(newest, seen), len(moves) >= query_limit

    def _sales_of(self, origins: dict[int, str], moves: Sequence[dict[str, Any]]) -> dict[int, str]:
        stamps = {move["id"]: move["write_date"].isoformat() for move in moves}
        line_of: dict[int, int] = {}
        feeding: dict[int, int] = {}
        for move_id, origin in origins.items():
            kind, _, ident = origin.partition(",")
            if kind == "sale.line":
                line_of[move_id] = int(ident)
            elif kind == "stock.move":
                feeding[move_id] = int(ident)
        if feeding:
            rows = self.client.read("stock.move", list(set(feeding.values())), ["origin"])
            parent = {row["id"]: row["origin"] for row in rows}
            for move_id, source in feeding.items():
                parent_origin = parent.get(source)
                if isinstance(parent_origin, str) and parent_origin.startswith("sale.line,"):
                    line_of[move_id] = int(parent_origin.split(",")[1])
        if not line_of:
            return {}
        rows = self.client.read("sale.line", list(set(line_of.values())), ["sale"])
        sale_of_line = {row["id"]: row["sale"] for row in rows}
        sales: dict[int, str] = {}
        for move_id, line_id in line_of.items():
            sale_id = sale_of_line.get(line_id)
            if sale_id is not None:
                stamp = stamps[move_id]
                sales[sale_id] = max(stamp, sales.get(sale_id, stamp))
        return sales


def _shipment_state(row: Mapping[str, Any]) -> ShipmentState:
    return ShipmentState(
        id=row["id"],
        number=row["number"],
        state=row["state"],
        planned_date=row["planned_date"],
        effective_date=row["effective_date"],
    )


def _line_reservation(
    line: SaleLineResult,
    outgoing: Sequence[Mapping[str, Any]],
    feeding: Mapping[int, Sequence[Mapping[str, Any]]],
) -> LineReservation:
    quantity = abs(line.quantity)
    live = [move for move in outgoing if move["state"] != "cancelled"]

    def result(reserved: Decimal, state: ReservationState) -> LineReservation:
        return LineReservation(line.id, line.product_id, quantity, reserved, state)

    if not live:
        return result(Decimal(0), "cancelled" if outgoing else "unavailable")
    if all(move["state"] == "done" for move in live):
        return result(quantity, "shipped")
    sources: list[Mapping[str, Any]] = []
    for move in live:
        inventory = [m for m in feeding.get(move["id"], []) if m["state"] != "cancelled"]
        sources.extend(inventory or [move])
    if any(move["state"] == "staging" for move in sources):
        return result(Decimal(0), "awaiting supply")
    reserved = sum(
        (to_decimal(m["quantity"]) for m in sources if m["state"] in ("assigned", "done")),
        Decimal(0),
    )
    if reserved >= quantity:
        return result(quantity, "reserved")
    return result(reserved, "partly reserved" if reserved > 0 else "unavailable")
