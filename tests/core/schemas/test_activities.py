"""Interactions and tasks: aware times, channels, owners of the timeline, related records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from core.schemas.activities import Interaction, Task

Bodies = dict[str, dict[str, Any]]

TEHRAN = timezone(timedelta(hours=3, minutes=30))


def test_interaction_keeps_text_and_time(bodies: Bodies) -> None:
    interaction = Interaction.model_validate(bodies["interactions"])
    assert interaction.occurred_at == datetime(2024, 3, 20, 9, 30, tzinfo=TEHRAN)
    assert interaction.occurred_at.utcoffset() == timedelta(hours=3, minutes=30)
    assert interaction.text == bodies["interactions"]["text"]


def test_interaction_for_a_lead_only() -> None:
    interaction = Interaction.model_validate(
        {
            "lead_id": "lead-1",
            "channel": "call",
            "direction": "outbound",
            "occurred_at": datetime(2024, 3, 20, 6, 0, tzinfo=UTC),
        }
    )
    assert interaction.customer_id is None
    assert interaction.text is None and interaction.delivery_status is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"occurred_at": "2024-03-20T09:30:00"}, "should have timezone info"),
        ({"occurred_at": datetime(2024, 3, 20, 9, 30)}, "should have timezone info"),
        ({"occurred_at": "yesterday"}, "valid datetime"),
        ({"occurred_at": None}, "valid datetime"),
        ({"customer_id": None}, "needs a customer_id or a lead_id"),
        ({"channel": "telegram"}, "Input should be"),
        ({"direction": "sideways"}, "Input should be"),
        ({"delivery_status": "seen"}, "Input should be"),
        ({"external_message_id": ""}, "at least 1 character"),
        ({"text": 12}, "valid string"),
    ],
)
def test_interaction_refuses_bad_input(
    bodies: Bodies, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Interaction.model_validate({**bodies["interactions"], **changes})


def test_task(bodies: Bodies) -> None:
    task = Task.model_validate(bodies["tasks"])
    assert task.due_at == datetime(2024, 3, 21, 10, 0, tzinfo=UTC)
    bare = Task.model_validate({"subject": "تماس"})
    assert (bare.status, bare.related_type, bare.due_at) == ("open", None, None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"due_at": "2024-03-21T10:00:00"}, "should have timezone info"),
        ({"related_type": None}, "related_type and related_id must be given together"),
        ({"related_id": None}, "related_type and related_id must be given together"),
        ({"related_type": "invoice"}, "Input should be"),
        ({"status": "pending"}, "Input should be"),
        ({"subject": " "}, "must not be blank"),
    ],
)
def test_task_refuses_bad_input(bodies: Bodies, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Task.model_validate({**bodies["tasks"], **changes})
