"""Reservations, deliveries and returns in Tryton, against a real trytond."""

from __future__ import annotations

from decimal import Decimal

from core.testing.tryton import (
    TEMPLATE_TAX,
    add_stock,
    receive_return,
    ship,
)
from erp.tryton import Tryton
from erp.tryton.stock import ReturnInput, ReturnLineInput
from tests.erp.tryton.helpers import customer, line, product, quotation


def test_reservation_full_partial_unavailable_and_release(erp: Tryton) -> None:
    party = erp.partners.ensure_party(customer())
    plenty, short, none = product(erp, "A"), product(erp, "B"), product(erp, "C")
    add_stock(erp.client, [(plenty, 10), (short, 2)])
    sale = erp.sales.create_quotation(
        quotation(
            erp,
            "PF-3",
            party.id,
            line(plenty, "3", "100000"),
            line(short, "5", "100000"),
            line(none, "1", "100000"),
        )
    )
    erp.sales.confirm_sale(sale.id)

    before = erp.stock.reservation(sale.id)
    reserved = erp.stock.reserve(sale.id)

    assert before.state == "unavailable"
    by_product = {item.product_id: item for item in reserved.lines}
    assert by_product[plenty].state == "reserved" and by_product[plenty].reserved_quantity == 3
    assert by_product[short].state == "partly reserved"
    assert by_product[short].reserved_quantity == 2
    assert by_product[none].state == "unavailable"
    assert reserved.state == "partly reserved"
    assert erp.stock.reserve(sale.id) == reserved

    released = erp.stock.release(sale.id)
    assert {item.state for item in released.lines} == {"unavailable"}
    (level,) = erp.client.read("product.product", [short], ["quantity"], context={"locations": [3]})
    assert level["quantity"] == 2

    add_stock(erp.client, [(short, 3), (none, 1)])
    assert erp.stock.reserve(sale.id).state == "reserved"


def test_delivery_state_follows_the_shipment(erp: Tryton) -> None:
    party = erp.partners.ensure_party(customer())
    widget = product(erp, "W-1")
    add_stock(erp.client, [(widget, 5)])
    sale = erp.sales.confirm_sale(
        erp.sales.create_quotation(quotation(erp, "PF-4", party.id, line(widget, "2", "1"))).id
    )
    erp.stock.reserve(sale.id)

    (shipment_id,) = sale.shipment_ids
    ship(erp.client, shipment_id, until="pick")
    assert [s.state for s in erp.stock.delivery(sale.id).shipments] == ["picked"]
    erp.client.button("stock.shipment.out", "pack", [shipment_id])
    assert [s.state for s in erp.stock.delivery(sale.id).shipments] == ["packed"]
    erp.client.button("stock.shipment.out", "do", [shipment_id])

    delivery = erp.stock.delivery(sale.id)
    assert delivery.delivered and delivery.shipment_state == "sent"
    assert delivery.shipments[0].effective_date is not None
    assert erp.stock.reservation(sale.id).state == "shipped"


def test_return_is_created_once_and_received(erp: Tryton) -> None:
    party = erp.partners.ensure_party(customer())
    widget = product(erp, "W-1")
    vat = erp.lookups.tax_id(TEMPLATE_TAX)
    add_stock(erp.client, [(widget, 5)])
    sale = erp.sales.confirm_sale(
        erp.sales.create_quotation(
            quotation(erp, "PF-5", party.id, line(widget, "2", "1000000", tax_ids=(vat,)))
        ).id
    )
    erp.stock.reserve(sale.id)
    ship(erp.client, sale.shipment_ids[0])
    request = ReturnInput(
        crm_ref="RMA-1",
        party_id=party.id,
        lines=(
            ReturnLineInput(
                product_id=widget, quantity=Decimal(1), unit_price=Decimal(1000000), tax_ids=(vat,)
            ),
        ),
        reason="Damaged in transit",
    )

    created = erp.stock.create_return(request)
    again = erp.stock.create_return(request)

    assert again.sale.id == created.sale.id
    assert created.sale.total_amount == Decimal("-1100000")
    assert [s.state for s in created.shipments] == ["draft"] and not created.received
    (credit_note,) = created.credit_notes
    assert (
        credit_note.total_amount == Decimal("-1100000")
        and credit_note.payment_state == "not posted"
    )

    receive_return(erp.client, created.shipments[0].id, done=False)
    assert erp.stock.return_status(created.sale.id).received
    erp.client.button("stock.shipment.out.return", "do", [created.shipments[0].id])
    done = erp.stock.return_status(created.sale.id)
    assert [s.state for s in done.shipments] == ["done"]
    (level,) = erp.client.read(
        "product.product", [widget], ["quantity"], context={"locations": [3]}
    )
    assert level["quantity"] == 4
