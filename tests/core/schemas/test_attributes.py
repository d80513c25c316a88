"""Custom attributes: declarations in the settings, and the check on write."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.schemas.attributes import AttributeCatalog, AttributeSpec, AttributesRefused
from core.settings import Settings

CATALOG = AttributeCatalog.model_validate(
    {
        "lead": {
            "occupation": {"type": "choice", "choices": ["student", "working professional"]},
            "time_on_site": {"type": "number", "label": "Time on site (s)"},
            "wants_newsletter": {"type": "boolean"},
            "heard_from": {"type": "text"},
            "first_visit": {"type": "date"},
        },
        "customer": {"segment": {"type": "text"}},
    }
)


def test_values_that_fit_their_declarations_pass() -> None:
    CATALOG.check(
        "lead",
        {
            "occupation": "student",
            "time_on_site": 312.5,
            "wants_newsletter": False,
            "heard_from": "a friend",
            "first_visit": "2025-03-01",
        },
    )
    CATALOG.check("lead", {"time_on_site": 0})
    CATALOG.check("customer", {"segment": "retail"})
    CATALOG.check("lead", {})


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"occupation": "pilot"}, "attributes.occupation: expected one of student, working"),
        ({"time_on_site": "312"}, "attributes.time_on_site: expected a number"),
        ({"time_on_site": True}, "attributes.time_on_site: expected a number"),
        ({"wants_newsletter": "yes"}, "attributes.wants_newsletter: expected true or false"),
        ({"wants_newsletter": 1}, "attributes.wants_newsletter: expected true or false"),
        ({"heard_from": 3}, "attributes.heard_from: expected text"),
        ({"first_visit": "1 March"}, "attributes.first_visit: expected a date as YYYY-MM-DD"),
        ({"first_visit": "20250301"}, "attributes.first_visit: expected a date as YYYY-MM-DD"),
        ({"ocupation": "student"}, "attributes.ocupation: not declared for lead"),
    ],
)
def test_wrong_values_are_refused_by_name(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(AttributesRefused, match=message):
        CATALOG.check("lead", attributes)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(AttributesRefused) as caught:
        CATALOG.check("lead", {"occupation": "pilot", "extra": 1, "time_on_site": "x"})
    assert str(caught.value).count("attributes.") == 3


def test_a_customer_attribute_is_not_a_lead_attribute() -> None:
    with pytest.raises(AttributesRefused, match=r"attributes\.segment: not declared for lead"):
        CATALOG.check("lead", {"segment": "retail"})
    with pytest.raises(AttributesRefused, match="none are declared"):
        CATALOG.check("opportunity", {"segment": "retail"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "choice"}, "a choice attribute needs choices"),
        ({"type": "text", "choices": ["a"]}, "choices apply to choice attributes"),
        ({"type": "choice", "choices": ["a", "a"]}, "choices must be distinct"),
        ({"type": "money"}, "Input should be"),
        ({"type": "text", "unit": "s"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_declarations_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AttributeSpec.model_validate(spec)


def test_declarations_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_ATTRIBUTES", '{"lead": {"pages_viewed": {"type": "number"}}}')
    settings = Settings()
    assert settings.attributes.lead["pages_viewed"].type == "number"
    with pytest.raises(ValidationError, match=r"attributes\.lead"):
        Settings(attributes={"lead": {"Bad Name": {"type": "number"}}})
