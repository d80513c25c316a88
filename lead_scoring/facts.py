"""The inputs of scoring: what is known about a lead and what it has done.

Core fills these from its canonical Lead and Interaction records (and from plugin
signals); scoring reads nothing else, so it stays a pure function that tests and
benchmarks can call without a database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

#: Who reached out: the lead (``inbound``) or we (``outbound``).
Direction = Literal["inbound", "outbound"]

#: A custom field's value: text, or an exact number.
AttributeValue = str | int | float | Decimal

#: Profile fields that hold text; rules test them with ``in``, ``not_in``, ``contains``.
TEXT_FIELDS: tuple[str, ...] = (
    "source",
    "campaign",
    "channel",
    "country",
    "province",
    "city",
    "industry",
    "job_title",
)

#: Profile fields that hold numbers; rules test them with ``at_least`` and ``below``.
NUMBER_FIELDS: tuple[str, ...] = ("company_size", "budget")

#: Prefix of a rule field that names a custom attribute, as in ``attributes.age``.
ATTRIBUTE_PREFIX = "attributes."


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """The profile of one lead, as fit rules see it.

    ``company_size`` is a head count and ``budget`` an exact amount (IRR unless the
    organisation says otherwise). ``channel`` is how the lead reached us and
    ``country`` its ISO code. ``attributes`` carries custom CRM fields (true/false as
    the text ``true``/``false``, dates as ``YYYY-MM-DD`` text), which rules name as
    ``attributes.<key>``. ``created_at`` starts the "no answer" clock for a
    lead that has never engaged.
    """

    created_at: datetime
    source: str | None = None
    campaign: str | None = None
    channel: str | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    industry: str | None = None
    job_title: str | None = None
    company_size: int | None = None
    budget: Decimal | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_aware("created_at", self.created_at)

    def value(self, name: str) -> object:
        """Return the raw value of a rule field (a profile field or ``attributes.<key>``)."""
        if name.startswith(ATTRIBUTE_PREFIX):
            return self.attributes.get(name[len(ATTRIBUTE_PREFIX) :])
        return getattr(self, name)


@dataclass(frozen=True, slots=True)
class EngagementEvent:
    """One thing the lead did, such as ``form_submitted`` or ``whatsapp_reply``, and when.

    ``type`` is a short identifier that engagement rules list; plugins may add their
    own types. ``at`` is timezone-aware. ``direction`` says who reached out (an
    interaction's ``inbound`` or ``outbound``), for the model's recency and response
    time. ``amount`` is a measure the event carries (seconds on the site, pages
    viewed), so a duration or a count is one event, not N identical ones: rules count
    the event once, the model sums the amounts per type.
    """

    type: str
    at: datetime
    direction: Direction | None = None
    amount: float | None = None

    def __post_init__(self) -> None:
        _require_aware("at", self.at)
        if self.amount is not None and not math.isfinite(self.amount):
            raise ValueError(f"amount must be a finite number, got {self.amount!r}")


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """A follow-up task about a lead, as its times say: created, due, done.

    ``created_at`` is when the CRM recorded the task (it is known from then on);
    ``done_at`` is set once it was done. Status alone is not used: when a task was
    cancelled is not known, and the model must see only what was known at a moment.
    """

    created_at: datetime
    due_at: datetime | None = None
    done_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware("created_at", self.created_at)
        for name in ("due_at", "done_at"):
            moment = getattr(self, name)
            if moment is not None:
                _require_aware(name, moment)


def number_value(raw: object) -> float | None:
    """Return a numeric value as a 64-bit float, or None when it is missing or not a number.

    Both scoring paths compare numbers as floats so that they agree exactly; a float is
    exact for integers up to 2**53 (about 9e15 rials) and for decimals with at most 15
    significant digits. ``bool`` and NaN count as missing.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        return None
    number = float(raw)
    return None if math.isnan(number) else number
