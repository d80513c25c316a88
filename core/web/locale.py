"""How pages speak: language and direction, Jalali or Gregorian dates, Persian or Latin digits.

A :class:`Locale` is built per request from the person's preferences and the console's
settings; templates call it to translate (``loc.t("key")``), and to format numbers,
durations and times. Times are shown in the configured zone (Asia/Tehran by default)
as ``<time>`` elements whose ``title`` holds the other calendar, so hovering over a
Jalali date shows the Gregorian one and the other way round.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime
from markupsafe import Markup, escape

LANGUAGES = ("fa", "en")
CALENDARS = ("jalali", "gregorian")
DIGITS = ("persian", "latin")
_PERSIAN = str.maketrans("0123456789.,%", "۰۱۲۳۴۵۶۷۸۹٫٬٪")  # noqa: RUF001 (Persian separators)
#: Shown where there is no value.
NONE = "\u2013"


class Catalog:
    """Messages by language, merged from the ``messages/<lang>.toml`` files of packages.

    A package adds its own messages (the console, the KPI pages) with :meth:`add`; keys
    are dotted paths of the TOML tables (``nav.overview``).
    """

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, str]] = {language: {} for language in LANGUAGES}

    def add(self, package: str) -> None:
        """Load ``<package>/messages/fa.toml`` and ``en.toml``."""
        for language in LANGUAGES:
            path = resources.files(package).joinpath("messages", f"{language}.toml")
            table = tomllib.loads(path.read_text(encoding="utf-8"))
            self.messages[language].update(_flatten(table))

    def text(self, language: str, key: str) -> str:
        """The message of ``key``; English when the language lacks it, else the key."""
        found = self.messages.get(language, {}).get(key)
        if found is None:
            found = self.messages["en"].get(key, key)
        return found


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


@dataclass(frozen=True)
class Preferences:
    """One person's choices, kept in a cookie: language, calendar, digits."""

    language: str
    calendar: str
    digits: str

    def encode(self) -> str:
        """The cookie value."""
        return f"{self.language}.{self.calendar}.{self.digits}"

    @classmethod
    def decode(cls, value: str | None, default: Preferences) -> Preferences:
        """The preferences a cookie holds; ``default`` for anything malformed."""
        parts = (value or "").split(".")
        if len(parts) != 3:
            return default
        language, calendar, digits = parts
        if language not in LANGUAGES or calendar not in CALENDARS or digits not in DIGITS:
            return default
        return cls(language, calendar, digits)


@dataclass(frozen=True)
class Locale:
    """Translation and formatting for one request."""

    catalog: Catalog
    prefs: Preferences
    zone: ZoneInfo

    @property
    def language(self) -> str:
        """``fa`` or ``en``."""
        return self.prefs.language

    @property
    def direction(self) -> str:
        """``rtl`` for Persian, ``ltr`` for English."""
        return "rtl" if self.prefs.language == "fa" else "ltr"

    def t(self, key: str, **values: Any) -> str:
        """The message of ``key`` with ``values`` filled in (numbers in the person's digits)."""
        text = self.catalog.text(self.prefs.language, key)
        if values:
            shown = {k: self.number(v) if isinstance(v, int) else v for k, v in values.items()}
            text = text.format(**shown)
        return text

    def digits(self, text: str) -> str:
        """``text`` with its digits (and separators) in the person's digits."""
        return text.translate(_PERSIAN) if self.prefs.digits == "persian" else text

    def number(self, value: int | float | None, places: int = 0) -> str:
        """A number with thousands separators; an en dash for None."""
        if value is None:
            return NONE
        return self.digits(f"{value:,.{places}f}")

    def percent(self, value: float | None) -> str:
        """A share from 0 to 1 as a percentage with one decimal."""
        if value is None:
            return NONE
        return self.digits(f"{value * 100:.1f}%")

    def duration(self, seconds: float | None) -> str:
        """A duration in the largest two units: ``2h 5m``, ``۳ دقیقه ۲۰ ثانیه``."""
        if seconds is None:
            return NONE
        left = round(seconds)
        parts: list[str] = []
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if left >= size or (unit == "s" and not parts):
                amount, left = divmod(left, size)
                parts.append(self.t(f"units.{unit}", n=amount))
            if len(parts) == 2:
                break
        return " ".join(parts)

    def local(self, when: datetime) -> datetime:
        """``when`` in the configured zone."""
        return when.astimezone(self.zone)

    def date_text(self, when: datetime, calendar: str | None = None, seconds: bool = False) -> str:
        """``when`` as ``1403/01/05 14:30`` (Jalali) or ``2024-03-24 14:30`` (Gregorian)."""
        local = self.local(when)
        pattern = "%H:%M:%S" if seconds else "%H:%M"
        if (calendar or self.prefs.calendar) == "jalali":
            jalali = jdatetime.datetime.fromgregorian(datetime=local)
            text = (
                f"{jalali.year:04d}/{jalali.month:02d}/{jalali.day:02d} {local.strftime(pattern)}"
            )
        else:
            text = local.strftime(f"%Y-%m-%d {pattern}")
        return self.digits(text)

    def when(self, when: datetime | None, seconds: bool = False) -> Markup:
        """A ``<time>`` element: the chosen calendar, the other one on hover."""
        if when is None:
            return escape(NONE)
        other = "gregorian" if self.prefs.calendar == "jalali" else "jalali"
        return Markup('<time datetime="{iso}" title="{title}">{text}</time>').format(
            iso=when.isoformat(),
            title=self.date_text(when, other, seconds=True),
            text=self.date_text(when, seconds=seconds),
        )

    def axis_time(self, when: datetime, span_seconds: float) -> str:
        """A short label of a chart's time axis: the hour within a day, else the date."""
        local = self.local(when)
        if span_seconds <= 2 * 86400:
            return self.digits(local.strftime("%H:%M"))
        if self.prefs.calendar == "jalali":
            jalali = jdatetime.datetime.fromgregorian(datetime=local)
            return self.digits(f"{jalali.month:02d}/{jalali.day:02d}")
        return self.digits(local.strftime("%m-%d"))

    def escape(self, value: Any) -> Markup:
        """``value`` escaped for HTML (templates escape by themselves; code may not)."""
        return escape(value)
