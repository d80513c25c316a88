"""The model's engagement features: a lead's history as it was known at one moment.

:func:`engagement_features` reads only the events at or before the moment ``at``, so a
lead's features at ``at`` never change when later events are added: a model trained on
closed leads sees each one as it was when its outcome was decided (its ``closed_at``),
and an open lead is scored as it is now. Features:

- ``touchpoints``: events so far;
- ``events.<type>`` and ``events.<type>.30d``: events of each type, ever and in the last
  30 days;
- ``amount.<type>``: the sum of the amounts events of that type carried (seconds on the
  site, pages viewed);
- ``days_since_inbound`` and ``days_since_outbound``: since the lead last reached out,
  and since we last did;
- ``hours_to_first_response``: from the lead's creation to our first outbound contact;
- ``tasks``, ``tasks.done``, ``tasks.overdue`` (:func:`task_features`): follow-up tasks
  about the lead created so far, those done so far, and those past their due time and
  not done then.

Timeline events (``lead.*`` and other events about the lead, except the scoring
plugin's own) reach the model as engagement events of type ``timeline.<type>``.

A feature with no value (no events of a type, no outbound contact yet) is absent, which
the model reads as a level of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from lead_scoring.facts import EngagementEvent, TaskFacts
from lead_scoring.predictive import FeatureValue

#: The recent window of the ``events.<type>.30d`` counts.
RECENT = timedelta(days=30)


def engagement_features(
    events: Sequence[EngagementEvent], at: datetime, created_at: datetime
) -> dict[str, FeatureValue]:
    """Return the engagement features of a lead created at ``created_at``, as of ``at``."""
    known = sorted((event for event in events if event.at <= at), key=lambda event: event.at)
    features: dict[str, FeatureValue] = {"touchpoints": len(known)}
    counts: dict[str, int] = {}
    recent: dict[str, int] = {}
    amounts: dict[str, float] = {}
    last: dict[str, datetime] = {}
    first_outbound: datetime | None = None
    for event in known:
        counts[event.type] = counts.get(event.type, 0) + 1
        if at - event.at <= RECENT:
            recent[event.type] = recent.get(event.type, 0) + 1
        if event.amount is not None:
            amounts[event.type] = amounts.get(event.type, 0.0) + event.amount
        if event.direction is not None:
            last[event.direction] = event.at
            if event.direction == "outbound" and first_outbound is None:
                first_outbound = event.at
    for name, count in counts.items():
        features[f"events.{name}"] = count
        features[f"events.{name}.30d"] = recent.get(name, 0)
    for name, amount in amounts.items():
        features[f"amount.{name}"] = amount
    for direction, moment in last.items():
        features[f"days_since_{direction}"] = (at - moment).total_seconds() / 86_400
    if first_outbound is not None:
        hours = (first_outbound - created_at).total_seconds() / 3600
        features["hours_to_first_response"] = max(hours, 0.0)
    return features


def task_features(tasks: Sequence[TaskFacts], at: datetime) -> dict[str, FeatureValue]:
    """Return the task features as of ``at``: none when no task about the lead existed yet."""
    known = [task for task in tasks if task.created_at <= at]
    if not known:
        return {}
    done = [task for task in known if task.done_at is not None and task.done_at <= at]
    overdue = [
        task
        for task in known
        if task.due_at is not None
        and task.due_at < at
        and (task.done_at is None or task.done_at > at)
    ]
    return {"tasks": len(known), "tasks.done": len(done), "tasks.overdue": len(overdue)}


__all__ = ["RECENT", "engagement_features", "task_features"]
