"""The dates the KPIs count by are validated on the write path like every field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.schemas.activities import Task
from core.schemas.leads import Lead, Opportunity

OPPORTUNITY = {"customer_id": "C1", "title": "pumps", "stage": "proposal"}


def test_an_open_opportunity_cannot_have_closed() -> None:
    with pytest.raises(ValidationError, match="closed_at is only for a won or lost"):
        Opportunity.model_validate({**OPPORTUNITY, "closed_at": "2025-10-01T10:00:00+03:30"})


def test_an_opportunity_cannot_close_before_it_opened() -> None:
    with pytest.raises(ValidationError, match="is before opened_at"):
        Opportunity.model_validate(
            {
                **OPPORTUNITY,
                "status": "won",
                "opened_at": "2025-10-01T10:00:00+03:30",
                "closed_at": "2025-10-01T09:00:00+03:30",
            }
        )


def test_a_lead_cannot_convert_before_it_was_qualified() -> None:
    with pytest.raises(ValidationError, match="is before qualified_at"):
        Lead.model_validate(
            {
                "contact_name": "x",
                "qualified_at": "2025-10-01T10:00:00Z",
                "converted_at": "2025-09-30T10:00:00Z",
            }
        )


def test_only_a_done_task_has_a_done_time() -> None:
    with pytest.raises(ValidationError, match="done_at is only for a task"):
        Task.model_validate({"subject": "call", "done_at": "2025-10-01T10:00:00Z"})
    task = Task.model_validate(
        {"subject": "call", "status": "done", "done_at": "2025-10-01T10:00:00Z"}
    )
    assert task.done_at is not None


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Lead.model_validate({"contact_name": "x", "qualified_at": "2025-10-01T10:00:00"})
