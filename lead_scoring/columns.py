"""Leads and events as columns (numpy arrays), the input of bulk rescoring.

Text becomes integer codes into a table of distinct values, so a rule's text test runs
once per distinct value and then as one array lookup per lead; numbers become float64
with NaN for missing; times become integer microseconds since 1970 UTC. Core may fill
these arrays straight from a query, or build them from :class:`LeadFacts` with
:meth:`LeadColumns.from_facts` and :meth:`EventColumns.from_facts`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lead_scoring.decay import epoch_us
from lead_scoring.facts import (
    NUMBER_FIELDS,
    TEXT_FIELDS,
    EngagementEvent,
    LeadFacts,
    number_value,
)
from lead_scoring.rules import ScoringRules
from lead_scoring.text import text_value


@dataclass(frozen=True)
class Codes:
    """A column of labels as codes into ``values``; code -1 means missing."""

    codes: NDArray[np.int32]
    values: tuple[str, ...]

    @classmethod
    def from_labels(cls, raw: Iterable[object], label: Callable[[object], str | None]) -> Codes:
        """Code each raw value by ``label(value)``; a None label is missing."""
        labels: dict[object, int] = {}
        distinct: dict[str, int] = {}
        codes: list[int] = []
        for value in raw:
            code = labels.get(value)
            if code is None:
                text = label(value)
                code = -1 if text is None else distinct.setdefault(text, len(distinct))
                labels[value] = code
            codes.append(code)
        return cls(np.array(codes, dtype=np.int32), tuple(distinct))

    def lookup(self, predicate: Callable[[str], bool]) -> NDArray[np.bool_]:
        """Return, per row, ``predicate`` of its value (False where missing).

        The predicate runs once per distinct value, then one array lookup spreads it.
        """
        table = np.zeros(len(self.values) + 1, dtype=np.bool_)
        table[:-1] = [predicate(value) for value in self.values]
        return table[self.codes]

    def present(self) -> NDArray[np.bool_]:
        """Return, per row, whether it has a value."""
        return self.codes >= 0


def _exact_label(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number_or_nan(value: object) -> float:
    number = number_value(value)
    return np.nan if number is None else number


def _needed_fields(rules: ScoringRules) -> tuple[set[str], set[str]]:
    """Return the fields the rules read as text and those they read as numbers."""
    text: set[str] = set()
    numbers: set[str] = set()
    for rule in rules.fit.rules:
        for condition in rule.conditions:
            name = condition.field
            if name in NUMBER_FIELDS:
                numbers.add(name)
            elif name in TEXT_FIELDS:
                text.add(name)
            else:
                # A custom attribute may hold text or a number: a missing test needs both.
                if condition.is_numeric or condition.missing is not None:
                    numbers.add(name)
                if not condition.is_numeric:
                    text.add(name)
    return text, numbers


@dataclass(frozen=True)
class LeadColumns:
    """The profile fields of many leads, column by column, in one fixed row order."""

    size: int
    created_at_us: NDArray[np.int64]
    text: Mapping[str, Codes]
    numbers: Mapping[str, NDArray[np.float64]]

    @classmethod
    def from_facts(cls, leads: Sequence[LeadFacts], rules: ScoringRules) -> LeadColumns:
        """Build the columns ``rules`` read from ``leads`` (row i is ``leads[i]``)."""
        text_fields, number_fields = _needed_fields(rules)
        text = {
            name: Codes.from_labels((lead.value(name) for lead in leads), text_value)
            for name in sorted(text_fields)
        }
        numbers = {
            name: np.fromiter(
                (_number_or_nan(lead.value(name)) for lead in leads), np.float64, len(leads)
            )
            for name in sorted(number_fields)
        }
        created = np.fromiter((epoch_us(lead.created_at) for lead in leads), np.int64, len(leads))
        return cls(len(leads), created, text, numbers)


@dataclass(frozen=True)
class EventColumns:
    """Engagement events of many leads: ``lead`` is the row of the lead in its LeadColumns."""

    lead: NDArray[np.int64]
    type: Codes
    at_us: NDArray[np.int64]

    @classmethod
    def from_facts(cls, events: Sequence[Sequence[EngagementEvent]]) -> EventColumns:
        """Build the columns from per-lead event lists (``events[i]`` belongs to row i)."""
        lead = np.repeat(np.arange(len(events), dtype=np.int64), [len(e) for e in events])
        flat = [event for lead_events in events for event in lead_events]
        types = Codes.from_labels((event.type for event in flat), _exact_label)
        at_us = np.fromiter((epoch_us(event.at) for event in flat), np.int64, len(flat))
        return cls(lead, types, at_us)
