"""Schema of recurring revenue: a customer's subscription, billed monthly or annually.

MRR, ARR, churn and customer lifetime value are computed from these records
(docs/kpis.md): which subscriptions run on a day, for how much a month.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import ValidationInfo, field_validator

from core.schemas.base import CanonicalModel, RecordId
from core.schemas.fields import Day, NonNegativeAmount, ShortText

Billing = Literal["monthly", "annual"]


class Subscription(CanonicalModel):
    """A recurring fee a customer pays for a product line, in Rials per billing period.

    ``amount`` is what one billing period costs (a month, or a year when ``billing`` is
    ``annual``), in Rials. The subscription runs from ``start_date`` (its first day)
    until the day before ``end_date``: ``end_date`` is the first day it no longer runs,
    whether it was cancelled or came to its term, and stays empty while it runs on.
    ``cancelled_on`` is the day the customer asked to cancel, which may come before the
    end.
    """

    customer_id: RecordId
    product_line: ShortText | None = None
    plan: ShortText | None = None
    amount: NonNegativeAmount
    billing: Billing = "monthly"
    start_date: Day
    end_date: Day | None = None
    cancelled_on: Day | None = None
    owner_id: RecordId | None = None

    @field_validator("end_date")
    @classmethod
    def _ends_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        """Refuse an end on or before the start: such a subscription never ran."""
        start = info.data.get("start_date")
        if value is not None and isinstance(start, date) and value <= start:
            raise ValueError(
                f"end_date {value.isoformat()} is not after start_date {start.isoformat()}"
            )
        return value

    @field_validator("cancelled_on")
    @classmethod
    def _cancelled_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        """Refuse a cancellation dated before the subscription started."""
        start = info.data.get("start_date")
        if value is not None and isinstance(start, date) and value < start:
            raise ValueError(
                f"cancelled_on {value.isoformat()} is before start_date {start.isoformat()}"
            )
        return value


__all__ = ["Billing", "Subscription"]
