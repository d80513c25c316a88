"""Hostile bodies for every route that reads one, built from a body the route accepts.

``hostile_bodies(valid)`` derives, from one valid JSON body, the bodies an attacker or a
broken sender would send: not JSON or not UTF-8, ``NaN``, nesting a thousand levels
deep, a 5,000-digit integer or ``1e999`` in place of a field, NUL or an unpaired
surrogate in each text field, ``.`` and ``..`` in each id field, ``10**30`` in each
number field, the number ``0`` in each date, time and boolean field (``0`` is no date and
no "false"), a field the route does not know, bodies that are not an object, and (given
the limit) a body one byte too large. Each case says which answers are right.
``assert_all_refused`` sends every case through a route, checks the answer (a problem of
the right status that names the field where one is at fault) and that nothing was
stored, and reports every case that failed at once.

The plugin contract (core.testing.contract) runs it against every plugin's webhook;
crm-sync's own tests run it against record writes and admin actions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

#: How many text and id fields get a case of their own (the first ones found).
MAX_FIELDS = 40

_SENTINEL = "\x01hostile\x01"

#: A field no route knows, added beside the valid ones.
UNKNOWN_FIELD = "x_hostile_unknown"

#: A text value that is an ISO 8601 date or date and time.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?")


class Answer(Protocol):
    """What ``assert_all_refused`` reads of an HTTP answer (httpx and TestClient both fit)."""

    status_code: int
    text: str

    def json(self) -> Any:
        """The decoded body."""


@dataclass(frozen=True)
class HostileBody:
    """One hostile body, the statuses that are a right answer to it, and the field at fault."""

    name: str
    body: bytes
    statuses: tuple[int, ...]
    field: str | None = None


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _leaves(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, (*path, str(index)))
    else:
        yield path, value


def _replace(document: Any, path: tuple[str, ...], new: Any) -> Any:
    """A copy of ``document`` with the leaf at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(document, list):
        copy = list(document)
        copy[int(head)] = _replace(copy[int(head)], rest, new)
        return copy
    return {**document, head: _replace(document[head], rest, new)}


def _with_raw(document: Any, path: tuple[str, ...], raw: str) -> bytes:
    """The document as JSON text with the leaf at ``path`` written as ``raw`` (any text)."""
    text = json.dumps(_replace(document, path, _SENTINEL), ensure_ascii=False)
    return text.replace(json.dumps(_SENTINEL), raw, 1).encode()


def _is_id(path: tuple[str, ...]) -> bool:
    name = path[-1] if path else ""
    return name == "id" or name.endswith("_id")


def hostile_bodies(
    valid: Mapping[str, Any], *, max_body: int | None = None, signed: bool = False
) -> list[HostileBody]:
    """The hostile variants of ``valid`` (see the module docstring) with their right answers.

    ``signed``: the route checks a signature over the body's text first, so a body that
    is not UTF-8 (which no signature covers) is a 401 there.
    """
    document = dict(valid)
    encoded = json.dumps(document, ensure_ascii=False).encode()
    leaves = list(_leaves(document))
    texts = [path for path, value in leaves if isinstance(value, str)][:MAX_FIELDS]
    numbers = [
        path
        for path, value in leaves
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    ids = [path for path in texts if _is_id(path)]
    dates = [
        path for path, value in leaves if isinstance(value, str) and _ISO_DATE.fullmatch(value)
    ]
    flags = [path for path, value in leaves if isinstance(value, bool)]
    first = leaves[0][0] if leaves and leaves[0][0] else None
    cases = [
        HostileBody("not json", b'{"a": ', (400,)),
        HostileBody("not utf-8", b"\xff\xfe" + encoded, (401,) if signed else (400,)),
        HostileBody("empty", b"", (400,)),
        HostileBody("whitespace only", b" \n\t ", (400,)),
        HostileBody("nested 1000 deep", b"[" * 1000 + b"]" * 1000, (400,)),
        HostileBody("integer of 5000 digits", b"9" * 5000, (400, 413)),
        HostileBody("NaN", b"NaN", (400,)),
    ]
    cases += [
        HostileBody(f"top level {text}", text.encode(), (400, 422))
        for text in ("null", "[]", '""', "0", "true", "[{}]")
    ]
    if first is not None:
        where = ".".join(first)
        cases += [
            HostileBody(
                f"{where} nested 1000 deep",
                _with_raw(document, first, "[" * 1000 + "]" * 1000),
                (400,),
            ),
            HostileBody(
                f"{where} integer of 5000 digits",
                _with_raw(document, first, "9" * 5000),
                (400, 413),
            ),
            HostileBody(f"{where} 1e999", _with_raw(document, first, "1e999"), (400,)),
            HostileBody(f"{where} NaN", _with_raw(document, first, "NaN"), (400,)),
        ]
    for path in texts:
        where = ".".join(path)
        cases.append(
            HostileBody(
                f"{where} with NUL", _with_raw(document, path, '"a\\u0000b"'), (422,), where
            )
        )
        cases.append(
            HostileBody(
                f"{where} with a lone surrogate",
                _with_raw(document, path, '"a\\ud800b"'),
                (422,),
                where,
            )
        )
    for path in ids:
        where = ".".join(path)
        for dots in (".", ".."):
            body = json.dumps(_replace(document, path, dots)).encode()
            cases.append(HostileBody(f"{where} = {dots!r}", body, (422,), where))
    for path in numbers:
        where = ".".join(path)
        body = json.dumps(_replace(document, path, 10**30)).encode()
        cases.append(HostileBody(f"{where} = 10**30", body, (422,), where))
    for path in dates + flags:
        where = ".".join(path)
        body = json.dumps(_replace(document, path, 0)).encode()
        cases.append(HostileBody(f"{where} = 0", body, (422,), where))
    unknown = json.dumps({**document, UNKNOWN_FIELD: 1}).encode()
    cases.append(HostileBody("an unknown field", unknown, (422,), UNKNOWN_FIELD))
    if max_body is not None:
        padding = max_body + 1 - len(encoded)
        oversized = encoded + b" " * max(padding, 1)
        cases.append(HostileBody("one byte over the limit", oversized, (413,)))
    return cases


def _names_field(answer: Answer, field: str) -> bool:
    """Whether a problem answer names ``field`` (by its path, or its last part in the detail)."""
    try:
        problem = answer.json()
    except ValueError:
        return False
    if not isinstance(problem, dict):
        return False
    errors = problem.get("errors") or []
    named = {str(error.get("field")) for error in errors}
    if any(name == field or name.endswith("." + field) for name in named):
        return True
    last = field.rsplit(".", 1)[-1]
    said = [str(problem.get("detail", ""))] + [str(error.get("message")) for error in errors]
    return any(name.endswith(last) for name in named) or any(last in text for text in said)


def assert_all_refused(
    send: Callable[[bytes], Answer],
    cases: list[HostileBody],
    snapshot: Callable[[], Any],
) -> None:
    """Send every case; each must get a right status, name its field, and store nothing.

    ``send`` posts one body to the route (signed, for a webhook); ``snapshot`` returns
    what the route could change (row counts, queue sizes), compared before and after
    each case. Raises one AssertionError listing every case that failed.
    """
    failures = []
    for case in cases:
        before = snapshot()
        answer = send(case.body)
        after = snapshot()
        problems = []
        if answer.status_code not in case.statuses:
            problems.append(
                f"answered {answer.status_code}, not {case.statuses}: {answer.text[:200]}"
            )
        elif case.field is not None and not _names_field(answer, case.field):
            problems.append(f"the answer does not name {case.field}: {answer.text[:200]}")
        if after != before:
            problems.append(f"changed what is stored: {before!r} -> {after!r}")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}")
    assert not failures, (
        f"{len(failures)} of {len(cases)} hostile bodies were not refused:\n" + "\n".join(failures)
    )


__all__ = ["MAX_FIELDS", "UNKNOWN_FIELD", "HostileBody", "assert_all_refused", "hostile_bodies"]
