"""Schemas of customer service: service cases and the survey answers customers give.

First contact resolution counts service cases by how many agent interactions they
took; CSAT and NPS average the survey answers (docs/kpis.md). Cross-field rules that
concern one field (a rating outside its scale, a resolution before the opening) are
checked on that field, so a refusal names it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from core.schemas.base import CanonicalModel, RecordId, at_least_one, null_unless, required_when
from core.schemas.fields import LongText, Name, ShortText, Timestamp

CaseStatus = Literal["open", "resolved"]
SurveyScale = Literal["csat", "nps"]

#: The lowest and highest rating of each survey scale.
SCALES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10)}


def _not_before(value: datetime | None, info: ValidationInfo, earlier: str) -> datetime | None:
    """Refuse ``value`` when it is before the field ``earlier`` (already validated)."""
    start = info.data.get(earlier)
    if value is not None and isinstance(start, datetime) and value < start:
        raise ValueError(f"{info.field_name} is before {earlier} {start.isoformat()}")
    return value


def _rating_range(scale: str, low: int, high: int) -> dict[str, Any]:
    """JSON Schema: when ``scale`` is ``scale``, ``rating`` is from ``low`` to ``high``."""
    return {
        "if": {"required": ["scale"], "properties": {"scale": {"const": scale}}},
        "then": {"properties": {"rating": {"minimum": low, "maximum": high}}},
    }


class ServiceCase(CanonicalModel):
    """A customer's request for help (a support ticket), from opening to resolution.

    ``opened_at`` is when the customer asked, ``resolved_at`` when the case was last
    resolved: only a resolved case has one, and a case reopened and not yet resolved
    again must have it cleared. ``reopened_at`` is when it was last reopened (a case
    resolved after a reopening was not resolved at first contact). The interactions
    that handled the case carry its id in their ``case_id``; ``agent_interactions`` is
    the number of agent interactions the CRM counted, which, when given, is used
    instead of counting them. ``channel`` is where the case came in; ``owner_id`` the
    agent in charge.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                required_when("status", "resolved", "resolved_at"),
                null_unless("status", ("resolved",), "resolved_at"),
            ]
        }
    )

    customer_id: RecordId
    contact_id: RecordId | None = None
    subject: Name
    description: LongText | None = None
    channel: ShortText | None = None
    owner_id: RecordId | None = None
    product_line: ShortText | None = None
    status: CaseStatus = "open"
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    reopened_at: Timestamp | None = None
    agent_interactions: int | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("resolved_at")
    @classmethod
    def _resolved_after_opening(
        cls, value: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        """Refuse a resolution before the case was opened."""
        return _not_before(value, info, "opened_at")

    @field_validator("reopened_at")
    @classmethod
    def _reopened_after_opening(
        cls, value: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        """Refuse a reopening before the case was opened or after its last resolution."""
        _not_before(value, info, "opened_at")
        resolved = info.data.get("resolved_at")
        if value is not None and isinstance(resolved, datetime) and value > resolved:
            raise ValueError(
                f"reopened_at is after resolved_at {resolved.isoformat()}: a case resolved "
                "again after reopening carries that later resolution"
            )
        return value

    @model_validator(mode="after")
    def _resolution_matches_status(self) -> Self:
        """Require ``resolved_at`` on a resolved case and refuse it on an open one."""
        if self.status == "resolved" and self.resolved_at is None:
            raise ValueError("resolved_at is required when status is 'resolved'")
        if self.status == "open" and self.resolved_at is not None:
            raise ValueError("resolved_at is only for a resolved case")
        return self


class SurveyAnswer(CanonicalModel):
    """One customer's answer to a satisfaction survey, on the ``csat`` or ``nps`` scale.

    ``rating`` is 1 to 5 on the CSAT scale and 0 to 10 on the NPS scale. The answer is
    about an interaction, a case or a customer (at least one of the three ids);
    ``agent_id`` is the agent it rates and ``channel`` the channel of the contact it
    rates, which the KPIs break the figures down by. ``answered_at`` is when the
    customer answered: a survey counts in the period it was answered in.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                at_least_one("interaction_id", "case_id", "customer_id"),
                *(_rating_range(scale, low, high) for scale, (low, high) in SCALES.items()),
            ]
        }
    )

    scale: SurveyScale
    rating: int = Field(ge=0, le=10)
    answered_at: Timestamp
    interaction_id: RecordId | None = None
    case_id: RecordId | None = None
    customer_id: RecordId | None = None
    agent_id: RecordId | None = None
    channel: ShortText | None = None
    comment: LongText | None = None

    @field_validator("rating")
    @classmethod
    def _rating_on_its_scale(cls, value: int, info: ValidationInfo) -> int:
        """Refuse a rating outside its scale: a CSAT of 0 or 6..10 means nothing."""
        scale = info.data.get("scale")
        if scale in SCALES:
            low, high = SCALES[scale]
            if not low <= value <= high:
                raise ValueError(f"a {scale} rating is from {low} to {high}, not {value}")
        return value

    @model_validator(mode="after")
    def _about_something(self) -> Self:
        """Require the interaction, case or customer the answer is about."""
        if self.interaction_id is None and self.case_id is None and self.customer_id is None:
            raise ValueError("a survey answer needs an interaction_id, a case_id or a customer_id")
        return self


__all__ = ["SCALES", "CaseStatus", "ServiceCase", "SurveyAnswer", "SurveyScale"]
