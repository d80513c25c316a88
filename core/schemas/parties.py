"""Schemas of the parties the CRM deals with: customers, their contacts, and our agents."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, StrictBool, computed_field, model_validator

from core.locale import (
    is_valid_economic_code,
    is_valid_legal_national_id,
    is_valid_national_id,
    normalize_digits,
)
from core.schemas.attributes import Attributes
from core.schemas.base import CanonicalModel, RecordId
from core.schemas.fields import (
    DIGIT,
    CountryCode,
    DigitString,
    Email,
    LanguageCode,
    Name,
    Phone,
    ShortText,
    TimeZoneName,
    phone_keys,
)

PartyType = Literal["person", "organization"]
CustomerStatus = Literal["prospect", "active", "inactive", "blocked"]

#: A national id or economic code as sent: digits (Persian digits allowed), checked per
#: party type by the model.
IdNumber = Annotated[str, Field(min_length=1, max_length=16)]


#: A postal code: letters, digits (Persian digits allowed), spaces and dashes.
PostalCode = Annotated[
    str, Field(min_length=1, max_length=16, pattern="^[0-9A-Za-z\u06f0-\u06f9\u0660-\u0669 -]+$")
]


#: An Iranian postal code in JSON Schema: ten digits, Persian or Arabic-Indic allowed.
IR_POSTAL_CODE = f"^[{DIGIT}]{{10}}$"


class Address(CanonicalModel):
    """A postal address; in Iran (``country`` "IR", the default) postal codes have 10 digits."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"country": {"const": "IR"}}},
            "then": {
                "properties": {
                    "postal_code": {
                        "anyOf": [{"type": "null"}, {"type": "string", "pattern": IR_POSTAL_CODE}]
                    }
                }
            },
        }
    )

    line1: Name
    line2: ShortText | None = None
    city: ShortText | None = None
    province: ShortText | None = None
    postal_code: PostalCode | None = None
    country: CountryCode = "IR"

    @model_validator(mode="after")
    def _iranian_postal_code(self) -> Self:
        """Require ten digits (Persian digits allowed) in an Iranian postal code."""
        if self.country == "IR" and self.postal_code is not None:
            digits = normalize_digits(self.postal_code)
            if not (len(digits) == 10 and digits.isascii() and digits.isdigit()):
                raise ValueError(
                    f"postal_code {self.postal_code!r} is not an Iranian postal code: "
                    "expected 10 digits"
                )
        return self


class Customer(CanonicalModel):
    """A customer: a person or an organisation we sell to.

    ``national_id`` is the person's national id (کد ملی, 10 digits) or the organisation's
    legal national id (شناسه ملی, 11 digits); ``economic_code`` is checked as described
    in :func:`core.locale.is_valid_economic_code` for the customer's ``type``. Ids are
    stored as sent (Persian digits stay Persian); lookups use their ASCII form.
    ``attributes`` are the organisation's custom fields, declared in the settings.
    """

    type: PartyType
    name: Name
    national_id: IdNumber | None = None
    economic_code: IdNumber | None = None
    registration_number: DigitString | None = None
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    emails: list[Email] = Field(default_factory=list, max_length=20)
    addresses: list[Address] = Field(default_factory=list, max_length=20)
    owner_id: RecordId | None = None
    status: CustomerStatus = "active"
    attributes: Attributes = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def phones_e164(self) -> list[str]:
        """``phones`` as the E.164 keys lookups and duplicate checks compare."""
        return phone_keys(self.phones)

    @model_validator(mode="after")
    def _check_ids(self) -> Self:
        """Validate the national id and economic code against the customer's type."""
        if self.national_id is not None:
            if self.type == "person" and not is_valid_national_id(self.national_id):
                raise ValueError(
                    f"national_id {self.national_id!r} is not a valid Iranian national id "
                    "(10 digits with a correct check digit)"
                )
            if self.type == "organization" and not is_valid_legal_national_id(self.national_id):
                raise ValueError(
                    f"national_id {self.national_id!r} is not a valid legal national id "
                    "of an organisation (11 digits with a correct check digit)"
                )
        if self.economic_code is not None and not is_valid_economic_code(
            self.economic_code, self.type
        ):
            expected = "national id" if self.type == "person" else "legal national id"
            raise ValueError(
                f"economic_code {self.economic_code!r} is not a valid economic code: expected "
                f"12 digits or the {expected} of this {self.type}"
            )
        return self


class Contact(CanonicalModel):
    """A person at an organisation customer whom we talk to."""

    customer_id: RecordId
    name: Name
    job_title: ShortText | None = None
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    emails: list[Email] = Field(default_factory=list, max_length=20)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def phones_e164(self) -> list[str]:
        """``phones`` as the E.164 keys lookups and duplicate checks compare."""
        return phone_keys(self.phones)


class Agent(CanonicalModel):
    """A salesperson or support agent to whom leads, customers and tasks are assigned.

    ``languages`` are ISO 639 codes (``fa``, ``en``); ``skills`` and ``provinces`` are the
    labels assignment rules match on; ``time_zone`` is an IANA name.
    """

    name: Name
    email: Email | None = None
    phone: Phone | None = None
    team: ShortText | None = None
    active: StrictBool = True
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    skills: list[ShortText] = Field(default_factory=list, max_length=100)
    provinces: list[ShortText] = Field(default_factory=list, max_length=100)
    time_zone: TimeZoneName = "Asia/Tehran"


__all__ = ["Address", "Agent", "Contact", "Customer", "CustomerStatus", "PartyType"]
