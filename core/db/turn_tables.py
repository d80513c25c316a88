"""The table of customer turns (``kpi_customer_turns``), which response times read.

One row per customer turn: an inbound interaction whose predecessor on its timeline
(the customer's, else the lead's; notes left out) is not inbound, with the first
outbound reply at or after it. :mod:`core.turns` keeps it on every interaction write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.types import UTCDateTime


class CustomerTurn(Base):
    """A customer's turn: when it began, on which channel, and when it was answered."""

    __tablename__ = "kpi_customer_turns"

    interaction_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(128))
    lead_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        Index("ix_kpi_customer_turns_customer", "customer_id"),
        Index("ix_kpi_customer_turns_lead", "lead_id"),
    )


__all__ = ["CustomerTurn"]
