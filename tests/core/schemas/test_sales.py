"""Products, pro-formas, orders, reservations, returns and production: lines, totals, refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from core.schemas.sales import (
    MAX_LINES,
    Product,
    ProductionStatus,
    ProForma,
    ReturnRequest,
    SalesLine,
    SalesOrder,
    StockReservation,
)

Bodies = dict[str, dict[str, Any]]


def line(**changes: Any) -> dict[str, Any]:
    """Return a valid line body with ``changes`` applied."""
    return {"product_id": "p-1", "quantity": "1", "unit_price": "1000", **changes}


def test_product(bodies: Bodies) -> None:
    product = Product.model_validate(bodies["products"])
    assert product.price == Decimal("12500000")
    assert product.currency == "IRR"
    assert Product.model_validate({"sku": "A-1", "name": "x"}).active is True
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Product.model_validate({**bodies["products"], "price": "-1"})
    with pytest.raises(ValidationError, match="Field required"):
        Product.model_validate({"name": "x"})


def test_line_amounts_are_exact() -> None:
    sales_line = SalesLine.model_validate(
        line(quantity="3", unit_price="12500000", discount="500000", tax="3330000")
    )
    assert sales_line.gross == Decimal("37500000")
    assert sales_line.net == Decimal("37000000")
    assert sales_line.total == Decimal("40330000")
    assert SalesLine.model_validate(line()).discount == Decimal(0)


def test_pro_forma_totals_are_exact_to_the_rial(bodies: Bodies) -> None:
    proforma = ProForma.model_validate(bodies["proformas"])
    # line 1: 3 x 12,500,000 = 37,500,000 - 500,000 + 3,330,000 = 40,330,000
    # line 2: 1.5 x 1,999,999 = 2,999,998.5
    assert proforma.subtotal == Decimal("40499998.5")
    assert proforma.discount_total == Decimal("500000")
    assert proforma.tax_total == Decimal("3330000")
    assert proforma.total == Decimal("43329998.5")
    assert proforma.total == proforma.subtotal - proforma.discount_total + proforma.tax_total


def test_totals_do_not_lose_digits_on_large_amounts() -> None:
    big = "9999999999999999.9999"
    proforma = ProForma.model_validate(
        {
            "customer_id": "c",
            "number": "1",
            "issue_date": "2024-03-20",
            "lines": [line(quantity=big, unit_price=big)] * 3,
        }
    )
    exact = Decimal("99999999999999999998000000000000.00000001")
    assert proforma.lines[0].gross == exact
    assert proforma.total == Decimal("299999999999999999994000000000000.00000003")
    assert Decimal(big) * Decimal(big) != exact  # what Python's default 28-digit context gives


def test_totals_of_many_small_lines_have_no_float_error() -> None:
    lines = [line(quantity="0.1", unit_price="0.1")] * 10
    order = SalesOrder.model_validate({"customer_id": "c", "number": "1", "lines": lines})
    assert order.total == Decimal("0.10")


def test_computed_fields_appear_in_responses_only(bodies: Bodies) -> None:
    proforma = ProForma.model_validate(bodies["proformas"])
    response = proforma.model_dump(mode="json")
    assert response["total"] == "43329998.5"
    assert response["lines"][0]["net"] == "37000000"
    stored = proforma.model_dump(mode="json", exclude_computed_fields=True)
    assert "total" not in stored and "net" not in stored["lines"][0]


def test_computed_fields_sent_back_are_refused(bodies: Bodies) -> None:
    body = bodies["proformas"]
    body["total"] = "1"
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ProForma.model_validate(body)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (line(quantity="-1"), "greater than 0"),
        (line(quantity="0"), "greater than 0"),
        (line(quantity=None), "Decimal input should be"),
        (line(unit_price="-5"), "greater than or equal to 0"),
        (line(discount="-5"), "greater than or equal to 0"),
        (line(tax="-5"), "greater than or equal to 0"),
        (line(discount="1000.01"), "discount 1000.01 is larger than the line amount 1000"),
        (line(tax="1000.01"), "tax 1000.01 is larger than the line's net amount 1000"),
        (line(discount="400", tax="600.5"), "tax 600.5 is larger than the line's net amount 600"),
        (line(quantity="1.23456"), "decimal places"),
        (line(unit_price="Infinity"), "finite number"),
        ({"quantity": "1", "unit_price": "1"}, "product_id"),
        (line(vat="9"), "Extra inputs are not permitted"),
    ],
)
def test_lines_refuse_bad_input(bodies: Bodies, bad_line: dict[str, Any], message: str) -> None:
    body = bodies["proformas"]
    body["lines"] = [body["lines"][0], bad_line]
    with pytest.raises(ValidationError, match=message):
        ProForma.model_validate(body)


def test_pro_forma_needs_at_least_one_line(bodies: Bodies) -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        ProForma.model_validate({**bodies["proformas"], "lines": []})
    with pytest.raises(ValidationError, match="lines"):
        ProForma.model_validate({k: v for k, v in bodies["proformas"].items() if k != "lines"})


def test_pro_forma_line_count_is_bounded(bodies: Bodies) -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_LINES} items"):
        ProForma.model_validate({**bodies["proformas"], "lines": [line()] * (MAX_LINES + 1)})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"valid_until": "2024-03-19"}, "valid_until 2024-03-19 is before issue_date 2024-03-20"),
        ({"status": "paid"}, "Input should be"),
        ({"issue_date": None}, "valid date"),
        ({"currency": "usd"}, "should match pattern"),
    ],
)
def test_pro_forma_refuses_bad_input(bodies: Bodies, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProForma.model_validate({**bodies["proformas"], **changes})


def test_sales_order(bodies: Bodies) -> None:
    order = SalesOrder.model_validate(bodies["orders"])
    assert order.total == Decimal("25000000")
    assert order.proforma_id == "pf-1"
    with pytest.raises(ValidationError, match="Input should be"):
        SalesOrder.model_validate({**bodies["orders"], "status": "lost"})


def test_reservation(bodies: Bodies) -> None:
    reservation = StockReservation.model_validate(bodies["reservations"])
    assert reservation.expires_at == datetime(2024, 4, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"order_id": None}, "exactly one of order_id, proforma_id or service_case_id"),
        ({"proforma_id": "pf-1"}, "exactly one of order_id, proforma_id or service_case_id"),
        ({"expires_at": "2024-04-01T12:00:00"}, "timezone info"),
        ({"lines": [{"product_id": "p", "quantity": "-2"}]}, "greater than 0"),
        ({"lines": []}, "at least 1 item"),
        ({"status": "cancelled"}, "Input should be"),
    ],
)
def test_reservation_refuses_bad_input(
    bodies: Bodies, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        StockReservation.model_validate({**bodies["reservations"], **changes})


def test_reservation_for_a_service_case() -> None:
    reservation = StockReservation.model_validate(
        {"service_case_id": "case-9", "lines": [{"product_id": "part-1", "quantity": "1"}]}
    )
    assert reservation.status == "requested"


def test_return_request(bodies: Bodies) -> None:
    request = ReturnRequest.model_validate(bodies["returns"])
    assert request.lines[0].reason == "شکستگی"
    assert request.status == "requested"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason": ""}, "at least 1 character"),
        ({"reason": None}, "valid string"),
        ({"lines": [{"product_id": "p", "quantity": "0"}]}, "greater than 0"),
        ({"status": "lost"}, "Input should be"),
    ],
)
def test_return_request_refuses_bad_input(
    bodies: Bodies, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ReturnRequest.model_validate({**bodies["returns"], **changes})


def test_production_status(bodies: Bodies) -> None:
    status = ProductionStatus.model_validate(bodies["production"])
    assert status.progress == 45
    assert ProductionStatus.model_validate({**bodies["production"], "progress": 100})
    for progress in (-1, 101, "half"):
        with pytest.raises(ValidationError):
            ProductionStatus.model_validate({**bodies["production"], "progress": progress})
    with pytest.raises(ValidationError, match="valid date"):
        ProductionStatus.model_validate({**bodies["production"], "eta": "soon"})
