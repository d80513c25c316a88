"""Schemas of what happens around customers and leads: interactions and follow-up tasks."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.schemas.base import (
    CanonicalModel,
    ExternalId,
    RecordId,
    at_least_one,
    null_unless,
    together,
)
from core.schemas.fields import LongText, Name, ShortText, Timestamp
from core.schemas.messages import MessageContent

Channel = Literal["call", "email", "sms", "whatsapp", "visit", "note"]
Direction = Literal["inbound", "outbound"]
DeliveryStatus = Literal["pending", "sent", "delivered", "read", "played", "failed"]
TaskStatus = Literal["open", "done", "cancelled"]

#: Types of record a task can follow up (the singular kind types).
RelatedType = Literal[
    "customer",
    "contact",
    "lead",
    "opportunity",
    "proforma",
    "order",
    "reservation",
    "return",
    "interaction",
    "service_case",
]


class DeliveryError(BaseModel):
    """What a channel said went wrong with a message: its code, title and details."""

    model_config = ConfigDict(extra="forbid")

    code: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    title: ShortText | None = None
    message: LongText | None = None
    details: LongText | None = None


class Interaction(CanonicalModel):
    """One contact with a customer or lead, on the customer's timeline.

    ``occurred_at`` carries its time zone offset. ``external_message_id`` is the id the
    channel gave the message (a WhatsApp message id, an email Message-ID), by which
    later delivery statuses find it; ``delivery_status`` is the channel's latest word on
    an outbound message, given at ``status_at``, with the channel's ``delivery_errors``
    when it failed. ``content`` is what a message held beyond its ``text`` (a media
    file, a location, a button tapped), as the channel's plugin describes it;
    ``reply_to`` is the channel's id of the message this one answers; ``case_id`` the
    service case the interaction handled, if any. At least one of
    ``customer_id`` and ``lead_id`` is required.
    """

    system_fields = frozenset({"delivery_status", "status_at", "delivery_errors"})

    model_config = ConfigDict(json_schema_extra=at_least_one("customer_id", "lead_id"))

    customer_id: RecordId | None = None
    lead_id: RecordId | None = None
    channel: Channel
    direction: Direction
    occurred_at: Timestamp
    text: LongText | None = None
    external_message_id: ExternalId | None = None
    delivery_status: DeliveryStatus | None = None
    status_at: Timestamp | None = None
    delivery_errors: list[DeliveryError] = Field(default_factory=list, max_length=20)
    content: MessageContent | None = None
    reply_to: ExternalId | None = None
    case_id: RecordId | None = None

    @model_validator(mode="after")
    def _belongs_to_someone(self) -> Self:
        """Require the customer or lead whose timeline this interaction is on."""
        if self.customer_id is None and self.lead_id is None:
            raise ValueError("an interaction needs a customer_id or a lead_id")
        return self


class Task(CanonicalModel):
    """A follow-up to do by ``due_at``, optionally about one record (``related_type`` + id).

    ``stage`` is free text for the step of a process the task belongs to. ``done_at``
    is when a done task was done: on-time follow-up compares it with ``due_at``.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                together("related_type", "related_id"),
                null_unless("status", ("done",), "done_at"),
            ]
        }
    )

    subject: Name
    related_type: RelatedType | None = None
    related_id: RecordId | None = None
    owner_id: RecordId | None = None
    due_at: Timestamp | None = None
    status: TaskStatus = "open"
    stage: ShortText | None = None
    done_at: Timestamp | None = None

    @model_validator(mode="after")
    def _done_at_when_done(self) -> Self:
        """Refuse a completion time on a task that is not done."""
        if self.done_at is not None and self.status != "done":
            raise ValueError("done_at is only for a task whose status is 'done'")
        return self

    @model_validator(mode="after")
    def _related_pair(self) -> Self:
        """Require related_type and related_id together or not at all."""
        if (self.related_type is None) != (self.related_id is None):
            raise ValueError("related_type and related_id must be given together")
        return self


__all__ = [
    "Channel",
    "DeliveryError",
    "DeliveryStatus",
    "Direction",
    "Interaction",
    "RelatedType",
    "Task",
    "TaskStatus",
]
