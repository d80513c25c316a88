"""The plugins' ERP operations, end to end against a real trytond with a fresh database."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from core.connectors.tryton import TrytonClient
from core.connectors.tryton_erp import (
    AddressInput,
    PartyInput,
    ProductInput,
    QuotationInput,
    ReturnInput,
    ReturnLineInput,
    SaleLineInput,
    TrytonERP,
)
from core.testing.tryton import (
    TEMPLATE_ACCOUNT_CATEGORY,
    TEMPLATE_PAYMENT_TERM,
    TEMPLATE_TAX,
    add_stock,
    pay_invoice,
    receive_return,
    run_production,
    ship,
)

TEHRAN = AddressInput(street="Valiasr St. 1200", city="Tehran", postal_code="1434843111")


@pytest.fixture
def erp(tryton_client: TrytonClient) -> TrytonERP:
    return TrytonERP(
        tryton_client,
        account_category=TEMPLATE_ACCOUNT_CATEGORY,
        payment_term=TEMPLATE_PAYMENT_TERM,
    )


ALI = PartyInput(
    crm_id="cust-1",
    name="Ali Rezaei",
    national_id="0012345678",
    economic_code="411111111111",
    addresses=(TEHRAN,),
    mobiles=("+989121234567",),
    emails=("ali@example.com",),
)


def customer(**changes: Any) -> PartyInput:
    return replace(ALI, **changes)


def product(erp: TrytonERP, sku: str, price: str = "1250000", *, producible: bool = False) -> int:
    made = erp.ensure_product(
        ProductInput(
            sku=sku,
            name=f"Product {sku}",
            list_price=Decimal(price),
            producible=producible,
            supply_on_sale=producible,
        )
    )
    return made.id


def quotation(erp: TrytonERP, ref: str, party_id: int, *lines: SaleLineInput) -> QuotationInput:
    return QuotationInput(crm_ref=ref, party_id=party_id, lines=lines)


def line(
    product_id: int,
    quantity: str,
    price: str,
    *,
    base_price: str | None = None,
    tax_ids: tuple[int, ...] = (),
) -> SaleLineInput:
    return SaleLineInput(
        product_id=product_id,
        quantity=Decimal(quantity),
        unit_price=Decimal(price),
        base_price=Decimal(base_price) if base_price else None,
        tax_ids=tax_ids,
    )


def test_party_is_created_once_and_found_again_by_crm_id(erp: TrytonERP) -> None:
    first = erp.ensure_party(customer())
    again = erp.ensure_party(customer())

    assert first.created and not first.updated
    assert again.id == first.id and not again.created and not again.updated
    assert erp.find_party("cust-1") == first.id
    assert erp.client.search("party.party", [("name", "=", "Ali Rezaei")]) == [first.id]
    codes = erp.client.search_read("party.identifier", [("party", "=", first.id)], ["code"])
    assert sorted(row["code"] for row in codes) == ["0012345678", "411111111111", "CRM:cust-1"]
    contacts = erp.client.search_read(
        "party.contact_mechanism", [("party", "=", first.id)], ["type", "value_compact", "value"]
    )
    # With phonenumbers installed Tryton shows numbers spaced; the compact form is E.164.
    assert {(row["type"], row["value_compact"] or row["value"]) for row in contacts} == {
        ("mobile", "+989121234567"),
        ("email", "ali@example.com"),
    }
    assert len(first.address_ids) == 1


def test_party_update_adds_new_details_and_deactivates_old_ones(erp: TrytonERP) -> None:
    first = erp.ensure_party(customer())
    moved = AddressInput(street="Enghelab St. 5", city="Shiraz", postal_code="7134567890")

    changed = erp.ensure_party(
        customer(
            name="Ali Rezaei Co.",
            addresses=(moved,),
            mobiles=("+989351112233",),
            economic_code=None,
        )
    )

    assert changed.id == first.id and changed.updated
    (row,) = erp.client.read("party.party", [first.id], ["name"])
    assert row["name"] == "Ali Rezaei Co."
    active = erp.client.search_read("party.address", [("party", "=", first.id)], ["city"])
    assert [a["city"] for a in active] == ["Shiraz"]
    mobiles = erp.client.search_read(
        "party.contact_mechanism",
        [("party", "=", first.id), ("type", "=", "mobile")],
        ["value_compact", "value"],
    )
    assert [m["value_compact"] or m["value"] for m in mobiles] == ["+989351112233"]
    codes = erp.client.search_read("party.identifier", [("party", "=", first.id)], ["code"])
    assert sorted(c["code"] for c in codes) == ["0012345678", "CRM:cust-1"]
    assert not erp.ensure_party(
        customer(
            name="Ali Rezaei Co.",
            addresses=(moved,),
            mobiles=("+989351112233",),
            economic_code=None,
        )
    ).updated


def test_product_is_found_by_sku_and_updated(erp: TrytonERP) -> None:
    made = erp.ensure_product(
        ProductInput(sku="SKU-1", name="Widget", list_price=Decimal("1250000"))
    )
    again = erp.ensure_product(
        ProductInput(sku="SKU-1", name="Widget", list_price=Decimal("1250000"))
    )
    repriced = erp.ensure_product(
        ProductInput(sku="SKU-1", name="Widget", list_price=Decimal("1300000"))
    )

    assert made.created and again.id == made.id and not again.created and not again.updated
    assert repriced.updated and repriced.id == made.id
    assert erp.find_product("SKU-1") == made.id
    (row,) = erp.client.read(
        "product.product", [made.id], ["code", "list_price_used", "salable", "default_uom.symbol"]
    )
    assert row["code"] == "SKU-1"
    assert row["list_price_used"] == Decimal("1300000")
    assert row["default_uom."]["symbol"] == "u"


def test_quotation_confirm_invoice_and_payment(erp: TrytonERP) -> None:
    party = erp.ensure_party(customer())
    widget = product(erp, "W-1")
    vat = erp.tax_id(TEMPLATE_TAX)
    proforma = quotation(
        erp,
        "PF-1",
        party.id,
        line(widget, "3", "1125000", base_price="1250000", tax_ids=(vat,)),
        line(widget, "1", "990000", tax_ids=(vat,)),
    )

    quote = erp.create_quotation(proforma)
    again = erp.create_quotation(proforma)

    assert quote.created and again.id == quote.id and not again.created
    assert quote.state == "quotation" and quote.currency == "IRR"
    assert quote.untaxed_amount == Decimal("4365000")
    assert quote.tax_amount == Decimal("436500")
    assert quote.total_amount == Decimal("4801500")
    discounted = next(item for item in quote.lines if item.base_price == Decimal("1250000"))
    assert discounted.unit_price == Decimal("1125000") and discounted.amount == Decimal("3375000")
    discount = erp.client.read("sale.line", [discounted.id], ["discount_rate"])
    assert discount[0]["discount_rate"] == Decimal("0.1000")

    confirmed = erp.confirm_sale(quote.id)
    assert erp.confirm_sale(quote.id).invoice_ids == confirmed.invoice_ids
    assert confirmed.state == "processing"
    assert len(confirmed.invoice_ids) == 1 and len(confirmed.shipment_ids) == 1

    (draft,) = erp.invoices(quote.id)
    assert draft.state == "draft" and draft.number is None and draft.payment_state == "not posted"
    (posted,) = erp.post_invoices(quote.id)
    assert posted.number and posted.state == "posted" and posted.payment_state == "unpaid"
    assert posted.total_amount == Decimal("4801500")
    assert erp.post_invoices(quote.id) == (posted,)

    pay_invoice(erp.client, posted.id, Decimal("1000000"))
    (partly,) = erp.invoices(quote.id)
    assert partly.payment_state == "partly paid"
    assert partly.amount_to_pay == Decimal("3801500") and partly.amount_paid == Decimal("1000000")

    pay_invoice(erp.client, posted.id, Decimal("3801500"))
    (paid,) = erp.invoices(quote.id)
    assert paid.state == "paid" and paid.payment_state == "paid"


def test_quotation_revised_before_confirmation_replaces_its_lines(erp: TrytonERP) -> None:
    party = erp.ensure_party(customer())
    widget = product(erp, "W-1")
    first = erp.create_quotation(quotation(erp, "PF-2", party.id, line(widget, "1", "1250000")))

    revised = erp.create_quotation(quotation(erp, "PF-2", party.id, line(widget, "2", "1200000")))

    assert revised.id == first.id and revised.state == "quotation"
    assert [(item.quantity, item.unit_price) for item in revised.lines] == [
        (Decimal(2), Decimal(1200000))
    ]
    assert revised.total_amount == Decimal("2400000")


def test_reservation_full_partial_unavailable_and_release(erp: TrytonERP) -> None:
    party = erp.ensure_party(customer())
    plenty, short, none = product(erp, "A"), product(erp, "B"), product(erp, "C")
    add_stock(erp.client, [(plenty, 10), (short, 2)])
    sale = erp.create_quotation(
        quotation(
            erp,
            "PF-3",
            party.id,
            line(plenty, "3", "100000"),
            line(short, "5", "100000"),
            line(none, "1", "100000"),
        )
    )
    erp.confirm_sale(sale.id)

    before = erp.reservation(sale.id)
    reserved = erp.reserve(sale.id)

    assert before.state == "unavailable"
    by_product = {item.product_id: item for item in reserved.lines}
    assert by_product[plenty].state == "reserved" and by_product[plenty].reserved_quantity == 3
    assert by_product[short].state == "partly reserved"
    assert by_product[short].reserved_quantity == 2
    assert by_product[none].state == "unavailable"
    assert reserved.state == "partly reserved"
    assert erp.reserve(sale.id) == reserved

    released = erp.release(sale.id)
    assert {item.state for item in released.lines} == {"unavailable"}
    (level,) = erp.client.read("product.product", [short], ["quantity"], context={"locations": [3]})
    assert level["quantity"] == 2

    add_stock(erp.client, [(short, 3), (none, 1)])
    assert erp.reserve(sale.id).state == "reserved"


def test_delivery_state_follows_the_shipment(erp: TrytonERP) -> None:
    party = erp.ensure_party(customer())
    widget = product(erp, "W-1")
    add_stock(erp.client, [(widget, 5)])
    sale = erp.confirm_sale(
        erp.create_quotation(quotation(erp, "PF-4", party.id, line(widget, "2", "1"))).id
    )
    erp.reserve(sale.id)

    (shipment_id,) = sale.shipment_ids
    ship(erp.client, shipment_id, until="pick")
    assert [s.state for s in erp.delivery(sale.id).shipments] == ["picked"]
    erp.client.button("stock.shipment.out", "pack", [shipment_id])
    assert [s.state for s in erp.delivery(sale.id).shipments] == ["packed"]
    erp.client.button("stock.shipment.out", "do", [shipment_id])

    delivery = erp.delivery(sale.id)
    assert delivery.delivered and delivery.shipment_state == "sent"
    assert delivery.shipments[0].effective_date is not None
    assert erp.reservation(sale.id).state == "shipped"


def test_return_is_created_once_and_received(erp: TrytonERP) -> None:
    party = erp.ensure_party(customer())
    widget = product(erp, "W-1")
    vat = erp.tax_id(TEMPLATE_TAX)
    add_stock(erp.client, [(widget, 5)])
    sale = erp.confirm_sale(
        erp.create_quotation(
            quotation(erp, "PF-5", party.id, line(widget, "2", "1000000", tax_ids=(vat,)))
        ).id
    )
    erp.reserve(sale.id)
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

    created = erp.create_return(request)
    again = erp.create_return(request)

    assert again.sale.id == created.sale.id
    assert created.sale.total_amount == Decimal("-1100000")
    assert [s.state for s in created.shipments] == ["draft"] and not created.received
    (credit_note,) = created.credit_notes
    assert (
        credit_note.total_amount == Decimal("-1100000")
        and credit_note.payment_state == "not posted"
    )

    receive_return(erp.client, created.shipments[0].id, done=False)
    assert erp.return_status(created.sale.id).received
    erp.client.button("stock.shipment.out.return", "do", [created.shipments[0].id])
    done = erp.return_status(created.sale.id)
    assert [s.state for s in done.shipments] == ["done"]
    (level,) = erp.client.read(
        "product.product", [widget], ["quantity"], context={"locations": [3]}
    )
    assert level["quantity"] == 4


def test_production_made_for_a_sale_reports_state_and_eta(erp: TrytonERP) -> None:
    party = erp.ensure_party(customer())
    steel = product(erp, "RAW-1", "50000")
    cabinet = product(erp, "CAB-1", "5000000", producible=True)
    unit = erp.unit_id("u")
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
    sale = erp.confirm_sale(
        erp.create_quotation(quotation(erp, "PF-6", party.id, line(cabinet, "2", "5000000"))).id
    )

    (requested,) = erp.productions(sale.id)
    assert requested.state == "request" and requested.quantity == 2
    assert requested.sale_line_id == sale.lines[0].id and requested.eta is not None
    assert erp.reservation(sale.id).lines[0].state == "awaiting supply"

    run_production(erp.client, requested.id, until="run")
    (running,) = erp.productions(sale.id)
    assert running.state == "running" and running.effective_start_date is not None

    erp.client.button("production", "do", [requested.id])
    (done,) = erp.productions(sale.id)
    assert done.state == "done" and done.eta == done.effective_date
    assert erp.reserve(sale.id).state == "reserved"


def counting(erp: TrytonERP, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record every (model, method) the ERP's client calls from now on."""
    calls: list[tuple[str, str]] = []
    execute = erp.client.execute

    def counted(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((model, method))
        return execute(model, method, *args, **kwargs)

    monkeypatch.setattr(erp.client, "execute", counted)
    return calls


def test_parties_in_a_batch_are_created_in_one_call_and_updated_in_one(
    erp: TrytonERP, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = erp.ensure_party(customer(crm_id="b-0"))
    batch = [customer(crm_id=f"b-{i}", name=f"Customer {i}") for i in range(12)]
    batch.append(customer(crm_id="b-3", name="Customer 3, renamed"))  # twice: the last wins
    calls = counting(erp, monkeypatch)

    made = erp.ensure_parties(batch)

    assert calls.count(("party.party", "create")) == 1
    assert calls.count(("party.party", "write")) == 2  # the batch, then the repeated id
    assert len(calls) <= 18  # a fixed number of calls per round, whatever the batch size
    assert [r.created for r in made] == [False] + [True] * 11 + [False]
    assert made[0].id == known.id and made[0].updated
    assert made[12].id == made[3].id and made[12].updated
    for party, result in zip(batch, made, strict=True):
        assert erp.find_party(party.crm_id) == result.id
        assert len(result.address_ids) == 1
    (row,) = erp.client.read("party.party", [made[3].id], ["name"])
    assert row["name"] == "Customer 3, renamed"
    assert len(erp.client.search("party.identifier", [("code", "like", "CRM:b-%")])) == 12

    calls.clear()
    again = erp.ensure_parties(batch[:12])
    assert [r.id for r in again] == [r.id for r in made[:12]]
    assert not any(r.created for r in again)
    assert [r.updated for r in again] == [False] * 3 + [True] + [False] * 8
    assert ("party.party", "create") not in calls
    assert calls.count(("party.party", "write")) == 1


def test_products_in_a_batch_are_created_in_one_call_and_updated_in_one(
    erp: TrytonERP, monkeypatch: pytest.MonkeyPatch
) -> None:
    def item(i: int, price: str = "1000") -> ProductInput:
        return ProductInput(sku=f"BATCH-{i}", name=f"Item {i}", list_price=Decimal(price))

    known = erp.ensure_product(item(0))
    calls = counting(erp, monkeypatch)

    made = erp.ensure_products([item(0, "2000"), *(item(i) for i in range(1, 10)), item(1, "5")])

    assert calls.count(("product.template", "create")) == 1
    assert calls.count(("product.template", "write")) == 2
    assert [r.created for r in made] == [False] + [True] * 9 + [False]
    assert made[0].id == known.id and made[0].updated
    assert made[10].id == made[1].id and made[10].updated
    for i, result in enumerate(made[:10]):
        assert erp.find_product(f"BATCH-{i}") == result.id
    rows = erp.client.read("product.product", [made[0].id, made[1].id], ["list_price_used"])
    assert [row["list_price_used"] for row in rows] == [Decimal("2000"), Decimal("5")]

    calls.clear()
    again = erp.ensure_products([item(0, "2000"), item(1, "5"), item(2)])
    assert [r.id for r in again] == [made[0].id, made[1].id, made[2].id]
    assert not any(r.created or r.updated for r in again)
    assert ("product.template", "create") not in calls
    assert ("product.template", "write") not in calls
