import pytest

from core.locale import normalize_text
from lead_scoring.text import normalise_text, text_value

SAMPLES = [
    "كرج",
    "  تهران" + "\u200c" + "پارس  ",
    "مدير عامل",
    "۱۲۳ ٤٥٦",
    "Purchasing MANAGER",
    "مـــدیر",
    "مُدیر",
    "\u200fشرکت\u200e",
    "ﻛﺮﺝ",
    "",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_matches_core_normalisation(value: str) -> None:
    assert normalise_text(value) == normalize_text(value)


def test_text_value_treats_blank_and_non_text_as_missing() -> None:
    assert text_value(" \u200c ") is None
    assert text_value(None) is None
    assert text_value(12) is None
    assert text_value("كرج") == "کرج"
