"""The Odoo backend against recorded JSON-RPC exchanges that follow Odoo's documented shapes.

Odoo cannot be installed here, so every test replays a flow from ``odoo_recordings/``
through ``httpx.MockTransport``. Matching is strict: the client's request body must equal
the recorded request (after JSON parsing), in order, and every recorded exchange must be
used, so a change in what the client sends fails the test that replays it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.connectors.odoo import (
    OdooClient,
    OdooServerError,
    OdooSettings,
    PollCursor,
    poll_changes,
    profile_for,
)
from core.connectors.odoo_flows import (
    AddressData,
    OdooFlows,
    PartnerData,
    PartsRequest,
    ProductData,
    QuotationData,
    QuotationLine,
    ReturnLine,
    ReturnRequest,
)
from core.errors import MappingError, PermanentError, TransientError
from core.testing.odoo_replay import URL, Replay

RECORDINGS = Path(__file__).parent / "odoo_recordings"
UTC = dt.UTC


# -- replaying recordings ---------------------------------------------------------------


def _recording_files() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(RECORDINGS.glob("*.json"))
    }


@contextmanager
def recorded(file: str, flow: str) -> Iterator[OdooFlows]:
    """Yield Odoo flows whose HTTP goes to one recorded flow; check it was all used."""
    replay = Replay(RECORDINGS / file, flow)
    with httpx.Client(transport=httpx.MockTransport(replay)) as http:
        client = OdooClient(
            http,
            url=URL,
            database="crm",
            login="sync@example.com",
            api_key="key-123",
            version=replay.version,
        )
        yield OdooFlows(client)
    replay.assert_done()


ALL_FLOWS = [(file, flow) for file, data in _recording_files().items() for flow in data["flows"]]


@pytest.mark.parametrize(("file", "flow"), ALL_FLOWS)
def test_recordings_follow_the_documented_json_rpc_shapes(file: str, flow: str) -> None:
    """Every recorded request is a JSON-RPC 'call' to /jsonrpc as the External API documents it."""
    recorded_flow = _recording_files()[file]["flows"][flow]
    assert recorded_flow["version"] in (16, 17, 18)
    assert recorded_flow["exchanges"], "a flow records at least one exchange"
    for number, exchange in enumerate(recorded_flow["exchanges"], start=1):
        request = exchange["request"]
        assert set(request) == {"jsonrpc", "method", "params", "id"}
        assert (request["jsonrpc"], request["method"], request["id"]) == ("2.0", "call", number)
        params = request["params"]
        assert set(params) == {"service", "method", "args"}
        if params["service"] == "common":
            assert params["method"] == "authenticate"
            assert params["args"] == ["crm", "sync@example.com", "key-123", {}]
        else:
            assert (params["service"], params["method"]) == ("object", "execute_kw")
            args = params["args"]
            assert args[:3] == ["crm", 7, "key-123"]
            assert isinstance(args[3], str) and isinstance(args[4], str)
            assert not args[4].startswith("_"), "private methods cannot be called over RPC"
            assert isinstance(args[5], list)
            assert len(args) == 6 or (len(args) == 7 and isinstance(args[6], dict) and args[6])
        if "raise" in exchange:
            continue
        response = exchange["response"]
        if "json" in response:
            answer = response["json"]
            assert answer["jsonrpc"] == "2.0" and answer["id"] == number
            assert not ("result" in answer and "error" in answer)
            if "error" in answer:
                error = answer["error"]
                assert (error["code"], error["message"]) == (200, "Odoo Server Error")
                assert set(error["data"]) == {"name", "message", "arguments", "context", "debug"}


def test_a_changed_request_fails_the_replay() -> None:
    changed = ProductData(
        sku="SKU-LAPTOP-15",
        name="لپ‌تاپ ۱۵ اینچ",
        kind="goods",
        list_price=Decimal("12600000"),
        tax_ids=(5,),
    )
    with (
        pytest.raises(AssertionError, match="the client sent"),
        recorded("products.json", "update_price") as odoo,
    ):
        odoo.upsert_product(changed)


# -- client: settings, versions, errors -------------------------------------------------


def test_settings_build_a_client_for_the_configured_version() -> None:
    settings = OdooSettings(
        url="http://odoo.test/",
        database="crm",
        login="sync@example.com",
        api_key="key-123",
        version=18,
    )
    with httpx.Client() as http:
        client = OdooClient.from_settings(settings, http)
    assert client.version == 18
    assert client.profile.return_method == "action_create_returns"


def test_version_profiles_name_the_fields_that_differ() -> None:
    assert profile_for(16).product_type_field == "detailed_type"
    assert profile_for(16).move_reserved_field == "reserved_availability"
    assert profile_for(16).production_start_field == "date_planned_start"
    assert profile_for(17).move_reserved_field == "quantity"
    assert profile_for(17).production_finish_field == "date_finished"
    assert profile_for(17).return_method == "create_returns"
    assert profile_for(18).goods_values == {"type": "consu", "is_storable": True}
    with pytest.raises(PermanentError, match=r"odoo\.version"):
        profile_for(15)


def test_refused_login_names_the_credential_settings() -> None:
    with (
        recorded("errors.json", "authenticate_refused") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.database, odoo\.login and odoo\.api_key"),
    ):
        odoo.client.authenticate()


def test_access_denied_names_the_credential_settings() -> None:
    with (
        recorded("errors.json", "access_denied") as odoo,
        pytest.raises(OdooServerError, match=r"odoo\.api_key") as caught,
    ):
        odoo.client.search_read("res.partner", [("ref", "=", "cust-1001")], ["name"])
    assert caught.value.exception == "odoo.exceptions.AccessDenied"


def test_missing_access_rights_name_the_user_settings() -> None:
    with (
        recorded("errors.json", "access_rights") as odoo,
        pytest.raises(OdooServerError, match=r"odoo\.login") as caught,
    ):
        odoo.client.call("account.move", "action_post", [88])
    assert caught.value.odoo_message == "You don't have the access rights to post an invoice."


@pytest.mark.parametrize(
    ("flow", "exception"),
    [
        ("validation_error", "odoo.exceptions.ValidationError"),
        ("user_error", "odoo.exceptions.UserError"),
        ("missing_record", "odoo.exceptions.MissingError"),
        ("invalid_field", "builtins.ValueError"),
    ],
)
def test_odoo_refusals_are_permanent_with_odoos_message(flow: str, exception: str) -> None:
    calls = {
        "validation_error": lambda odoo: odoo.client.create(
            "res.partner", [{"name": "Pars Tejarat", "vat": "IR123"}]
        ),
        "user_error": lambda odoo: odoo.client.call("sale.order", "action_confirm", [79]),
        "missing_record": lambda odoo: odoo.client.read("sale.order", [999], ["state"]),
        "invalid_field": lambda odoo: odoo.client.search_read(
            "product.product", [("default_code", "in", ["SKU-1"])], ["detailed_type"]
        ),
    }
    with (
        recorded("errors.json", flow) as odoo,
        pytest.raises(OdooServerError) as caught,
    ):
        calls[flow](odoo)
    assert caught.value.exception == exception
    assert caught.value.odoo_message in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_serialization_failure_is_transient() -> None:
    with (
        recorded("errors.json", "serialization_failure") as odoo,
        pytest.raises(TransientError, match="concurrent update"),
    ):
        odoo.client.call("stock.picking", "action_assign", [31])


def test_missing_database_is_permanent_and_names_the_setting() -> None:
    with (
        recorded("errors.json", "database_missing") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.database"),
    ):
        odoo.client.authenticate()


def test_http_503_is_transient_with_retry_after() -> None:
    with (
        recorded("errors.json", "http_503_retry_after") as odoo,
        pytest.raises(TransientError) as caught,
    ):
        odoo.client.read("sale.order", [77], ["state"])
    assert caught.value.retry_after == 120


def test_http_429_is_transient_with_retry_after() -> None:
    with (
        recorded("errors.json", "http_429") as odoo,
        pytest.raises(TransientError) as caught,
    ):
        odoo.client.read("sale.order", [77], ["state"])
    assert caught.value.retry_after == 30


def test_http_404_is_permanent_and_names_the_url() -> None:
    with (
        recorded("errors.json", "http_404") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.url"),
    ):
        odoo.client.authenticate()


def test_an_html_page_is_permanent_and_names_the_url() -> None:
    with (
        recorded("errors.json", "not_json") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.url"),
    ):
        odoo.client.authenticate()


def test_a_timeout_is_transient() -> None:
    with (
        recorded("errors.json", "read_timeout") as odoo,
        pytest.raises(TransientError, match="in time"),
    ):
        odoo.client.create(
            "sale.order", [{"partner_id": 42, "client_order_ref": "pf-5001", "order_line": []}]
        )


def test_a_refused_connection_is_transient() -> None:
    with (
        recorded("errors.json", "connection_refused") as odoo,
        pytest.raises(TransientError, match="cannot reach Odoo"),
    ):
        odoo.client.authenticate()


# -- customers and products -------------------------------------------------------------


def test_new_company_with_addresses_is_created_once_per_ref() -> None:
    partner = PartnerData(
        crm_id="cust-1001",
        name="شرکت پارس تجارت",
        is_company=True,
        vat="411111111111",
        street="خیابان ولیعصر، پلاک ۱۲",
        city="تهران",
        zip="1511733111",
        country_code="ir",
        phone="+982188776655",
        mobile="+989121234567",
        email="info@parstejarat.example",
        addresses=(
            AddressData(
                key="billing",
                kind="invoice",
                name="واحد مالی",
                street="خیابان ولیعصر، پلاک ۱۲",
                street2="طبقه ۳",
                city="تهران",
                zip="1511733111",
                country_code="IR",
                email="finance@parstejarat.example",
            ),
            AddressData(
                key="warehouse",
                kind="delivery",
                name="انبار کرج",
                street="جاده مخصوص، کیلومتر ۱۵",
                city="کرج",
                country_code="IR",
                phone="+982634567890",
            ),
        ),
    )
    with recorded("partners.json", "create_company_with_addresses") as odoo:
        ref = odoo.upsert_partner(partner)
    assert ref.partner_id == 42
    assert ref.created
    assert ref.addresses == {"billing": 43, "warehouse": 44}


def test_existing_partner_gets_only_the_changed_fields() -> None:
    partner = PartnerData(
        crm_id="cust-2002",
        name="سارا احمدی",
        is_company=False,
        vat="0012345678",
        street="بلوار زند، پلاک ۱۲",
        city="شیراز",
        phone="+987132223344",
        mobile="+989171112233",
        email="sara@example.com",
    )
    with recorded("partners.json", "update_changed_fields") as odoo:
        ref = odoo.upsert_partner(partner)
    assert (ref.partner_id, ref.created) == (58, False)


def test_unchanged_partner_writes_nothing() -> None:
    partner = PartnerData(
        crm_id="cust-3003",
        name="Rasa Trading",
        is_company=True,
        vat="411222333444",
        email="rasa@example.com",
    )
    with recorded("partners.json", "unchanged_writes_nothing") as odoo:
        assert odoo.upsert_partner(partner).partner_id == 61


def test_two_partners_with_one_ref_stop_the_flow() -> None:
    with (
        recorded("partners.json", "duplicate_ref") as odoo,
        pytest.raises(PermanentError, match="merge them"),
    ):
        odoo.upsert_partner(PartnerData(crm_id="cust-4004", name="X", is_company=False))


def test_unknown_country_is_a_mapping_error() -> None:
    partner = PartnerData(crm_id="cust-5005", name="Y", is_company=False, country_code="XX")
    with (
        recorded("partners.json", "unknown_country") as odoo,
        pytest.raises(MappingError, match="XX"),
    ):
        odoo.upsert_partner(partner)


LAPTOP = ProductData(
    sku="SKU-LAPTOP-15",
    name="لپ‌تاپ ۱۵ اینچ",
    kind="goods",
    list_price=Decimal("12500000"),
    tax_ids=(5,),
)
INSTALL = ProductData(
    sku="SRV-INSTALL",
    name="نصب و راه‌اندازی",
    kind="service",
    list_price=Decimal("333000"),
    tax_ids=(5,),
)


def test_products_are_created_in_one_batch_in_odoo_16() -> None:
    with recorded("products.json", "create_batch_v16") as odoo:
        refs = odoo.upsert_products([LAPTOP, INSTALL])
    assert [(ref.sku, ref.product_id, ref.created) for ref in refs] == [
        ("SKU-LAPTOP-15", 101, True),
        ("SRV-INSTALL", 102, True),
    ]


def test_products_use_type_and_is_storable_in_odoo_18() -> None:
    products = [
        ProductData(sku=p.sku, name=p.name, kind=p.kind, list_price=p.list_price)
        for p in (LAPTOP, INSTALL)
    ]
    with recorded("products.json", "create_batch_v18") as odoo:
        refs = odoo.upsert_products(products)
    assert [ref.product_id for ref in refs] == [101, 102]


def test_known_product_gets_only_its_new_price() -> None:
    with recorded("products.json", "update_price") as odoo:
        ref = odoo.upsert_product(LAPTOP)
    assert (ref.product_id, ref.created) == (101, False)


def test_known_and_new_products_in_one_batch() -> None:
    mouse = ProductData(
        sku="SKU-MOUSE", name="ماوس بی‌سیم", kind="goods", list_price=Decimal("850000")
    )
    laptop = ProductData(
        sku=LAPTOP.sku, name=LAPTOP.name, kind="goods", list_price=LAPTOP.list_price
    )
    with recorded("products.json", "known_and_new") as odoo:
        refs = odoo.upsert_products([laptop, mouse])
    assert [(ref.product_id, ref.created) for ref in refs] == [(101, False), (103, True)]


# -- quotations and invoices ------------------------------------------------------------


def test_discount_percent_is_used_only_when_exact() -> None:
    with httpx.Client() as http:
        odoo = OdooFlows(
            OdooClient(http, url=URL, database="crm", login="u", api_key="k", version=17)
        )
    assert odoo.discount_percent(Decimal(12500000), Decimal(2), Decimal(1250000)) == 5
    assert odoo.discount_percent(Decimal(1234568), Decimal(1), Decimal(154321)) == Decimal("12.5")
    assert odoo.discount_percent(Decimal(333000), Decimal(3), Decimal(100000)) is None
    assert odoo.discount_percent(Decimal(0), Decimal(1), Decimal(1)) is None
    assert odoo.discount_percent(Decimal(100), Decimal(1), Decimal(101)) is None


def test_quotation_carries_prices_discounts_and_taxes_explicitly() -> None:
    quotation = QuotationData(
        crm_id="pf-5001",
        partner_id=42,
        discount_product_id=900,
        expected_total=Decimal("31913900"),
        lines=(
            QuotationLine(101, Decimal(2), Decimal(12500000), Decimal(1250000), (5,)),
            QuotationLine(102, Decimal(3), Decimal(333000), Decimal(100000), (5,)),
            QuotationLine(103, Decimal(1), Decimal(4800000)),
        ),
    )
    with recorded("quotations.json", "create_with_discounts") as odoo:
        result = odoo.upsert_quotation(quotation)
    assert (result.order_id, result.name, result.state) == (77, "S00077", "draft")
    assert result.created and not result.updated
    assert result.amount_untaxed == Decimal("29449000")
    assert result.amount_tax == Decimal("2464900")
    assert result.totals_match


def test_sent_quotation_gets_new_lines_and_reports_a_different_total() -> None:
    quotation = QuotationData(
        crm_id="pf-5002",
        partner_id=42,
        expected_total=Decimal("1177470"),
        lines=(QuotationLine(101, Decimal(1), Decimal(1234568), Decimal(154321), (6,)),),
        extra={"validity_date": dt.date(2024, 6, 30)},
    )
    with recorded("quotations.json", "replace_lines_of_sent_quotation") as odoo:
        result = odoo.upsert_quotation(quotation)
    assert result.updated and not result.created
    assert result.amount_total == Decimal("1177469")
    assert result.difference == Decimal(-1)
    assert not result.totals_match


def test_confirmed_order_is_not_changed_by_a_repeated_pro_forma() -> None:
    quotation = QuotationData(
        crm_id="pf-5001",
        partner_id=42,
        expected_total=Decimal("31913900"),
        lines=(QuotationLine(101, Decimal(2), Decimal(12500000)),),
    )
    with recorded("quotations.json", "confirmed_order_left_alone") as odoo:
        result = odoo.upsert_quotation(quotation)
    assert (result.state, result.created, result.updated) == ("sale", False, False)


def test_a_sent_quotation_is_cancelled_without_the_e_mail_wizard() -> None:
    with recorded("quotations.json", "cancel_sent_quotation") as odoo:
        assert odoo.cancel_quotation("pf-5002") == (78, "cancel")


def test_a_confirmed_order_is_not_cancelled_from_the_crm() -> None:
    with recorded("quotations.json", "cancel_confirmed_order_left") as odoo:
        assert odoo.cancel_quotation("pf-5001") == (77, "sale")


def test_cancelling_a_pro_forma_odoo_never_got_writes_nothing() -> None:
    with recorded("quotations.json", "cancel_without_quotation") as odoo:
        assert odoo.cancel_quotation("pf-5003") is None


def test_inexact_discount_needs_a_discount_product() -> None:
    quotation = QuotationData(
        crm_id="pf-5003",
        partner_id=42,
        expected_total=Decimal("899000"),
        lines=(QuotationLine(102, Decimal(3), Decimal(333000), Decimal(100000), (5,)),),
    )
    with (
        recorded("quotations.json", "inexact_discount_without_product") as odoo,
        pytest.raises(MappingError, match="discount product"),
    ):
        odoo.upsert_quotation(quotation)


def test_confirm_then_invoice_and_post() -> None:
    with recorded("invoices.json", "confirm_and_invoice") as odoo:
        assert odoo.confirm_order(77) == "sale"
        invoice = odoo.create_invoice(77)
    assert invoice.invoice_id == 88
    assert invoice.number == "INV/2024/00012"
    assert (invoice.state, invoice.payment_state) == ("posted", "not_paid")
    assert invoice.invoice_date == dt.date(2024, 5, 14)
    assert invoice.amount_total == Decimal("31913900")
    assert invoice.origin == "S00077"


def test_invoice_can_stay_a_draft_in_odoo_16() -> None:
    with recorded("invoices.json", "invoice_draft_v16") as odoo:
        invoice = odoo.create_invoice(77, post=False)
    assert (invoice.invoice_id, invoice.number, invoice.state) == (88, None, "draft")


def test_confirming_and_invoicing_again_creates_nothing() -> None:
    with recorded("invoices.json", "confirm_and_invoice_again") as odoo:
        assert odoo.confirm_order(77) == "sale"
        invoice = odoo.create_invoice(77)
    assert (invoice.invoice_id, invoice.payment_state) == (88, "partial")
    assert invoice.partly_paid and not invoice.paid
    assert invoice.amount_residual == Decimal("11913900")


def test_cancelled_order_cannot_be_confirmed() -> None:
    with (
        recorded("invoices.json", "confirm_cancelled") as odoo,
        pytest.raises(PermanentError, match="cancelled"),
    ):
        odoo.confirm_order(79)


def test_payment_states_and_credit_notes() -> None:
    with recorded("invoices.json", "read_payment_states") as odoo:
        invoices = odoo.read_invoices([88, 89, 90, 91, 92])
        refunds = odoo.refunds_of(92)
    assert [(i.payment_state, i.paid, i.partly_paid) for i in invoices] == [
        ("paid", True, False),
        ("partial", False, True),
        ("in_payment", True, False),
        ("not_paid", False, False),
        ("reversed", False, False),
    ]
    assert invoices[3].number is None and invoices[3].origin is None
    assert [(r.number, r.move_type) for r in refunds] == [("RINV/2024/00003", "out_refund")]


# -- stock ------------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["deliveries_v16", "deliveries_v17"])
def test_delivery_and_reservation_per_line(flow: str) -> None:
    with recorded("stock.json", flow) as odoo:
        pickings = odoo.deliveries_of(77)
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
        reserved = odoo.reserve(31)
        released = odoo.release(31)
    assert reserved.state == "assigned"
    assert [(m.reservation, m.reserved) for m in reserved.moves] == [("reserved", Decimal(2))]
    assert released.state == "confirmed"
    assert [(m.reservation, m.reserved) for m in released.moves] == [("unavailable", Decimal(0))]


def test_done_picking_is_neither_reserved_nor_released() -> None:
    with recorded("stock.json", "done_picking_untouched") as odoo:
        assert odoo.reserve(32).done
        assert odoo.release(32).done


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
        first = odoo.reserve_parts(request)
    assert first.picking_id == 40 and first.origin == "svc-3001"
    assert [m.reservation for m in first.moves] == ["reserved", "partially_reserved"]
    with recorded("stock.json", "service_parts_again") as odoo:
        again = odoo.reserve_parts(request)
    assert again.picking_id == 40
    assert [m.reservation for m in again.moves] == ["reserved", "reserved"]


REASON = "صفحه شکسته رسید <گزارش مشتری>"


def test_return_through_the_wizard_in_odoo_16() -> None:
    request = ReturnRequest(
        crm_id="rma-7001", picking_id=32, lines=(ReturnLine(105, Decimal(1)),), reason=REASON
    )
    with recorded("returns.json", "return_v16") as odoo:
        picking = odoo.create_return(request)
    assert (picking.picking_id, picking.type_code, picking.origin) == (45, "incoming", "rma-7001")
    assert not picking.done


def test_return_through_the_wizard_in_odoo_18() -> None:
    request = ReturnRequest(crm_id="rma-7002", picking_id=32, lines=(ReturnLine(105, Decimal(2)),))
    with recorded("returns.json", "return_v18") as odoo:
        picking = odoo.create_return(request)
    assert picking.picking_id == 46
    assert [(m.product_id, m.demand) for m in picking.moves] == [(105, Decimal(2))]


def test_return_asked_again_is_found_and_received() -> None:
    request = ReturnRequest(
        crm_id="rma-7001", picking_id=32, lines=(ReturnLine(105, Decimal(1)),), reason=REASON
    )
    with recorded("returns.json", "return_again") as odoo:
        picking = odoo.create_return(request)
    assert picking.picking_id == 45 and picking.done
    assert picking.date_done == dt.datetime(2024, 5, 21, 14, 3, 10, tzinfo=UTC)


def test_unmarked_return_left_by_a_crash_is_claimed() -> None:
    request = ReturnRequest(
        crm_id="rma-7001", picking_id=32, lines=(ReturnLine(105, Decimal(1)),), reason=REASON
    )
    with recorded("returns.json", "claim_unmarked_return") as odoo:
        picking = odoo.create_return(request)
    assert picking.picking_id == 47


def test_only_done_deliveries_can_be_returned() -> None:
    request = ReturnRequest(crm_id="rma-7003", picking_id=31, lines=(ReturnLine(101, Decimal(1)),))
    with (
        recorded("returns.json", "not_done") as odoo,
        pytest.raises(PermanentError, match="only done deliveries"),
    ):
        odoo.create_return(request)


def test_returning_a_product_that_was_not_delivered_is_a_mapping_error() -> None:
    request = ReturnRequest(crm_id="rma-7004", picking_id=32, lines=(ReturnLine(999, Decimal(1)),))
    with (
        recorded("returns.json", "product_not_delivered") as odoo,
        pytest.raises(MappingError, match="999"),
    ):
        odoo.create_return(request)


# -- production -------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["productions_v16", "productions_v18"])
def test_productions_of_a_sale_order(flow: str) -> None:
    with recorded("productions.json", flow) as odoo:
        first, second = odoo.productions_of("S00077")
    assert (first.name, first.origin, first.product_id) == ("WH/MO/00012", "S00077", 101)
    assert first.date_start == dt.datetime(2024, 5, 10, 7, 0, tzinfo=UTC)
    assert first.date_deadline == dt.datetime(2024, 5, 22, 0, 0, tzinfo=UTC)
    assert second.date_deadline is None
    if flow == "productions_v16":
        assert (first.state, first.progress) == ("progress", Decimal("0.4"))
        assert first.date_finished == dt.datetime(2024, 5, 20, 15, 0, tzinfo=UTC)
    else:
        assert (first.state, first.progress) == ("done", Decimal(1))
        assert first.date_finished == dt.datetime(2024, 5, 19, 11, 42, tzinfo=UTC)


# -- polling ----------------------------------------------------------------------------


def test_polling_hands_out_every_change_once_when_timestamps_are_shared() -> None:
    handed_out: list[tuple[int, str]] = []
    cursor = PollCursor()
    with recorded("polling.json", "shared_timestamps") as odoo:
        more = []
        for _ in range(5):
            batch = poll_changes(
                odoo.client, "sale.order", ["state"], cursor, limit=2, overlap_seconds=0
            )
            handed_out.extend((row["id"], row["state"]) for row in batch.records)
            more.append(batch.has_more)
            cursor = PollCursor.from_json(batch.cursor.to_json())
    assert handed_out == [
        (5, "draft"),
        (3, "draft"),
        (9, "sent"),
        (4, "draft"),
        (3, "sale"),
        (3, "cancel"),
    ]
    assert more == [True, True, False, False, False]
    assert cursor.write_date == "2024-05-14 10:00:01"
    assert sorted(cursor.seen) == [3, 4]


def test_polling_overlap_catches_a_late_commit() -> None:
    handed_out: list[int] = []
    cursor = PollCursor()
    with recorded("polling.json", "late_commit_overlap") as odoo:
        for _ in range(3):
            batch = poll_changes(odoo.client, "sale.order", ["state"], cursor, overlap_seconds=60)
            handed_out.extend(row["id"] for row in batch.records)
            cursor = batch.cursor
    assert handed_out == [10, 11]
    assert cursor.write_date == "2024-05-14 10:00:05"


def test_cursor_survives_a_restart_as_json() -> None:
    cursor = PollCursor(write_date="2024-05-14 10:00:01", seen={4: ("2024-05-14 10:00:01", "ab")})
    assert PollCursor.from_json(cursor.to_json()) == cursor
    assert PollCursor.from_json(None) == PollCursor()


def test_poll_invoices() -> None:
    cursor = PollCursor(write_date="2024-05-14 10:00:00")
    with recorded("polling.json", "poll_invoices") as odoo:
        changes = odoo.poll_invoices(cursor, limit=50, overlap_seconds=3600)
    (invoice,) = changes.items
    assert (invoice.number, invoice.paid) == ("INV/2024/00012", True)
    assert changes.cursor.write_date == "2024-05-16 08:30:00"
    assert not changes.has_more


def test_poll_pickings_with_their_moves() -> None:
    cursor = PollCursor(write_date="2024-05-16 09:12:44")
    with recorded("polling.json", "poll_pickings") as odoo:
        changes = odoo.poll_pickings(cursor)
    (picking,) = changes.items
    assert picking.done and [m.done for m in picking.moves] == [1]


def test_poll_productions() -> None:
    with recorded("polling.json", "poll_productions") as odoo:
        changes = odoo.poll_productions(PollCursor())
    (production,) = changes.items
    assert (production.name, production.progress) == ("WH/MO/00012", Decimal("0.4"))
    assert changes.cursor.write_date == "2024-05-15 12:00:00"
