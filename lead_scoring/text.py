"""Text normalisation used when a rule compares a lead's text to the values it lists.

Iranian CRM data spells the same word several ways: Arabic ``ي``/``ك`` instead of
Persian ``ی``/``ک``, Persian or Arabic-Indic digits, a zero-width non-joiner or a space
between the parts of a word, mixed letter case in Latin names. Rules and leads are both
passed through :func:`normalise_text` so that ``"كرج"`` matches ``"کرج"``.
"""

from __future__ import annotations

from functools import lru_cache

_TRANSLATION = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Persian yeh
        "\u0649": "\u06cc",  # Arabic alef maksura -> Persian yeh
        "\u0643": "\u06a9",  # Arabic kaf -> Persian keheh
        "\u06c0": "\u0647",  # heh with yeh above -> heh
        "\u0629": "\u0647",  # teh marbuta -> heh
        "\u200c": " ",  # zero-width non-joiner -> space
        "\u200e": "",  # left-to-right mark
        "\u200f": "",  # right-to-left mark
        **{chr(0x06F0 + digit): str(digit) for digit in range(10)},  # Persian digits
        **{chr(0x0660 + digit): str(digit) for digit in range(10)},  # Arabic-Indic digits
    }
)


@lru_cache(maxsize=65536)
def normalise_text(value: str) -> str:
    """Return ``value`` in the form used for matching.

    Arabic letter forms become Persian, every digit becomes ASCII, a zero-width
    non-joiner becomes a space, runs of white space collapse to one space, and the
    result is case-folded and stripped. The cache keeps repeated values (provinces,
    industries) cheap when thousands of leads are scored.
    """
    return " ".join(value.translate(_TRANSLATION).split()).casefold()


def text_value(raw: object) -> str | None:
    """Return the normalised form of a text value, or None when it is missing.

    Only ``str`` counts as text: numbers are not matched by text tests. A string that
    is empty after normalisation is missing, the same as None.
    """
    if not isinstance(raw, str):
        return None
    return normalise_text(raw) or None
