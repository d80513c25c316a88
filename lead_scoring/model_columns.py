"""Many leads' model features as columns: profiles, attributes and engagement, with numpy.

:func:`model_columns` gives, for many leads at once, exactly the features
:func:`lead_scoring.training.model_row` gives one lead (the same names and values,
numbers as float arrays with NaN where a row has no value), so training and bulk
scoring never build a dict per lead. The engagement features are computed from the
events as arrays: each lead's events at or before its own moment are kept, ordered by
time, and counted, summed and dated per lead with ``np.bincount`` and reductions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import attrgetter

import numpy as np
from numpy.typing import NDArray

from lead_scoring.decay import epoch_us
from lead_scoring.engagement import RECENT
from lead_scoring.facts import ATTRIBUTE_PREFIX, EngagementEvent, LeadFacts, TaskFacts
from lead_scoring.predictive import FeatureValue

PROFILE_FIELDS = (
    "source", "campaign", "channel", "country", "province", "city", "industry",
    "job_title", "company_size", "budget",
)  # fmt: skip

_RECENT_US = RECENT // timedelta(microseconds=1)
_NEVER = np.iinfo(np.int64).min
_UNTIL = np.iinfo(np.int64).max

#: A column of feature values: Python values, or floats with NaN for missing.
Column = list[FeatureValue] | NDArray[np.float64]


def profile_columns(leads: Sequence[LeadFacts]) -> dict[str, Column]:
    """Return the profile features of ``leads`` as columns, as ``lead_features`` names them."""
    columns: dict[str, Column] = {
        name: [getattr(lead, name) for lead in leads] for name in PROFILE_FIELDS
    }
    names = sorted({name for lead in leads for name in lead.attributes})
    for name in names:
        columns[f"{ATTRIBUTE_PREFIX}{name}"] = [lead.attributes.get(name) for lead in leads]
    return columns


def _where(present: NDArray[np.bool_], values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(present, values, np.nan)


def engagement_columns(
    events: Sequence[Sequence[EngagementEvent]],
    at: Sequence[datetime],
    created_at: Sequence[datetime],
) -> dict[str, Column]:
    """Return the engagement features of many leads, lead i's as of ``at[i]``.

    The same features as :func:`lead_scoring.engagement.engagement_features`; a
    feature a lead has no value for is NaN.
    """
    size = len(events)
    at_us = np.fromiter((epoch_us(moment) for moment in at), np.int64, size)
    created_us = np.fromiter((epoch_us(moment) for moment in created_at), np.int64, size)
    flat = [event for lead_events in events for event in lead_events]
    lead = np.repeat(np.arange(size, dtype=np.int64), [len(e) for e in events])
    when = np.fromiter(map(epoch_us, map(attrgetter("at"), flat)), np.int64, len(flat))
    names: dict[str, int] = {}
    kind = np.fromiter(
        (names.setdefault(name, len(names)) for name in map(attrgetter("type"), flat)),
        np.int64,
        len(flat),
    )
    sides = {None: 0, "inbound": 1, "outbound": 2}
    direction = np.fromiter(
        map(sides.__getitem__, map(attrgetter("direction"), flat)), np.int8, len(flat)
    )
    amount = np.array([e.amount for e in flat], dtype=np.float64)
    known = when <= at_us[lead]
    order = np.lexsort((when[known], lead[known]))
    lead, when, kind = lead[known][order], when[known][order], kind[known][order]
    direction, amount = direction[known][order], amount[known][order]
    age = at_us[lead] - when
    columns: dict[str, Column] = {
        "touchpoints": np.bincount(lead, minlength=size).astype(np.float64)
    }
    for name, code in sorted(names.items()):
        of_type = kind == code
        counts = np.bincount(lead[of_type], minlength=size).astype(np.float64)
        if not counts.any():
            continue
        recent = np.bincount(lead[of_type & (age <= _RECENT_US)], minlength=size)
        columns[f"events.{name}"] = _where(counts > 0, counts)
        columns[f"events.{name}.30d"] = _where(counts > 0, recent.astype(np.float64))
        with_amount = of_type & ~np.isnan(amount)
        if with_amount.any():
            sums = np.bincount(lead[with_amount], weights=amount[with_amount], minlength=size)
            carried = np.bincount(lead[with_amount], minlength=size) > 0
            columns[f"amount.{name}"] = _where(carried, sums.astype(np.float64))
    for code, label in ((1, "inbound"), (2, "outbound")):
        chosen = direction == code
        if not chosen.any():
            continue
        last = np.full(size, _NEVER)
        np.maximum.at(last, lead[chosen], when[chosen])
        has = last != _NEVER
        days = (at_us - np.where(has, last, at_us)) / 1e6 / 86_400
        columns[f"days_since_{label}"] = _where(has, days)
        if label == "outbound":
            first = np.full(size, _UNTIL)
            np.minimum.at(first, lead[chosen], when[chosen])
            hours = (np.where(has, first, created_us) - created_us) / 1e6 / 3600
            columns["hours_to_first_response"] = _where(has, np.maximum(hours, 0.0))
    return columns


def task_columns(tasks: Sequence[Sequence[TaskFacts]], at: Sequence[datetime]) -> dict[str, Column]:
    """Return the task features of many leads (lead i's as of ``at[i]``), as ``task_features``."""
    size = len(tasks)
    at_us = np.fromiter((epoch_us(moment) for moment in at), np.int64, size)
    flat = [task for lead_tasks in tasks for task in lead_tasks]
    if not flat:
        return {}
    lead = np.repeat(np.arange(size, dtype=np.int64), [len(t) for t in tasks])
    created = np.fromiter((epoch_us(task.created_at) for task in flat), np.int64, len(flat))
    due = np.fromiter(
        (_UNTIL if t.due_at is None else epoch_us(t.due_at) for t in flat), np.int64, len(flat)
    )
    done = np.fromiter(
        (_UNTIL if t.done_at is None else epoch_us(t.done_at) for t in flat), np.int64, len(flat)
    )
    moment = at_us[lead]
    known = created <= moment
    counts = np.bincount(lead[known], minlength=size)
    if not counts.any():
        return {}
    finished = known & (done <= moment)
    late = known & (due < moment) & (done > moment)
    has = counts > 0
    return {
        "tasks": _where(has, counts.astype(np.float64)),
        "tasks.done": _where(has, np.bincount(lead[finished], minlength=size).astype(np.float64)),
        "tasks.overdue": _where(has, np.bincount(lead[late], minlength=size).astype(np.float64)),
    }


def model_columns(
    leads: Sequence[LeadFacts],
    events: Sequence[Sequence[EngagementEvent]],
    at: Sequence[datetime],
    tasks: Sequence[Sequence[TaskFacts]] | None = None,
) -> dict[str, Column]:
    """Return the model features of many leads as columns: lead i as of ``at[i]``.

    ``events[i]`` are lead i's engagement and timeline events, ``tasks[i]`` its tasks.
    """
    return {
        **profile_columns(leads),
        **engagement_columns(events, at, [lead.created_at for lead in leads]),
        **(task_columns(tasks, at) if tasks is not None else {}),
    }


__all__ = [
    "PROFILE_FIELDS",
    "engagement_columns",
    "model_columns",
    "profile_columns",
    "task_columns",
]
