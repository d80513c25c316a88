"""Leads and opportunities: identity, statuses, scores, money and the lost reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from core.schemas.leads import Lead, Opportunity

Bodies = dict[str, dict[str, Any]]


def test_lead_defaults_and_exact_budget(bodies: Bodies) -> None:
    lead = Lead.model_validate(bodies["leads"])
    assert lead.budget == Decimal("2500000000")
    assert lead.currency == "IRR"
    minimal = Lead.model_validate({"emails": ["a@example.com"]})
    assert minimal.status == "new"
    assert minimal.phones == []
    assert (minimal.fit_score, minimal.engagement_score, minimal.score, minimal.grade) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "identity",
    [{"contact_name": "سارا"}, {"company_name": "شرکت"}, {"phones": ["09121234567"]}],
)
def test_lead_needs_only_one_way_to_identify_it(identity: dict[str, Any]) -> None:
    assert Lead.model_validate(identity)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "won"}, "Input should be"),
        ({"fit_score": 101}, "less than or equal to 100"),
        ({"score": -1}, "greater than or equal to 0"),
        ({"score": 55.5}, "valid integer"),
        ({"budget": "-1"}, "greater than or equal to 0"),
        ({"budget": "abc"}, "valid decimal"),
        ({"budget": "NaN"}, "finite number"),
        ({"budget": "1.00001"}, "decimal places"),
        ({"company_size": -5}, "greater than or equal to 0"),
        ({"currency": "rial"}, "should match pattern"),
        ({"phones": ["۰۹۱۲"]}, "too short"),
        ({"emails": ["sara.example.com"]}, "not an email address"),
        ({"grade": ""}, "at least 1 character"),
    ],
)
def test_lead_refuses_bad_input(bodies: Bodies, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Lead.model_validate({**bodies["leads"], **changes})


def test_lead_saying_neither_who_nor_whence_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one of contact_name, company_name"):
        Lead.model_validate({"campaign": "spring", "attributes": {"pages_viewed": 3}})
    with pytest.raises(ValidationError, match="must not be blank"):
        Lead.model_validate({"source": "   "})


@pytest.mark.parametrize("origin", [{"source": "website"}, {"channel": "web"}])
def test_minimal_lead_from_a_form_without_a_name(origin: dict[str, Any]) -> None:
    lead = Lead.model_validate({**origin, "country": "IR", "attributes": {"pages_viewed": 3}})
    assert lead.attributes == {"pages_viewed": 3}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"Pages": 1}, "should match pattern"),
        ({"a" * 65: 1}, "should match pattern"),
        ({"x": float("nan")}, "finite number"),
        ({"x": [1, 2]}, "valid"),
        ({"x": {"nested": 1}}, "valid"),
        ({"x": None}, "valid"),
        ({"x": "y" * 1001}, "at most 1000 characters"),
        ({f"a{i}": i for i in range(101)}, "at most 100 items"),
    ],
)
def test_lead_refuses_bad_attributes(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Lead.model_validate({"source": "website", "attributes": attributes})


def test_attribute_values_keep_their_type() -> None:
    lead = Lead.model_validate(
        {"source": "web", "attributes": {"a": True, "b": 3, "c": 2.5, "d": "yes", "e": "3"}}
    )
    assert lead.attributes == {"a": True, "b": 3, "c": 2.5, "d": "yes", "e": "3"}
    assert [type(v) for v in lead.attributes.values()] == [bool, int, float, str, str]
    with pytest.raises(ValidationError, match="should match pattern"):
        Lead.model_validate({"source": "web", "country": "Iran"})


def test_opportunity_values(bodies: Bodies) -> None:
    opportunity = Opportunity.model_validate(bodies["opportunities"])
    assert opportunity.amount == Decimal("1500000000.50")
    assert opportunity.expected_close_date == date(2024, 6, 30)
    assert opportunity.lost_reason is None


def test_lost_opportunity_needs_a_reason(bodies: Bodies) -> None:
    body = {**bodies["opportunities"], "status": "lost"}
    with pytest.raises(ValidationError, match="lost_reason is required when status is 'lost'"):
        Opportunity.model_validate(body)
    with pytest.raises(ValidationError, match="must not be blank"):
        Opportunity.model_validate({**body, "lost_reason": "  "})
    lost = Opportunity.model_validate({**body, "lost_reason": "قیمت رقیب کمتر بود"})
    assert lost.lost_reason == "قیمت رقیب کمتر بود"


def test_won_opportunity_needs_no_reason(bodies: Bodies) -> None:
    assert Opportunity.model_validate({**bodies["opportunities"], "status": "won"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"probability": 120}, "less than or equal to 100"),
        ({"probability": -1}, "greater than or equal to 0"),
        ({"status": "closed"}, "Input should be"),
        ({"amount": "-100"}, "greater than or equal to 0"),
        ({"amount": 1e30}, "digits in total"),
        ({"expected_close_date": "1403/04/10"}, "valid date"),
        ({"expected_close_date": "2024-02-30"}, "valid date"),
        ({"customer_id": ""}, "at least 1 character"),
        ({"stage": None}, "valid string"),
        ({"title": ["x"]}, "valid string"),
    ],
)
def test_opportunity_refuses_bad_input(
    bodies: Bodies, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Opportunity.model_validate({**bodies["opportunities"], **changes})
