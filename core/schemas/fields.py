"""Reusable field types of the canonical schemas: text, phones, emails, money, times.

Every type here validates its value and keeps it exactly as sent: a phone number is
checked with :func:`core.locale.normalize_phone` but stored in the caller's spelling, and
the normalised forms are computed again where they are needed (the lookup columns).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field

from core.locale import normalize_digits, normalize_phone


def _not_blank(value: str) -> str:
    """Refuse text made only of whitespace; return it unchanged otherwise."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: Required free text: a name, a title, a subject. Kept exactly as sent.
Name = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(_not_blank)]

#: Short free text such as a job title, a city or a stage name.
ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]

#: Required free text of a paragraph or so: a reason, a description.
Description = Annotated[str, Field(min_length=1, max_length=10_000), AfterValidator(_not_blank)]

#: Long free text such as a message body or a note; may be empty.
LongText = Annotated[str, Field(max_length=100_000)]


def _check_phone(value: str) -> str:
    """Check that ``value`` is a phone number (see normalize_phone) and return it unchanged."""
    normalize_phone(value)
    return value


#: A phone number in any common spelling, stored as sent; see core.locale.normalize_phone.
Phone = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_check_phone)]

#: One ``local@domain.tld`` address: no spaces, one ``@``, a dot in the domain. Checking
#: deliverability is the mail server's job; this refuses what is plainly not an address.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _check_email(value: str) -> str:
    """Refuse text that is not shaped like an email address; return it unchanged otherwise."""
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


#: An email address, stored as sent (lookups compare it lower-cased).
Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_check_email)]


def _check_time_zone(value: str) -> str:
    """Refuse names that are not IANA time zones, such as ``Asia/Tehran``."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as 'Asia/Tehran'") from None
    return value


#: An IANA time zone name.
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_check_time_zone)]


#: A point in time with its offset. A naive datetime is refused ("Input should have
#: timezone info"): the same wall-clock time means different instants in Tehran and UTC.
Timestamp = AwareDatetime

#: A non-negative exact amount of money (prices, budgets, discounts, taxes).
NonNegativeAmount = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=4)]

#: A quantity of goods: exact and strictly positive.
Quantity = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=4)]

#: A whole percentage from 0 to 100 (probability, progress, scores).
Percent = Annotated[int, Field(ge=0, le=100)]


def _check_digits(value: str) -> str:
    """Refuse values that are not made of digits (ASCII, Persian or Arabic-Indic)."""
    text = normalize_digits(value)
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{value!r} must contain digits only")
    return value


#: A number written with digits only, such as a registration number; Persian digits allowed.
DigitString = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_check_digits)]

#: ISO 3166-1 alpha-2 country code.
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]

#: ISO 639 language code, such as ``fa`` or ``en``.
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]

__all__ = [
    "CountryCode",
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
