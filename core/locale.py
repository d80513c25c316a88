"""Iranian locale helpers: digits, Persian text, phones, national ids, Jalali dates, Rials.

These functions serve matching, search, validation and display. None of them is applied
to stored text: a record keeps every string exactly as the caller sent it, and the
normalised forms live only in lookup columns and in comparisons.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Literal

import jdatetime
import phonenumbers

PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"

_DIGITS_TO_ASCII = str.maketrans(PERSIAN_DIGITS + ARABIC_INDIC_DIGITS, "0123456789" * 2)
_ASCII_TO_PERSIAN = str.maketrans("0123456789", PERSIAN_DIGITS)

#: Arabic letter forms that Persian text should use the Persian letter for, plus the
#: zero-width non-joiner (a space for matching) and invisible marks (dropped).
_TEXT_MAP = str.maketrans(
    {
        "\u064a": "\u06cc",  # ARABIC LETTER YEH -> FARSI YEH
        "\u0649": "\u06cc",  # ARABIC LETTER ALEF MAKSURA -> FARSI YEH
        "\u0643": "\u06a9",  # ARABIC LETTER KAF -> KEHEH
        "\u200c": " ",  # ZERO WIDTH NON-JOINER
        "\u0640": None,  # TATWEEL
        "\u200d": None,  # ZERO WIDTH JOINER
        "\u200e": None,  # LEFT-TO-RIGHT MARK
        "\u200f": None,  # RIGHT-TO-LEFT MARK
    }
)

#: Arabic diacritics (harakat, tanween, shadda, sukun, small high marks, superscript alef).
_DIACRITICS = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]"
)
_WHITESPACE = re.compile(r"\s+")


def normalize_digits(s: str) -> str:
    """Return ``s`` with Persian and Arabic-Indic digits replaced by ASCII digits 0-9."""
    return s.translate(_DIGITS_TO_ASCII)


def to_persian_digits(s: str) -> str:
    """Return ``s`` with ASCII digits written as Persian digits, for Persian views and exports."""
    return s.translate(_ASCII_TO_PERSIAN)


def normalize_text(s: str) -> str:
    """Return the matching form of ``s``, so that spellings a reader sees as equal compare equal.

    Applies NFKC (which also folds Arabic presentation forms), turns Persian and
    Arabic-Indic digits into ASCII, writes Arabic ي/ى as ی and ك as ک, removes tatweel,
    Arabic diacritics and invisible direction marks, turns the zero-width non-joiner into
    a space, case-folds, and collapses runs of whitespace into one space.
    """
    text = unicodedata.normalize("NFKC", s)
    text = normalize_digits(text).translate(_TEXT_MAP)
    text = _DIACRITICS.sub("", text)
    return _WHITESPACE.sub(" ", text.casefold()).strip()


def search_text(*parts: str | None) -> str:
    """Join the non-empty ``parts`` into one normalised, space-separated search string."""
    return normalize_text(" ".join(part for part in parts if part))


# --------------------------------------------------------------------------- phones

#: Characters people put between the digits of a phone number (tatweel included).
_PHONE_SEPARATORS = re.compile(r"[\s\-.()/\u0640]")
#: An extension written after the number: ``ext. 12``, ``x12``, ``#12``, ``داخلی ۱۲``.
_EXTENSION = re.compile(r"(?:ext\.?|extension|x|#|داخلی)\s*(\d{1,7})\s*$", re.IGNORECASE)
_IRAN_CODE = 98
_TOO_SHORT_FOR_IRAN = (
    "is too short for an Iranian phone number: a mobile number has 11 digits "
    "(09121234567) and a landline needs its area code (02188881234)"
)


def _iran_mobile() -> re.Pattern[str]:
    """``0`` or ``+98`` and an Iranian mobile number in a range libphonenumber knows.

    Such a number is valid and its E.164 form is ``+98`` and its ten digits, which is
    what parsing it with libphonenumber gives; matching it here is a tenth of the cost,
    and the most common spelling of a number a sync job maps. Anything else is parsed.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("IR")
    assert metadata is not None and metadata.mobile is not None
    national = metadata.mobile.national_number_pattern
    assert national is not None and metadata.mobile.possible_length == (10,)
    return re.compile(rf"(?:0|\+98)((?:{national}))", re.ASCII)


_IRAN_MOBILE = _iran_mobile()


def normalize_phone(s: str) -> str:
    """Return the E.164 form (``+989121234567``) of a phone number written any common way.

    Parsing and validation are libphonenumber's (the ``phonenumbers`` package), with Iran
    as the region of numbers written without a country code: ``09121234567``,
    ``9121234567``, ``+98 912 ...``, ``0098-912-...``, ``989121234567``, Persian or
    Arabic-Indic digits, separators and invisible marks between the digits, a ``tel:``
    prefix. A number must lie in a range its country has allocated. Letters are refused
    before parsing (the library would read them as a phone keypad), except a trailing
    extension (``ext. 12``, ``x12``, ``#12``, ``داخلی ۱۲``), which is kept as
    ``+982188881234;ext=12`` instead of being dropped. Raises ValueError, saying what is
    wrong, for anything that is not a phone number.
    """
    if not isinstance(s, str):
        raise ValueError("a phone number must be text")
    mobile = _IRAN_MOBILE.fullmatch(s)
    if mobile is not None:  # ASCII digits only: nothing below would change it
        return "+98" + mobile.group(1)
    folded = normalize_digits(unicodedata.normalize("NFKC", s))
    text = "".join(c for c in folded if unicodedata.category(c) != "Cf").strip()
    if text[:4].casefold() == "tel:":
        text = text[4:]
    extension = _EXTENSION.search(text)
    if extension is not None:
        text = text[: extension.start()]
    compact = _PHONE_SEPARATORS.sub("", text)
    if not compact:
        raise ValueError("the phone number is empty")
    if not re.fullmatch(r"\+?[0-9]+", compact):
        raise ValueError(
            f"{s!r} is not a phone number: only digits, an optional leading +, an "
            "extension, spaces, dashes, dots and parentheses are allowed"
        )
    if compact.startswith(("+0", "000")):
        raise ValueError(f"{s!r} is not a phone number: a country code never starts with 0")
    mobile = _IRAN_MOBILE.fullmatch(compact)
    if mobile is not None:
        e164 = "+98" + mobile.group(1)
        return f"{e164};ext={extension.group(1)}" if extension is not None else e164
    try:
        number = phonenumbers.parse(compact, "IR")
    except phonenumbers.NumberParseException as error:
        reason = re.sub(r"^\(\d+\) ", "", str(error))
        raise ValueError(f"{s!r} is not a phone number: {reason}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{s!r} {_invalid_reason(number)}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={extension.group(1)}" if extension is not None else e164


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    """Why libphonenumber does not accept ``number``, in words a person can act on."""
    reason = phonenumbers.is_possible_number_with_reason(number)
    code = number.country_code
    national = str(number.national_number)
    if code == _IRAN_CODE:
        if len(national) < 10 or reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
            return _TOO_SHORT_FOR_IRAN
        return (
            "is not an Iranian phone number: expected 10 digits after +98 or 11 digits "
            "starting with 0, in a range that is allocated"
        )
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return f"is not a phone number: +{code} is not a country code"
    if reason == phonenumbers.ValidationResult.TOO_SHORT:
        return f"is not a phone number: too short for a number of +{code}"
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        return f"is not a phone number: too long for a number of +{code}"
    return f"is not a phone number: +{code} has allocated no such number"


# ----------------------------------------------------------------------------- ids


def _ascii_digits(s: str, length: int) -> list[int] | None:
    """Return the digits of ``s`` (Persian digits allowed) if it is exactly ``length`` digits."""
    text = normalize_digits(s.strip()) if isinstance(s, str) else ""
    if len(text) != length or not text.isascii() or not text.isdigit():
        return None
    return [int(c) for c in text]


def is_valid_national_id(s: str) -> bool:
    """Tell whether ``s`` is a valid Iranian national id (کد ملی) of a person.

    Ten digits (leading zeros written out; Persian digits allowed) whose last digit is the
    check digit: with ``r`` the sum of the first nine digits weighted 10 down to 2,
    modulo 11, the check digit is ``r`` when ``r < 2`` and ``11 - r`` otherwise. Ids made
    of one repeated digit pass that test but are never issued, so they are refused.
    """
    digits = _ascii_digits(s, 10)
    if digits is None or len(set(digits)) == 1:
        return False
    remainder = sum(d * (10 - i) for i, d in enumerate(digits[:9])) % 11
    expected = remainder if remainder < 2 else 11 - remainder
    return digits[9] == expected


_LEGAL_ID_WEIGHTS = (29, 27, 23, 19, 17)


def is_valid_legal_national_id(s: str) -> bool:
    """Tell whether ``s`` is a valid national id (شناسه ملی) of an Iranian legal entity.

    Eleven digits (Persian digits allowed). With ``k`` the tenth digit plus 2, the check
    digit (the eleventh) is ``sum((digit_i + k) * w_i) mod 11`` over the first ten digits,
    weights 29, 27, 23, 19, 17 repeated, where a result of 10 counts as 0. Ids whose
    six-digit serial part (digits 4 to 9) is all zeros are never issued and are refused.
    """
    digits = _ascii_digits(s, 11)
    if digits is None or not any(digits[3:9]):
        return False
    shift = digits[9] + 2
    total = sum((d + shift) * _LEGAL_ID_WEIGHTS[i % 5] for i, d in enumerate(digits[:10]))
    check = total % 11
    return digits[10] == (0 if check == 10 else check)


def is_valid_economic_code(
    s: str, party_type: Literal["person", "organization"] | None = None
) -> bool:
    """Tell whether ``s`` can be the economic code (کد اقتصادی) of a taxpayer.

    Three forms are in use, and all are accepted: the legacy 12-digit code (its check
    rule is not published, so only its shape is checked); since the tax reform, a
    person's national id (10 digits, checksum verified); and an organisation's legal
    national id (11 digits, checksum verified). With ``party_type`` given, only the
    national-id form of that party is accepted besides the 12-digit code, so a company
    cannot carry a person's id. Persian digits are allowed.
    """
    if _ascii_digits(s, 12) is not None:
        return True
    if party_type in (None, "person") and is_valid_national_id(s):
        return True
    return party_type in (None, "organization") and is_valid_legal_national_id(s)


# ----------------------------------------------------------------------- calendar

#: The Jalali years ``jdatetime`` converts (its 2820-year arithmetic cycle, which agrees
#: with the astronomical calendar from 1201 to 1633 and differs on some leap years
#: outside that span: see tests/core/test_locale.py).
_FIRST_JALALI_YEAR = jdatetime.MINYEAR
_LAST_JALALI_YEAR = jdatetime.MAXYEAR


def _check_year(jy: int) -> None:
    if not _FIRST_JALALI_YEAR <= jy <= _LAST_JALALI_YEAR:
        raise ValueError(
            f"Jalali year {jy} is outside the supported range "
            f"{_FIRST_JALALI_YEAR}..{_LAST_JALALI_YEAR}"
        )


def is_jalali_leap_year(jy: int) -> bool:
    """Tell whether Jalali year ``jy`` has 366 days (Esfand has 30 days instead of 29)."""
    _check_year(jy)
    return bool(jdatetime.date(jy, 1, 1).isleap())


def from_jalali(jy: int, jm: int, jd: int) -> date:
    """Return the Gregorian date of Jalali ``jy/jm/jd``; ValueError if that day does not exist."""
    _check_year(jy)
    if not 1 <= jm <= 12:
        raise ValueError(f"Jalali month {jm} does not exist: months run from 1 to 12")
    try:
        day = jdatetime.date(jy, jm, jd)
    except ValueError:
        length = jdatetime.j_days_in_month[jm - 1] + (jm == 12 and is_jalali_leap_year(jy))
        raise ValueError(
            f"Jalali date {jy}/{jm}/{jd} does not exist: month {jm} has {length} days"
        ) from None
    gregorian: date = day.togregorian()
    return gregorian


def to_jalali(d: date) -> tuple[int, int, int]:
    """Return the Jalali (year, month, day) of the Gregorian date ``d``."""
    if d < from_jalali(_FIRST_JALALI_YEAR, 1, 1):
        raise ValueError(f"{d} is outside the supported range: the Jalali calendar starts later")
    day = jdatetime.date.fromgregorian(date=d)
    return day.year, day.month, day.day


def format_jalali(d: date, *, persian_digits: bool = False) -> str:
    """Return ``d`` as the Jalali date ``YYYY/MM/DD`` (``1403/01/01``), or in Persian digits."""
    jy, jm, jd = to_jalali(d)
    text = f"{jy:04d}/{jm:02d}/{jd:02d}"
    return to_persian_digits(text) if persian_digits else text


# ------------------------------------------------------------------------- money

_RIALS_PER_TOMAN = 10


def rials_to_toman(amount: Decimal) -> Decimal:
    """Return ``amount`` Rials in Toman (one Toman is ten Rials), exactly, with no rounding."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError("an amount must be a finite Decimal")
    return amount.scaleb(-1)


def format_amount(amount: Decimal, *, toman: bool = False, persian_digits: bool = False) -> str:
    """Return an exact Rial amount for display, such as ``1,250,000``, without a unit.

    Thousands are grouped; a fractional part is kept exactly, without trailing zeros.
    ``toman=True`` shows the amount in Toman; ``persian_digits=True`` uses Persian digits
    with the Arabic thousands (U+066C) and decimal (U+066B) separators. The caller adds the unit
    label in the language of its view. Raises ValueError for anything but a finite Decimal.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError("an amount must be a finite Decimal")
    value = rials_to_toman(amount) if toman else amount
    if value.is_zero():
        value = abs(value)
    result = f"{value:,f}"
    if "." in result:
        result = result.rstrip("0").rstrip(".")
    if persian_digits:
        result = to_persian_digits(result).replace(",", "\u066c").replace(".", "\u066b")
    return result


__all__ = [
    "ARABIC_INDIC_DIGITS",
    "PERSIAN_DIGITS",
    "format_amount",
    "format_jalali",
    "from_jalali",
    "is_jalali_leap_year",
    "is_valid_economic_code",
    "is_valid_legal_national_id",
    "is_valid_national_id",
    "normalize_digits",
    "normalize_phone",
    "normalize_text",
    "rials_to_toman",
    "search_text",
    "to_jalali",
    "to_persian_digits",
]
