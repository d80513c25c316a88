"""One table per kind of canonical record: the JSON document plus typed lookup columns.

The document in ``data`` is the record as the API accepted it. The columns each class
adds are derived from it on every write (see ``index`` in core/schemas/registry.py) and
exist only so that lists, filters and matching need not read the documents: they hold
normalised forms (E.164 phones, ASCII digits, :func:`core.locale.normalize_text`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, RecordMixin
from core.db.types import UTCDateTime

#: Length of a column that holds a record id (the caller's ids, see RecordId).
ID_LENGTH = 128
#: Length of a status, channel or stage column.
CODE_LENGTH = 64
#: Length of a name column (names are at most 300 characters).
NAME_LENGTH = 300
#: Length of a short free-text label column (a source, a team, a product line).
LABEL_LENGTH = 200
#: An amount for aggregation: the exact amount stays in ``data``; sums and means of
#: this column are floats on both databases, as precise as a KPI needs.
AMOUNT = Numeric(24, 4, asdecimal=False)


class CustomerRow(RecordMixin, Base):
    """A customer; ``search`` joins its normalised name, E.164 phones, emails and ids."""

    __tablename__ = "customers"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    search: Mapped[str] = mapped_column(Text)
    national_id: Mapped[str | None] = mapped_column(String(16), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)


class ContactRow(RecordMixin, Base):
    """A contact person of a customer; ``search`` as for customers."""

    __tablename__ = "contacts"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    search: Mapped[str] = mapped_column(Text)


class AgentRow(RecordMixin, Base):
    """A salesperson or support agent; ``email`` is lower-cased."""

    __tablename__ = "agents"

    email: Mapped[str | None] = mapped_column(String(254), index=True)
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    team: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)


class LeadRow(RecordMixin, Base):
    """A lead; ``email`` and ``phone_e164`` are its first email and phone, for matching.

    ``source``, ``channel``, ``mql_at``, ``qualified_at`` and ``converted_at`` are what
    the sales KPIs and the funnel count by.
    """

    __tablename__ = "leads"

    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone_e164: Mapped[str | None] = mapped_column(String(16), index=True)
    search: Mapped[str] = mapped_column(Text)
    fit_score: Mapped[int | None] = mapped_column(Integer)
    engagement_score: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[int | None] = mapped_column(Integer, index=True)
    grade: Mapped[str | None] = mapped_column(String(8), index=True)
    source: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)
    channel: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    mql_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class OpportunityRow(RecordMixin, Base):
    """An opportunity in the sales pipeline, with what the KPIs and the board read."""

    __tablename__ = "opportunities"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    stage: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    lead_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    amount: Mapped[float | None] = mapped_column(AMOUNT)
    probability: Mapped[int | None] = mapped_column(Integer)
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    product_line: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)
    lost_reason: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class ProductRow(RecordMixin, Base):
    """A product; looked up by SKU."""

    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(String(200), index=True)


class ProFormaRow(RecordMixin, Base):
    """A pro-forma invoice."""

    __tablename__ = "proformas"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    number: Mapped[str] = mapped_column(String(200), index=True)


class SalesOrderRow(RecordMixin, Base):
    """A sales order."""

    __tablename__ = "orders"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    proforma_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)


class StockReservationRow(RecordMixin, Base):
    """A stock reservation; exactly one of the three document ids is set."""

    __tablename__ = "reservations"

    order_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    proforma_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    service_case_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)


class ReturnRequestRow(RecordMixin, Base):
    """A return request (RMA)."""

    __tablename__ = "returns"

    order_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)


class ProductionStatusRow(RecordMixin, Base):
    """The production status of an order's work order."""

    __tablename__ = "production_statuses"

    order_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)


class InteractionRow(RecordMixin, Base):
    """An interaction on a customer's or lead's timeline.

    ``external_message_id`` finds the interaction again when the channel reports a
    delivery status for it; ``case_id`` is the service case it handled.
    """

    __tablename__ = "interactions"

    customer_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    lead_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    channel: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    direction: Mapped[str | None] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    external_message_id: Mapped[str | None] = mapped_column(String(256), index=True)
    case_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)

    __table_args__ = (
        Index("ix_interactions_lead_timeline", "lead_id", "occurred_at"),
        Index("ix_interactions_customer_timeline", "customer_id", "occurred_at"),
    )


class TaskRow(RecordMixin, Base):
    """A follow-up task."""

    __tablename__ = "tasks"

    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    related_type: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    related_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    __table_args__ = (Index("ix_tasks_related", "related_type", "related_id"),)


class ServiceCaseRow(RecordMixin, Base):
    """A service case, with what first contact resolution counts."""

    __tablename__ = "service_cases"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    channel: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)
    product_line: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    agent_interactions: Mapped[int | None] = mapped_column(Integer)


class SurveyAnswerRow(RecordMixin, Base):
    """A survey answer (CSAT or NPS) with what the satisfaction KPIs group by."""

    __tablename__ = "survey_answers"

    scale: Mapped[str] = mapped_column(String(16), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    interaction_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    case_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    channel: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)


class SubscriptionRow(RecordMixin, Base):
    """A subscription; ``monthly_amount`` is its fee per month (an annual fee / 12)."""

    __tablename__ = "subscriptions"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    product_line: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    billing: Mapped[str] = mapped_column(String(16))
    monthly_amount: Mapped[float] = mapped_column(AMOUNT)
    start_date: Mapped[date] = mapped_column(Date, index=True)
    end_date: Mapped[date | None] = mapped_column(Date, index=True)


__all__ = [
    "AgentRow",
    "ContactRow",
    "CustomerRow",
    "InteractionRow",
    "LeadRow",
    "OpportunityRow",
    "ProFormaRow",
    "ProductRow",
    "ProductionStatusRow",
    "ReturnRequestRow",
    "SalesOrderRow",
    "ServiceCaseRow",
    "StockReservationRow",
    "SubscriptionRow",
    "SurveyAnswerRow",
    "TaskRow",
]


class EventRow(RecordMixin, Base):
    """An event about a record; ``subject_type`` and ``subject_id`` make its timeline."""

    __tablename__ = "events"

    type: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_events_subject", "subject_type", "subject_id"),)
