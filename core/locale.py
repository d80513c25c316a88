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

#: Characters people put between the digits of a phone number.
_PHONE_SEPARATORS = re.compile(r"[\s\-.()/\u200c\u200e\u200f]")
_IRAN_CODE = "98"


def normalize_phone(s: str) -> str:
    """Return the E.164 form (``+989121234567``) of a phone number written any common way.

    Iranian numbers are accepted with the trunk prefix (``09121234567``,
    ``02188881234``), without it (``9121234567``), with the country code (``+98 912 ...``,
    ``0098-912-...``, ``989121234567``), in Persian or Arabic-Indic digits, and with
    spaces, dashes, dots, slashes or parentheses between the digits. A number with
    another country code (``+44...`` or ``0044...``) is kept as E.164 once its length is
    plausible (8 to 15 digits). A local number without its area code cannot be placed and
    is refused. Raises ValueError, saying what is wrong, for anything that is not a phone
    number.
    """
    if not isinstance(s, str):
        raise ValueError("a phone number must be text")
    compact = _PHONE_SEPARATORS.sub("", normalize_digits(s.strip()))
    if not compact:
        raise ValueError("the phone number is empty")
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(
            f"{s!r} is not a phone number: only digits, an optional leading +, "
            "spaces, dashes, dots and parentheses are allowed"
        )
    if not plus and digits.startswith("00"):
        plus, digits = True, digits[2:]
    if plus:
        if digits.startswith(_IRAN_CODE):
            return _iranian(digits[len(_IRAN_CODE) :], s)
        return _international(digits, s)
    if len(digits) == 12 and digits.startswith(_IRAN_CODE):
        return _iranian(digits[len(_IRAN_CODE) :], s)
    if digits.startswith("0"):
        return _iranian(digits[1:], s)
    return _iranian(digits, s)


def _iranian(national: str, original: str) -> str:
    """Return ``+98`` and the 10-digit national number, checking that it can be one."""
    if len(national) == 11 and national.startswith("0"):
        national = national[1:]
    if len(national) == 10 and national[0] != "0":
        return f"+{_IRAN_CODE}{national}"
    if 0 < len(national) < 10:
        raise ValueError(
            f"{original!r} is too short for an Iranian phone number: a mobile number "
            "has 11 digits (09121234567) and a landline needs its area code "
            "(02188881234)"
        )
    raise ValueError(
        f"{original!r} is not an Iranian phone number: expected 10 digits after "
        "+98 or 11 digits starting with 0"
    )


def _international(digits: str, original: str) -> str:
    """Return ``+`` and ``digits`` if they can be an E.164 number of another country."""
    if digits.startswith("0"):
        raise ValueError(f"{original!r} is not a phone number: a country code never starts with 0")
    if not 8 <= len(digits) <= 15:
        raise ValueError(
            f"{original!r} is not a phone number: an international number has "
            "8 to 15 digits after the +"
        )
    return f"+{digits}"


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

#: Jalali years at which the 33-year leap pattern restarts, after K. M. Borkowski's
#: "The Persian calendar for 3000 years" (1996), the rule most Jalali libraries use. It
#: is defined for Jalali years 1 to 3177, which is the range these functions accept.
_JALALI_BREAKS = (
    -61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210,
    1635, 2060, 2097, 2192, 2262, 2324, 2394, 2456, 3178,
)  # fmt: skip
_FIRST_JALALI_YEAR = 1
_LAST_JALALI_YEAR = _JALALI_BREAKS[-1] - 1


def _jalali_year_info(jy: int) -> tuple[bool, date]:
    """Return whether Jalali year ``jy`` is a leap year, and the Gregorian date it starts on."""
    if not _FIRST_JALALI_YEAR <= jy <= _LAST_JALALI_YEAR:
        raise ValueError(
            f"Jalali year {jy} is outside the supported range "
            f"{_FIRST_JALALI_YEAR}..{_LAST_JALALI_YEAR}"
        )
    gy = jy + 621
    leap_days = -14
    previous = _JALALI_BREAKS[0]
    jump = 0
    for brk in _JALALI_BREAKS[1:]:
        jump = brk - previous
        if jy < brk:
            break
        leap_days += jump // 33 * 8 + jump % 33 // 4
        previous = brk
    n = jy - previous
    leap_days += n // 33 * 8 + (n % 33 + 3) // 4
    if jump % 33 == 4 and jump - n == 4:
        leap_days += 1
    gregorian_leap_days = gy // 4 - (gy // 100 + 1) * 3 // 4 - 150
    march_day = 20 + leap_days - gregorian_leap_days
    if jump - n < 6:
        n = n - jump + (jump + 4) // 33 * 33
    cycle_position = ((n + 1) % 33 - 1) % 4 if (n + 1) % 33 else 4
    return cycle_position == 0, date(gy, 3, march_day)


def is_jalali_leap_year(jy: int) -> bool:
    """Tell whether Jalali year ``jy`` has 366 days (Esfand has 30 days instead of 29)."""
    return _jalali_year_info(jy)[0]


def _jalali_month_length(jy: int, jm: int) -> int:
    """Return the number of days of month ``jm`` of Jalali year ``jy``."""
    if jm <= 6:
        return 31
    if jm <= 11:
        return 30
    return 30 if is_jalali_leap_year(jy) else 29


def from_jalali(jy: int, jm: int, jd: int) -> date:
    """Return the Gregorian date of Jalali ``jy/jm/jd``; ValueError if that day does not exist."""
    if not 1 <= jm <= 12:
        raise ValueError(f"Jalali month {jm} does not exist: months run from 1 to 12")
    _, new_year = _jalali_year_info(jy)
    if not 1 <= jd <= _jalali_month_length(jy, jm):
        raise ValueError(
            f"Jalali date {jy}/{jm}/{jd} does not exist: month {jm} has "
            f"{_jalali_month_length(jy, jm)} days"
        )
    day_of_year = (jm - 1) * 31 - max(jm - 7, 0) + jd - 1
    return date.fromordinal(new_year.toordinal() + day_of_year)


def to_jalali(d: date) -> tuple[int, int, int]:
    """Return the Jalali (year, month, day) of the Gregorian date ``d``."""
    jy = d.year - 621
    _, new_year = _jalali_year_info(jy)
    if d < new_year:
        jy -= 1
        _, new_year = _jalali_year_info(jy)
    day_of_year = d.toordinal() - new_year.toordinal()
    if day_of_year < 186:
        return jy, day_of_year // 31 + 1, day_of_year % 31 + 1
    day_of_year -= 186
    return jy, day_of_year // 30 + 7, day_of_year % 30 + 1


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
