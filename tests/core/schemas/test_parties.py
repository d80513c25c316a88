"""Customers, contacts and agents: what they accept and what they refuse, and why."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.schemas.base import STORED
from core.schemas.parties import Address, Agent, Contact, Customer

Bodies = dict[str, dict[str, Any]]


def errors_of(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    """Return (location, message) of every error, for compact assertions."""
    return [(tuple(e["loc"]), e["msg"]) for e in error.value.errors()]


def test_minimal_customer_has_empty_lists_and_defaults() -> None:
    customer = Customer.model_validate({"type": "organization", "name": "شرکت الف"})
    assert customer.phones == [] and customer.emails == [] and customer.addresses == []
    assert customer.national_id is None and customer.owner_id is None
    assert customer.status == "active"


def test_customer_keeps_ids_and_phones_as_sent(bodies: Bodies) -> None:
    customer = Customer.model_validate(bodies["customers"])
    assert customer.national_id == "۰۰۱۳۵۴۲۴۱۹"
    assert customer.phones == ["۰۹۱۲ ۱۲۳ ۴۵۶۷", "(021) 8888-1234"]
    assert customer.emails == ["Ali.Karimi@Example.ir"]


def test_organisation_takes_a_legal_national_id_and_economic_code() -> None:
    customer = Customer.model_validate(
        {
            "type": "organization",
            "name": "شرکت نمونه",
            "national_id": "10380284790",
            "economic_code": "411111111111",
            "registration_number": "۱۲۳۴۵",
        }
    )
    assert customer.registration_number == "۱۲۳۴۵"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"national_id": "0013542418"}, "not a valid Iranian national id"),
        ({"national_id": "1111111111"}, "not a valid Iranian national id"),
        ({"national_id": "10380284790"}, "not a valid Iranian national id"),
        ({"type": "organization", "economic_code": None}, "not a valid legal national id"),
        ({"economic_code": "10380284790"}, "not a valid economic code"),
        ({"economic_code": "12345"}, "not a valid economic code"),
        ({"registration_number": "12-34"}, "digits only"),
        ({"phones": ["0912 123 45"]}, "too short"),
        ({"phones": ["not a phone"]}, "not a phone number"),
        ({"emails": ["ali@"]}, "not an email address"),
        ({"emails": ["ali karimi@example.ir"]}, "not an email address"),
        ({"emails": ["ali@example"]}, "not an email address"),
        ({"type": "company"}, "'person' or 'organization'"),
        ({"name": ""}, "at least 1 character"),
        ({"name": "   "}, "must not be blank"),
        ({"name": 42}, "valid string"),
        ({"phones": "09121234567"}, "valid list"),
        ({"status": "deleted"}, "Input should be"),
        ({"owner_id": "agent 7"}, "should match pattern"),
    ],
)
def test_customer_refuses_bad_input(bodies: Bodies, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Customer.model_validate({**bodies["customers"], **changes})


def test_bad_phone_error_points_at_the_phone(bodies: Bodies) -> None:
    body = {**bodies["customers"], "phones": ["09121234567", "12"]}
    with pytest.raises(ValidationError) as error:
        Customer.model_validate(body)
    [(location, message)] = errors_of(error)
    assert location == ("phones", 1)
    assert "'12'" in message


def test_a_stored_customer_read_back_skips_only_the_input_guards() -> None:
    # A record read from its table was checked when written; reading it back for a push
    # skips the phone and text guards (the costliest part) but still checks its shape.
    body = {"type": "person", "name": "علی", "phones": ["0950 123 4567"]}
    with pytest.raises(ValidationError, match="phones"):
        Customer.model_validate(body)
    assert Customer.model_validate(body, context=STORED).phones == ["0950 123 4567"]
    with pytest.raises(ValidationError, match="name"):
        Customer.model_validate({"type": "person", "name": "\x00"})
    with pytest.raises(ValidationError, match="type"):
        Customer.model_validate({"type": "robot", "name": "علی"}, context=STORED)
    with pytest.raises(ValidationError, match="unknown"):
        Customer.model_validate({**body, "unknown": 1}, context=STORED)


def test_customer_requires_type_and_name() -> None:
    with pytest.raises(ValidationError) as error:
        Customer.model_validate({})
    assert {loc for loc, _ in errors_of(error)} == {("type",), ("name",)}


@pytest.mark.parametrize("postal_code", ["1434863111", "۱۴۳۴۸۶۳۱۱۱"])
def test_iranian_postal_codes(postal_code: str) -> None:
    address = Address.model_validate({"line1": "خیابان آزادی", "postal_code": postal_code})
    assert address.country == "IR"
    assert address.postal_code == postal_code


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"line1": "x", "postal_code": "12345"}, "expected 10 digits"),
        ({"line1": "x", "postal_code": "14348-63111"}, "expected 10 digits"),
        ({"line1": "x", "postal_code": "1434863111!"}, "should match pattern"),
        ({"line1": "x", "country": "Iran"}, "should match pattern"),
        ({"line1": "x", "country": "ir"}, "should match pattern"),
        ({"city": "تهران"}, "Field required"),
    ],
)
def test_address_refuses_bad_input(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Address.model_validate(body)


def test_foreign_address_keeps_its_own_postal_code() -> None:
    address = Address.model_validate(
        {"line1": "1 Main St", "postal_code": "SW1A 1AA", "country": "GB"}
    )
    assert address.postal_code == "SW1A 1AA"


def test_address_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Address.model_validate({"line1": "x", "street": "y"})


def test_contact(bodies: Bodies) -> None:
    contact = Contact.model_validate(bodies["contacts"])
    assert contact.customer_id == "org-1"
    with pytest.raises(ValidationError, match="customer_id"):
        Contact.model_validate({"name": "مریم"})
    with pytest.raises(ValidationError, match="not a phone number"):
        Contact.model_validate({**bodies["contacts"], "phones": ["+98-abc"]})


def test_agent_defaults() -> None:
    agent = Agent.model_validate({"name": "رضا"})
    assert agent.active is True
    assert agent.time_zone == "Asia/Tehran"
    assert agent.languages == [] and agent.skills == [] and agent.provinces == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Tehran"}, "not an IANA time zone"),
        ({"time_zone": "../etc/passwd"}, "not an IANA time zone"),
        ({"languages": ["Persian"]}, "should match pattern"),
        ({"email": "reza"}, "not an email address"),
        ({"phone": "123"}, "too short"),
        ({"active": "maybe"}, "valid boolean"),
    ],
)
def test_agent_refuses_bad_input(bodies: Bodies, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Agent.model_validate({**bodies["agents"], **changes})
