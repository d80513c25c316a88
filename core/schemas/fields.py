"""Reusable field types of the canonical schemas: text, phones, emails, money, times.

Every type here validates its value and keeps it exactly as sent: a phone number is
checked with :func:`core.locale.normalize_phone` but stored in the caller's spelling, and
the normalised forms are computed again where they are needed (the lookup columns).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationInfo,
    WithJsonSchema,
)

from core.locale import normalize_digits, normalize_phone
from core.schemas.base import from_store


def _not_blank(value: str) -> str:
    """Refuse text made only of whitespace; return it unchanged otherwise."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: Whitespace as Python's ``str.strip`` sees it, in a regular expression that JSON
#: Schema (ECMA-262) reads the same way: its ``\s`` lacks U+001C-U+001F and U+0085.
SPACE = r"\s\x1c-\x1f\x85"

#: Text that is not blank, in the OpenAPI document: a character that is not whitespace,
#: and no NUL anywhere (core.json_limits refuses NUL in every text).
NOT_BLANK_PATTERN = rf"^[^\x00]*[^{SPACE}\x00][^\x00]*$"

#: The digits normalize_digits reads: ASCII, Persian and Arabic-Indic.
DIGIT = "0-9\u06f0-\u06f9\u0660-\u0669"


def _required_text(max_length: int) -> Any:
    """The constraints of required free text of at most ``max_length`` characters."""
    return Field(
        min_length=1, max_length=max_length, json_schema_extra={"pattern": NOT_BLANK_PATTERN}
    )


#: Required free text: a name, a title, a subject. Kept exactly as sent.
Name = Annotated[str, _required_text(300), AfterValidator(_not_blank)]

#: Short free text such as a job title, a city or a stage name.
ShortText = Annotated[str, _required_text(200), AfterValidator(_not_blank)]

#: Required free text of a paragraph or so: a reason, a description.
Description = Annotated[str, _required_text(10_000), AfterValidator(_not_blank)]

#: Long free text such as a message body or a note; may be empty.
LongText = Annotated[str, Field(max_length=100_000)]


def _check_phone(value: str, info: ValidationInfo) -> str:
    """Check that ``value`` is a phone number (see normalize_phone) and return it unchanged.

    A stored record read back (``context=STORED``) was checked when it was written.
    """
    if not from_store(info):
        normalize_phone(value)
    return value


def _iranian_mobile_pattern() -> str:
    """The spelling of a phone number the OpenAPI document asks for.

    An Iranian mobile number: +98 or 0, then ten digits in a range libphonenumber knows
    as allocated. Every other spelling normalize_phone reads (Persian digits, spaces,
    dashes, landlines, other countries' numbers) is accepted too.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("IR")
    assert metadata is not None and metadata.mobile is not None
    national = metadata.mobile.national_number_pattern
    assert national is not None
    # ASCII digits: Python's \d also matches other scripts' digits (ECMA-262's does not).
    return f"^([+]98|0)({national.replace(chr(92) + 'd', '[0-9]')})$"


PHONE_PATTERN = _iranian_mobile_pattern()

#: A phone number in any common spelling, stored as sent; see core.locale.normalize_phone.
Phone = Annotated[
    str,
    Field(min_length=1, max_length=40),
    AfterValidator(_check_phone),
    WithJsonSchema({"type": "string", "pattern": PHONE_PATTERN}, mode="validation"),
]


def phone_keys(phones: list[str]) -> list[str]:
    """The E.164 keys of ``phones`` (``+989121234567``), in their order.

    A record keeps its phones as typed (``۰۹۱۲ ۱۲۳ ۴۵۶۷``); lookups, duplicate checks
    and search compare these keys. Records show them as the computed ``phones_e164``.
    The schema refuses a phone that has no key, so every phone has one, except in a
    record stored before a rule tightened: such a phone has no key here (reading the
    record must not fail), and a plugin that needs every phone checks them itself.
    """
    keys = []
    for phone in phones:
        try:
            keys.append(normalize_phone(phone))
        except ValueError:
            continue
    return keys


#: One ``local@domain.tld`` address: no spaces, one ``@``, a dot in the domain. Checking
#: deliverability is the mail server's job; this refuses what is plainly not an address:
#: whitespace, control characters (C0, DEL, C1) and NUL are in no part of one.
_NOT_IN_EMAIL = rf"@{SPACE}\x00-\x1f\x7f-\x9f\ufeff"
_EMAIL = re.compile(rf"^[^{_NOT_IN_EMAIL}]+@[^.{_NOT_IN_EMAIL}]+([.][^.{_NOT_IN_EMAIL}]+)+$")


def _check_email(value: str) -> str:
    """Refuse text that is not shaped like an email address; return it unchanged otherwise."""
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


#: An email address, stored as sent (lookups compare it lower-cased).
Email = Annotated[
    str,
    Field(min_length=3, max_length=254, json_schema_extra={"pattern": _EMAIL.pattern}),
    AfterValidator(_check_email),
]


def _check_time_zone(value: str) -> str:
    """Refuse names that are not IANA time zones, such as ``Asia/Tehran``."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as 'Asia/Tehran'") from None
    return value


def _time_zone_names(schema: dict[str, Any]) -> None:
    """List the time zones this machine knows in the field's JSON Schema."""
    schema["enum"] = sorted(available_timezones())


#: An IANA time zone name.
TimeZoneName = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra=_time_zone_names),
    AfterValidator(_check_time_zone),
]


def _written_as_text(value: Any) -> Any:
    """Refuse a number (or a boolean) where a date or a time is expected.

    Pydantic would read ``0`` as 1970-01-01 and ``1e10`` as a date in 2286; a JSON
    client writes dates and times as ISO 8601 text, so a number is a mistake.
    """
    if isinstance(value, int | float | Decimal):
        raise ValueError("a date or a time is written as ISO 8601 text, not as a number")
    return value


#: A point in time with its offset, written as ISO 8601 text. A naive datetime is refused
#: ("Input should have timezone info"): the same wall-clock time means different
#: instants in Tehran and UTC.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_written_as_text)]

#: A calendar date, written as ISO 8601 text (``2024-03-20``).
Day = Annotated[date, BeforeValidator(_written_as_text)]

#: How a client should send an amount: a decimal string of at most 16 digits before the
#: point and 4 after (a JSON number is accepted too, but a float may not be exact).
AMOUNT_PATTERN = r"^[0-9]{1,16}([.][0-9]{1,4})?$"

#: The same for a quantity, which is more than zero.
QUANTITY_PATTERN = r"^([1-9][0-9]{0,15}([.][0-9]{1,4})?|0[.][0-9]{0,3}[1-9])$"

#: A non-negative exact amount of money (prices, budgets, discounts, taxes).
NonNegativeAmount = Annotated[
    Decimal,
    Field(ge=0, max_digits=20, decimal_places=4),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN}, mode="validation"),
]

#: A quantity of goods: exact and strictly positive.
Quantity = Annotated[
    Decimal,
    Field(gt=0, max_digits=20, decimal_places=4),
    WithJsonSchema({"type": "string", "pattern": QUANTITY_PATTERN}, mode="validation"),
]

#: A whole percentage from 0 to 100 (probability, progress, scores).
Percent = Annotated[int, Field(ge=0, le=100)]


def _check_digits(value: str) -> str:
    """Refuse values that are not made of digits (ASCII, Persian or Arabic-Indic)."""
    text = normalize_digits(value)
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{value!r} must contain digits only")
    return value


#: A number written with digits only, such as a registration number; Persian digits allowed.
DigitString = Annotated[
    str,
    Field(min_length=1, max_length=32, json_schema_extra={"pattern": f"^[{DIGIT}]+$"}),
    AfterValidator(_check_digits),
]

#: ISO 3166-1 alpha-2 country code.
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]

#: ISO 639 language code, such as ``fa`` or ``en``.
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]

__all__ = [
    "CountryCode",
    "Day",
    "Description",
    "DigitString",
    "Email",
    "LanguageCode",
    "LongText",
    "Name",
    "NonNegativeAmount",
    "Percent",
    "Phone",
    "Quantity",
    "ShortText",
    "TimeZoneName",
    "Timestamp",
]
