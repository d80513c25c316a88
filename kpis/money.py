"""Amounts in Rials or Toman: the currency a reader sees, and amounts converted for display.

Every amount is stored, computed and exported in Rials. A reader may prefer Toman (one
Toman is ten Rials): the ``[kpis] currency`` setting chooses the default of the pages
and ``?currency=toman`` (or ``rials``) on a page or an export overrides it for that
request. An export converts its amount columns (those named ``*_rials``, renamed
``*_toman``) and the KPI rows in Rials only when Toman is asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Literal

Currency = Literal["rials", "toman"]
CURRENCIES: tuple[Currency, ...] = ("rials", "toman")
RIALS_PER_TOMAN = 10
#: Column suffix of an amount in Rials in every export.
RIALS_SUFFIX = "_rials"


def currency_of(asked: str | None, default: Currency) -> Currency:
    """The currency asked for (``rials`` or ``toman``), else ``default``; anything else too."""
    if asked == "toman":
        return "toman"
    if asked == "rials":
        return "rials"
    return default


def in_currency(value: Any, currency: Currency) -> Any:
    """A Rial amount in ``currency``: Decimal stays exact, floats divide, None stays None."""
    if value is None or currency == "rials" or isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return value.scaleb(-1)
    if isinstance(value, int | float):
        return value / RIALS_PER_TOMAN
    return value


def toman_rows(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """Export rows (header first) with every ``*_rials`` column in Toman and so renamed."""
    iterator = iter(rows)
    header = tuple(next(iterator, ()))
    amounts = {i for i, name in enumerate(header) if str(name).endswith(RIALS_SUFFIX)}
    yield tuple(
        f"{str(name).removesuffix(RIALS_SUFFIX)}_toman" if i in amounts else name
        for i, name in enumerate(header)
    )
    for row in iterator:
        yield tuple(in_currency(v, "toman") if i in amounts else v for i, v in enumerate(row))


#: The KPI units in Rials, their Toman twins, and which columns of a KPI row are amounts.
TOMAN_UNITS = {"rials": "toman", "rials_per_day": "toman_per_day"}
_AMOUNT_COLUMNS = {
    "rials": ("value", "numerator", "previous", "change"),
    "rials_per_day": ("value", "previous", "change"),
}


def toman_report_rows(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """KPI export rows (header first) with the KPIs in Rials given in Toman, unit renamed."""
    iterator = iter(rows)
    header = tuple(next(iterator, ()))
    yield header
    place = {name: i for i, name in enumerate(header)}
    for row in iterator:
        unit = row[place["unit"]]
        if unit not in TOMAN_UNITS:
            yield tuple(row)
            continue
        cells = list(row)
        cells[place["unit"]] = TOMAN_UNITS[unit]
        for name in _AMOUNT_COLUMNS[unit]:
            cells[place[name]] = in_currency(cells[place[name]], "toman")
        yield tuple(cells)


__all__ = [
    "CURRENCIES",
    "RIALS_PER_TOMAN",
    "TOMAN_UNITS",
    "Currency",
    "currency_of",
    "in_currency",
    "toman_report_rows",
    "toman_rows",
]
