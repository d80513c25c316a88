"""Tests of the Iranian locale helpers."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from random import Random

import phonenumbers
import pytest

from core.locale import (
    format_amount,
    format_jalali,
    from_jalali,
    is_jalali_leap_year,
    is_valid_economic_code,
    is_valid_legal_national_id,
    is_valid_national_id,
    normalize_digits,
    normalize_phone,
    normalize_text,
    rials_to_toman,
    search_text,
    to_jalali,
    to_persian_digits,
)

# ----------------------------------------------------------------------- digits, text


def test_normalize_digits_maps_persian_and_arabic_indic_digits() -> None:
    assert normalize_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert normalize_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalize_digits("کد ۱۲۳ و ٤٥ and 6") == "کد 123 و 45 and 6"


def test_to_persian_digits_is_the_inverse_for_ascii_digits() -> None:
    assert to_persian_digits("1403/01/01") == "۱۴۰۳/۰۱/۰۱"
    assert normalize_digits(to_persian_digits("0123456789")) == "0123456789"


def test_normalize_text_unifies_arabic_and_persian_letters() -> None:
    assert normalize_text("علي") == normalize_text("علی") == "علی"
    assert normalize_text("موسى") == "موسی"
    assert normalize_text("كريم") == "کریم"


def test_normalize_text_removes_tatweel_and_diacritics() -> None:
    assert normalize_text("مُحَمَّد") == "محمد"
    assert normalize_text("تهـــران") == "تهران"


def test_normalize_text_turns_zwnj_into_space_and_collapses_whitespace() -> None:
    assert normalize_text("  علی\u200cرضا \t\n  کریمی ") == "علی رضا کریمی"


def test_normalize_text_folds_case_digits_and_presentation_forms() -> None:
    assert normalize_text("ACME Co. ۱۲۳") == "acme co. 123"
    assert normalize_text("\ufed9\ufeea") == normalize_text("که")  # presentation forms of ک ه


def test_search_text_joins_non_empty_parts() -> None:
    assert search_text("علي", None, "", "+989121234567") == "علی +989121234567"
    assert search_text() == ""


# ----------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "spelling",
    [
        "09121234567",
        "9121234567",
        "+989121234567",
        "+98 912 123 4567",
        "0098-912-123-4567",
        "989121234567",
        "0912.123.4567",
        "(0912) 123-4567",
        "+98 (0) 912 123 4567",
        "۰۹۱۲۱۲۳۴۵۶۷",
        "٠٩١٢ ١٢٣ ٤٥٦٧",
        "+۹۸ ۹۱۲ 123 ٤٥٦٧",
        " 0912 123 4567 ",
    ],
)
def test_normalize_phone_iranian_mobile_spellings(spelling: str) -> None:
    assert normalize_phone(spelling) == "+989121234567"


@pytest.mark.parametrize(
    "spelling",
    ["(021) 8888-1234", "02188881234", "021-88881234", "+98 21 8888 1234", "۰۲۱ ۸۸۸۸ ۱۲۳۴"],
)
def test_normalize_phone_iranian_landline_spellings(spelling: str) -> None:
    assert normalize_phone(spelling) == "+982188881234"


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+971 50 123 4567", "+971501234567"),
    ],
)
def test_normalize_phone_keeps_other_country_codes(spelling: str, expected: str) -> None:
    assert normalize_phone(spelling) == expected


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("0912-123-4567 ext. 12", "+989121234567;ext=12"),
        ("09121234567 x12", "+989121234567;ext=12"),
        ("02188881234#7", "+982188881234;ext=7"),
        ("۰۲۱ ۸۸۸۸ ۱۲۳۴ داخلی ۱۲", "+982188881234;ext=12"),
    ],
)
def test_normalize_phone_keeps_an_extension(spelling: str, expected: str) -> None:
    assert normalize_phone(spelling) == expected


@pytest.mark.parametrize(
    "spelling",
    [
        "tel:+98-912-123-4567",
        "\u200f0912\u200c123\u200e4567",  # direction marks and ZWNJ from a pasted number
        "0912\u0640123\u06404567",  # tatweel
        "0912\u00a0123\u00a04567",  # no-break spaces
        "\uff10\uff19\uff11\uff12\uff11\uff12\uff13\uff14\uff15\uff16\uff17",  # full width
        "00989121234567",
    ],
)
def test_normalize_phone_reads_pasted_and_uri_spellings(spelling: str) -> None:
    assert normalize_phone(spelling) == "+989121234567"


def test_normalize_phone_follows_the_allocated_ranges() -> None:
    # libphonenumber's Iranian plan has short fixed-line numbers in Tehran, which a
    # length rule alone would refuse, and mobile prefixes no length rule can tell apart.
    assert normalize_phone("021 1234") == "+98211234"
    assert normalize_phone("09901234567") == "+989901234567"
    with pytest.raises(ValueError, match="not an Iranian phone number"):
        normalize_phone("09501234567")


def test_normalize_phone_reads_mobile_numbers_as_libphonenumber_does() -> None:
    # Iranian mobile numbers take a short path: it must agree with parsing, valid
    # ranges and unallocated ones alike, for both common spellings and an extension.
    rng = Random(15)
    for _ in range(3000):
        digits = "9" + "".join(rng.choice("0123456789") for _ in range(9))
        parsed = phonenumbers.parse("0" + digits, "IR")
        if phonenumbers.is_valid_number(parsed):
            expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            assert normalize_phone("0" + digits) == expected
            assert normalize_phone("+98" + digits) == expected
            assert normalize_phone(f"0{digits} x7") == f"{expected};ext=7"
        else:
            with pytest.raises(ValueError, match="not an Iranian phone number"):
                normalize_phone("0" + digits)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "not a phone number"),
        ("++989121234567", "not a phone number"),
        ("0912+1234567", "not a phone number"),
        ("88881234", "area code"),
        ("0912123456", "too short"),
        ("091212345678", "not an Iranian phone number"),
        ("+98 0 21 123", "too short"),
        ("+98 012 345 6789", "too short"),  # the 0 is read as the trunk prefix
        ("09501234567", "not an Iranian phone number"),  # no operator has 0950
        ("+44 12", r"too short for a number of \+44"),
        ("+1234567890123456", r"too long for a number of \+1"),
        ("+1 011 555 0100", r"\+1 has allocated no such number"),
        ("+999 123 4567", "not a phone number"),
        ("0912abc4567", "not a phone number"),  # a keypad reading would make it valid
        ("09121234567x", "not a phone number"),
        ("+0123456789", "country code"),
        ("۰۹۱۲abc۴۵۶۷", "not a phone number"),
    ],
)
def test_normalize_phone_refuses_what_is_not_a_phone_number(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_phone(bad)


# ---------------------------------------------------------------------------------- ids


@pytest.mark.parametrize("valid", ["0013542419", "۰۰۱۳۵۴۲۴۱۹", "٠٠١٣٥٤٢٤١٩", "4608968882"])
def test_valid_national_ids(valid: str) -> None:
    assert is_valid_national_id(valid)


@pytest.mark.parametrize(
    "invalid",
    [
        "0013542418",  # wrong check digit
        "4608968881",
        "1111111111",  # passes the checksum but is never issued
        "0000000000",
        "013542419",  # nine digits
        "00135424190",
        "001354241a",
        "001-354-2419",
        "",
    ],
)
def test_invalid_national_ids(invalid: str) -> None:
    assert not is_valid_national_id(invalid)


@pytest.mark.parametrize("valid", ["10380284790", "۱۰۳۸۰۲۸۴۷۹۰", "14007650912"])
def test_valid_legal_national_ids(valid: str) -> None:
    assert is_valid_legal_national_id(valid)


@pytest.mark.parametrize(
    "invalid",
    [
        "10380284791",  # wrong check digit
        "10300000000",  # zero serial part
        "1038028479",  # ten digits
        "103802847900",
        "1038028479x",
        "",
    ],
)
def test_invalid_legal_national_ids(invalid: str) -> None:
    assert not is_valid_legal_national_id(invalid)


def test_economic_code_forms() -> None:
    assert is_valid_economic_code("411111111111")  # legacy 12-digit code
    assert is_valid_economic_code("۴۱۱۱۱۱۱۱۱۱۱۱")
    assert is_valid_economic_code("0013542419")  # a person's national id
    assert is_valid_economic_code("10380284790")  # an organisation's legal national id
    assert is_valid_economic_code("0013542419", "person")
    assert is_valid_economic_code("10380284790", "organization")
    assert is_valid_economic_code("411111111111", "organization")


def test_economic_code_refuses_the_other_partys_id_and_bad_shapes() -> None:
    assert not is_valid_economic_code("0013542419", "organization")
    assert not is_valid_economic_code("10380284790", "person")
    assert not is_valid_economic_code("0013542418")
    assert not is_valid_economic_code("12345")
    assert not is_valid_economic_code("41111111111a")
    assert not is_valid_economic_code("")


# ----------------------------------------------------------------------------- Jalali


@pytest.mark.parametrize(
    ("gregorian", "jalali"),
    [
        (date(2024, 3, 20), (1403, 1, 1)),
        (date(2025, 3, 21), (1404, 1, 1)),
        (date(2025, 3, 20), (1403, 12, 30)),  # 1403 is a leap year
        (date(2024, 3, 19), (1402, 12, 29)),  # 1402 is not
        (date(2021, 3, 20), (1399, 12, 30)),  # 1399 is a leap year
        (date(2021, 3, 21), (1400, 1, 1)),
        (date(2000, 1, 1), (1378, 10, 11)),
        (date(1979, 2, 11), (1357, 11, 22)),
        (date(2024, 9, 22), (1403, 7, 1)),  # first day of the 30-day months
        (date(2024, 9, 21), (1403, 6, 31)),
        (date(2029, 3, 20), (1408, 1, 1)),
    ],
)
def test_known_jalali_dates(gregorian: date, jalali: tuple[int, int, int]) -> None:
    assert to_jalali(gregorian) == jalali
    assert from_jalali(*jalali) == gregorian


def test_jalali_leap_years() -> None:
    leap = [y for y in range(1395, 1415) if is_jalali_leap_year(y)]
    assert leap == [1395, 1399, 1403, 1408, 1412]


@pytest.mark.parametrize(
    ("year", "leap", "new_year"),
    [
        # Far from today the 2820-year arithmetic rule (jdatetime) and the 33-year
        # break table of the astronomical calendar (Borkowski) disagree on some leap
        # years; crm-sync follows jdatetime. From 1201 to 1633 both agree.
        (1, True, date(622, 3, 21)),
        (4, False, date(625, 3, 21)),
        (1634, True, date(2255, 3, 21)),
        (1635, False, date(2256, 3, 21)),
        (9377, True, date(9998, 3, 20)),
    ],
)
def test_jalali_leap_years_far_from_today(year: int, leap: bool, new_year: date) -> None:
    assert is_jalali_leap_year(year) is leap
    assert from_jalali(year, 1, 1) == new_year
    last = 30 if leap else 29
    assert to_jalali(from_jalali(year, 12, last)) == (year, 12, last)
    with pytest.raises(ValueError, match=f"month 12 has {last} days"):
        from_jalali(year, 12, last + 1)


def test_jalali_round_trip_over_two_centuries() -> None:
    day = date(1900, 1, 1)
    previous = to_jalali(day - timedelta(days=1))
    while day < date(2100, 1, 1):
        jalali = to_jalali(day)
        assert from_jalali(*jalali) == day
        assert jalali > previous
        previous = jalali
        day += timedelta(days=1)


def test_format_jalali() -> None:
    assert format_jalali(date(2024, 3, 20)) == "1403/01/01"
    assert format_jalali(date(2024, 12, 31)) == "1403/10/11"
    assert format_jalali(date(2024, 3, 20), persian_digits=True) == "۱۴۰۳/۰۱/۰۱"


@pytest.mark.parametrize(
    ("y", "m", "d", "message"),
    [
        (1402, 12, 30, "does not exist"),  # not a leap year
        (1403, 7, 31, "does not exist"),
        (1403, 13, 1, "month 13"),
        (1403, 0, 1, "month 0"),
        (1403, 1, 0, "does not exist"),
        (0, 1, 1, "outside the supported range"),
        (9378, 1, 1, "outside the supported range"),
    ],
)
def test_from_jalali_refuses_days_that_do_not_exist(y: int, m: int, d: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_jalali(y, m, d)


def test_to_jalali_refuses_dates_before_the_calendar() -> None:
    with pytest.raises(ValueError, match="outside the supported range"):
        to_jalali(date(600, 1, 1))


# ------------------------------------------------------------------------------ money


def test_rials_to_toman_is_exact() -> None:
    assert rials_to_toman(Decimal("1250000")) == Decimal("125000")
    assert rials_to_toman(Decimal("15")) == Decimal("1.5")
    assert rials_to_toman(Decimal("12345678901234567890.1234")) == Decimal(
        "1234567890123456789.01234"
    )
    assert rials_to_toman(Decimal("-10")) == Decimal("-1")


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), 10, 1.5])
def test_money_helpers_refuse_non_decimals(bad: object) -> None:
    with pytest.raises(ValueError, match="finite Decimal"):
        rials_to_toman(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite Decimal"):
        format_amount(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "kwargs", "expected"),
    [
        (Decimal("1250000"), {}, "1,250,000"),
        (Decimal("1250000"), {"toman": True}, "125,000"),
        (Decimal("1250005"), {"toman": True}, "125,000.5"),
        (Decimal("999"), {}, "999"),
        (Decimal("0"), {}, "0"),
        (Decimal("-0.00"), {}, "0"),
        (Decimal("-1234.5000"), {}, "-1,234.5"),
        (Decimal("1E+3"), {}, "1,000"),
        (Decimal("12345678901234567890.1234"), {}, "12,345,678,901,234,567,890.1234"),
        (Decimal("1234567.25"), {"persian_digits": True}, "۱٬۲۳۴٬۵۶۷٫۲۵"),
        (Decimal("1250000"), {"toman": True, "persian_digits": True}, "۱۲۵٬۰۰۰"),
    ],
)
def test_format_amount(amount: Decimal, kwargs: dict[str, bool], expected: str) -> None:
    assert format_amount(amount, **kwargs) == expected
