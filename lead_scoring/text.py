"""Text normalisation used when a rule compares a lead's text to the values it lists.

Iranian CRM data spells the same word several ways: Arabic ``ي``/``ك`` for Persian
``ی``/``ک``, Persian or Arabic-Indic digits, a zero-width non-joiner for a space,
diacritics, mixed case. Rules and leads both go through :func:`normalise_text`, so that
``"كرج"`` in a rule matches ``"کرج"`` on a lead. It follows the same steps as core's
``core.locale.normalize_text`` (a test checks that they agree) without importing core,
so lead scoring stays usable on its own.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TRANSLATION = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Persian yeh
        "\u0649": "\u06cc",  # Arabic alef maksura -> Persian yeh
        "\u0643": "\u06a9",  # Arabic kaf -> Persian keheh
        "\u200c": " ",  # zero-width non-joiner -> space
        "\u0640": None,  # tatweel
        "\u200d": None,  # zero-width joiner
        "\u200e": None,  # left-to-right mark
        "\u200f": None,  # right-to-left mark
        **{chr(0x06F0 + digit): str(digit) for digit in range(10)},  # Persian digits
        **{chr(0x0660 + digit): str(digit) for digit in range(10)},  # Arabic-Indic digits
    }
)
_DIACRITICS = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]"
)


@lru_cache(maxsize=65536)
def normalise_text(value: str) -> str:
    """Return the matching form of ``value``.

    NFKC, ASCII digits, Persian letter forms, no tatweel, diacritics or direction
    marks, a space for the zero-width non-joiner, case-folded, white space collapsed.
    The cache keeps repeated values (provinces, industries) cheap across many leads.
    """
    text = unicodedata.normalize("NFKC", value).translate(_TRANSLATION)
    return " ".join(_DIACRITICS.sub("", text).casefold().split())


def text_value(raw: object) -> str | None:
    """Return the matching form of a text value, or None when it is missing.

    Only ``str`` counts as text: numbers are not matched by text tests. A string that
    is empty after normalisation is missing, the same as None.
    """
    if not isinstance(raw, str):
        return None
    return normalise_text(raw) or None
