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


def test_lead_without_any_identity_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one of contact_name, company_name"):
        Lead.model_validate({"source": "website"})


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
