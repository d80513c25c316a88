"""Deliveries, reservations, service parts and returns in Odoo, replayed from recordings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import MappingError, PermanentError
from erp.odoo.polling import PollCursor
from erp.odoo.stock import PartsRequest, ReturnLine, ReturnRequest
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


@pytest.mark.parametrize("flow", ["deliveries_v16", "deliveries_v17"])
def test_delivery_and_reservation_per_line(flow: str) -> None:
    with recorded("stock.json", flow) as odoo:
        pickings = odoo.stock.deliveries_of(77)
    open_picking, done_picking = pickings
    assert (open_picking.name, open_picking.state, open_picking.done) == (
        "WH/OUT/00031",
        "assigned",
        False,
    )
    assert open_picking.scheduled_date == dt.datetime(2024, 5, 15, 6, 30, tzinfo=UTC)
    assert [(m.sale_line_id, m.reservation, m.demand, m.reserved) for m in open_picking.moves] == [
        (501, "reserved", Decimal(2), Decimal(2)),
        (502, "partially_reserved", Decimal(3), Decimal(1)),
        (503, "unavailable", Decimal(5), Decimal(0)),
    ]
    assert done_picking.done and done_picking.type_code == "outgoing"
    assert done_picking.date_done == dt.datetime(2024, 5, 16, 9, 12, 44, tzinfo=UTC)
    (move,) = done_picking.moves
    assert (move.reservation, move.reserved, move.done) == ("done", Decimal(0), Decimal(1))


def test_reserve_then_release_a_picking() -> None:
    with recorded("stock.json", "reserve_then_release") as odoo:
        reserved = odoo.stock.reserve(31)
        released = odoo.stock.release(31)
    assert reserved.state == "assigned"
    assert [(m.reservation, m.reserved) for m in reserved.moves] == [("reserved", Decimal(2))]
    assert released.state == "confirmed"
    assert [(m.reservation, m.reserved) for m in released.moves] == [("unavailable", Decimal(0))]


def test_done_picking_is_neither_reserved_nor_released() -> None:
    with recorded("stock.json", "done_picking_untouched") as odoo:
        assert odoo.stock.reserve(32).done
        assert odoo.stock.release(32).done


def test_service_parts_are_picked_once_and_reserved() -> None:
    request = PartsRequest(
        crm_id="svc-3001",
        picking_type_id=2,
        location_id=8,
        location_dest_id=5,
        partner_id=42,
        lines=((101, Decimal(1)), (104, Decimal(4))),
    )
    with recorded("stock.json", "service_parts") as odoo:
        first = odoo.stock.reserve_parts(request)
    assert first.picking_id == 40 and first.origin == "svc-3001"
    assert [m.reservation for m in first.moves] == ["reserved", "partially_reserved"]
    with recorded("stock.json", "service_parts_again") as odoo:
        again = odoo.stock.reserve_parts(request)
    assert again.picking_id == 40
    assert [m.reservation for m in again.moves] == ["reserved", "reserved"]


REASON = "صفحه شکسته رسید <گزارش مشتری>"


def test_return_through_the_wizard_in_odoo_16() -> None:
    request = ReturnRequest(
        crm_id="rma-7001", picking_id=32, lines=(ReturnLine(105, Decimal(1)),), reason=REASON
    )
    with recorded("returns.json", "return_v16") as odoo:
        picking = odoo.stock.create_return(request)
    assert (picking.picking_id, picking.type_code, picking.origin) == (45, "incoming", "rma-7001")
    assert not picking.done


def test_return_through_the_wizard_in_odoo_18() -> None:
    request = ReturnRequest(crm_id="rma-7002", picking_id=32, lines=(ReturnLine(105, Decimal(2)),))
    with recorded("returns.json", "return_v18") as odoo:
        picking = odoo.stock.create_return(request)
    assert picking.picking_id == 46
    assert [(m.product_id, m.demand) for m in picking.moves] == [(105, Decimal(2))]


def test_return_asked_again_is_found_and_received() -> None:
    request = ReturnRequest(
        crm_id="rma-7001", picking_id=32, lines=(ReturnLine(105, Decimal(1)),), reason=REASON
    )
    with recorded("returns.json", "return_again") as odoo:
        picking = odoo.stock.create_return(request)
    assert picking.picking_id == 45 and picking.done
    assert picking.date_done == dt.datetime(2024, 5, 21, 14, 3, 10, tzinfo=UTC)


def test_unmarked_return_left_by_a_crash_is_claimed() -> None:
    request = ReturnRequest(
        crm_id="rma-7001", picking_id=32, lines=(ReturnLine(105, Decimal(1)),), reason=REASON
    )
    with recorded("returns.json", "claim_unmarked_return") as odoo:
        picking = odoo.stock.create_return(request)
    assert picking.picking_id == 47


def test_only_done_deliveries_can_be_returned() -> None:
    request = ReturnRequest(crm_id="rma-7003", picking_id=31, lines=(ReturnLine(101, Decimal(1)),))
    with (
        recorded("returns.json", "not_done") as odoo,
        pytest.raises(PermanentError, match="only done deliveries"),
    ):
        odoo.stock.create_return(request)


def test_returning_a_product_that_was_not_delivered_is_a_mapping_error() -> None:
    request = ReturnRequest(crm_id="rma-7004", picking_id=32, lines=(ReturnLine(999, Decimal(1)),))
    with (
        recorded("returns.json", "product_not_delivered") as odoo,
        pytest.raises(MappingError, match="999"),
    ):
        odoo.stock.create_return(request)


def test_poll_pickings_with_their_moves() -> None:
    cursor = PollCursor(write_date="2024-05-16 09:12:44")
    with recorded("polling.json", "poll_pickings") as odoo:
        changes = odoo.stock.poll_pickings(cursor)
    (picking,) = changes.items
    assert picking.done and [m.done for m in picking.moves] == [1]


@pytest.mark.parametrize("flow", ["poll_moves_v16", "poll_moves_v17"])
def test_poll_moves_hands_out_each_move_change_once(flow: str) -> None:
    """A move reserved within the same second is handed out again; one unchanged is not."""
    with recorded("polling.json", flow) as odoo:
        first = odoo.stock.poll_moves(PollCursor(write_date="2024-05-16 09:12:44"), limit=2)
        second = odoo.stock.poll_moves(first.cursor, limit=2)
    assert [(m.move_id, m.picking_id, m.state) for m in first.items] == [
        (502, 31, "partially_available"),
        (503, 31, "confirmed"),
    ]
    assert first.has_more and not second.has_more
    assert [(m.move_id, m.state, m.changed_at) for m in second.items] == [
        (502, "assigned", "2024-05-16 09:12:44"),
        (501, "assigned", "2024-05-16 09:40:02"),
    ]
    assert second.cursor.write_date == "2024-05-16 09:40:02"
