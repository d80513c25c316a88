"""The table of first responses (``kpi_first_responses``), which the first response time reads.

One row per lead: when its clock started (the lead's record creation, when it reached
crm-sync) and its first outbound contact on the lead's timeline (notes left out), or
None while unanswered. :mod:`core.first_responses` keeps it on every lead and
interaction write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.types import UTCDateTime


class FirstResponse(Base):
    """A lead's first-response clock: when it started and when the lead was first answered."""

    __tablename__ = "kpi_first_responses"

    lead_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


__all__ = ["FirstResponse"]
