"""The limits every JSON document from outside is held to, and the decoder that applies them.

The API's body guard (core.api.limits), the webhook helper ``read_json``
(core.connectors.webhook) and the check of inbound events before they are stored
(core.sync.inbound) all use these, so a record write, an admin action and every
plugin's webhook refuse the same things the same way, on SQLite as on PostgreSQL:

- a body that is not UTF-8 or not JSON (``NaN`` and ``Infinity`` are not JSON);
- nesting deeper than ``MAX_DEPTH`` (Python's decoder would otherwise recurse until
  it fails; no document crm-sync reads nests even ten levels);
- a number of more than ``MAX_NUMBER_CHARS`` characters, or one too large for a
  float (``1e999``): no amount, quantity or version needs that many digits;
- text holding NUL (U+0000) or an unpaired surrogate (a lone ``U+D800``): PostgreSQL's
  text and JSONB cannot store them and receivers downstream break on them, so they
  are refused, never silently removed.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Deepest nesting of arrays and objects a document may have.
MAX_DEPTH = 32

#: Longest number literal, in characters (sign, digits, point and exponent).
MAX_NUMBER_CHARS = 100

#: Characters no stored text may hold: NUL and the unpaired halves of surrogate pairs.
FORBIDDEN_CHARACTERS = re.compile("[\x00\ud800-\udfff]")

#: What a refused character is called in an error, for people and for clients.
FORBIDDEN_MESSAGE = "text must not contain NUL (U+0000) or unpaired surrogates"


class RefusedJSON(ValueError):
    """A JSON document refused by the limits above.

    ``status`` is 400 for a body that cannot be read as a sane document and 422 for a
    document with a refused character; ``slug`` names the problem type, ``field`` the
    dotted path of the offending value (``lines.0.description``), when there is one.
    """

    def __init__(self, status: int, slug: str, message: str, field: str | None = None) -> None:
        super().__init__(message if field is None else f"{field}: {message}")
        self.status = status
        self.slug = slug
        self.message = message
        self.field = field


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise RefusedJSON(
            400, "number-too-large", f"a number has more than {MAX_NUMBER_CHARS} characters"
        )
    return text


def _integer(text: str) -> int:
    return int(_number(text))


def _float(text: str) -> float:
    value = float(_number(text))
    if not math.isfinite(value):
        raise RefusedJSON(400, "number-too-large", "a number is too large to be represented")
    return value


def _constant(text: str) -> Any:
    raise RefusedJSON(400, "malformed-json", f"{text} is not JSON")


def decode(body: bytes | str) -> Any:
    """Decode ``body`` as JSON within the limits; raise :class:`RefusedJSON` otherwise."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        value = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except RefusedJSON:
        raise
    except RecursionError:
        raise RefusedJSON(
            400, "json-too-deep", f"the body nests more than {MAX_DEPTH} levels"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RefusedJSON(400, "malformed-json", "the request body is not valid JSON") from None
    check(value)
    return value


def check(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a decoded document that nests too deeply or holds a forbidden character.

    Walks without recursion, so a document built in code (an inbound event's payload)
    is checked as safely as a decoded one.
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict | list | tuple) and len(path) >= max_depth:
            raise RefusedJSON(400, "json-too-deep", f"the body nests more than {max_depth} levels")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(str(key), (*path, str(key)))
                stack.append((child, (*path, str(key))))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))


def _check_text(text: str, path: tuple[str, ...]) -> None:
    if FORBIDDEN_CHARACTERS.search(text):
        # The path may run through the offending key: name it with U+FFFD in the
        # refused characters' place, so the answer never carries them back.
        field = FORBIDDEN_CHARACTERS.sub("\ufffd", ".".join(path))
        raise RefusedJSON(422, "validation-error", FORBIDDEN_MESSAGE, field or None)


__all__ = [
    "FORBIDDEN_CHARACTERS",
    "FORBIDDEN_MESSAGE",
    "MAX_DEPTH",
    "MAX_NUMBER_CHARS",
    "RefusedJSON",
    "check",
    "decode",
]
