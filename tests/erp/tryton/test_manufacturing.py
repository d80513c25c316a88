"""Productions made for sales in Tryton, against a real trytond."""

from __future__ import annotations

from core.testing.tryton import (
    run_production,
)
from erp.tryton import Tryton
from tests.erp.tryton.helpers import customer, line, product, quotation


def test_production_made_for_a_sale_reports_state_and_eta(erp: Tryton) -> None:
    party = erp.partners.ensure_party(customer())
    steel = product(erp, "RAW-1", "50000")
    cabinet = product(erp, "CAB-1", "5000000", producible=True)
    unit = erp.lookups.unit_id("u")
    (bom,) = erp.client.create(
        "production.bom",
        [
            {
                "name": "Cabinet",
                "inputs": [("create", [{"product": steel, "quantity": 5.0, "unit": unit}])],
                "outputs": [("create", [{"product": cabinet, "quantity": 1.0, "unit": unit}])],
            }
        ],
    )
    erp.client.write("product.product", [cabinet], {"boms": [("create", [{"bom": bom}])]})
    sale = erp.sales.confirm_sale(
        erp.sales.create_quotation(
            quotation(erp, "PF-6", party.id, line(cabinet, "2", "5000000"))
        ).id
    )

    (requested,) = erp.manufacturing.productions(sale.id)
    assert requested.state == "request" and requested.quantity == 2
    assert requested.sale_line_id == sale.lines[0].id and requested.eta is not None
    assert erp.stock.reservation(sale.id).lines[0].state == "awaiting supply"

    run_production(erp.client, requested.id, until="run")
    (running,) = erp.manufacturing.productions(sale.id)
    assert running.state == "running" and running.effective_start_date is not None

    erp.client.button("production", "do", [requested.id])
    (done,) = erp.manufacturing.productions(sale.id)
    assert done.state == "done" and done.eta == done.effective_date
    assert erp.stock.reserve(sale.id).state == "reserved"
