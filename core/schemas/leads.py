"""Schemas of the sales funnel: leads and the opportunities they turn into."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from core.schemas.attributes import Attributes
from core.schemas.base import (
    CanonicalModel,
    CurrencyCode,
    RecordId,
    at_least_one,
    null_unless,
    required_when,
)
from core.schemas.fields import (
    CountryCode,
    Day,
    Description,
    Email,
    Name,
    NonNegativeAmount,
    Percent,
    Phone,
    ShortText,
    Timestamp,
    phone_keys,
)

LeadStatus = Literal["new", "contacted", "qualified", "unqualified", "converted", "lost"]
OpportunityStatus = Literal["open", "won", "lost"]


class Lead(CanonicalModel):
    """A prospective customer who is not qualified yet.

    A minimal lead says who it is (a contact name, a company name, a phone or an email)
    or where it came from (``source`` or ``channel``): a web form that asks for no name
    yet still sends a lead worth scoring. ``channel`` is how it reached us (``web``,
    ``whatsapp``, ``referral``...), ``country`` an ISO 3166 code, ``attributes`` the
    organisation's custom fields, declared in the settings. ``closed_at`` is when the
    lead was converted or lost: the model learns from its history up to that moment
    only. ``qualified_at`` is when the CRM qualified the lead and ``converted_at`` when
    it became a customer or an opportunity: the sales KPIs count leads by them
    (docs/kpis.md). ``qualified_at`` is the sales qualification (SQL); ``mql_at`` is
    when marketing qualified the lead (MQL), never after ``qualified_at``.
    ``company_size`` is a head count; ``budget`` is an exact amount in ``currency``.
    The score fields (each 0 to 100) and ``grade`` belong to lead scoring, which may
    write them back; they are optional and never computed here.
    """

    model_config = ConfigDict(
        json_schema_extra=at_least_one(
            "contact_name", "company_name", "source", "channel", lists=("phones", "emails")
        )
    )

    source: ShortText | None = None
    campaign: ShortText | None = None
    channel: ShortText | None = None
    contact_name: Name | None = None
    company_name: Name | None = None
    job_title: ShortText | None = None
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    emails: list[Email] = Field(default_factory=list, max_length=20)
    province: ShortText | None = None
    city: ShortText | None = None
    country: CountryCode | None = None
    industry: ShortText | None = None
    company_size: int | None = Field(default=None, ge=0, le=10_000_000)
    budget: NonNegativeAmount | None = None
    currency: CurrencyCode = "IRR"
    status: LeadStatus = "new"
    closed_at: Timestamp | None = None
    attributes: Attributes = Field(default_factory=dict)
    qualified_at: Timestamp | None = None
    converted_at: Timestamp | None = None
    mql_at: Timestamp | None = None
    system_fields = frozenset({"owner_id", "fit_score", "engagement_score", "score", "grade"})

    owner_id: RecordId | None = None
    fit_score: Percent | None = None
    engagement_score: Percent | None = None
    score: Percent | None = None
    grade: str | None = Field(default=None, min_length=1, max_length=8)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def phones_e164(self) -> list[str]:
        """``phones`` as the E.164 keys lookups and duplicate checks compare."""
        return phone_keys(self.phones)

    @field_validator("mql_at")
    @classmethod
    def _marketing_before_sales(
        cls, value: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        """Refuse a marketing qualification after the sales one: the funnel would run backwards."""
        sales = info.data.get("qualified_at")
        if value is not None and isinstance(sales, datetime) and value > sales:
            raise ValueError(f"mql_at is after qualified_at {sales.isoformat()}")
        return value

    @model_validator(mode="after")
    def _identifiable(self) -> Self:
        """Refuse a lead that says neither who it is nor where it came from."""
        if not (
            self.contact_name
            or self.company_name
            or self.phones
            or self.emails
            or self.source
            or self.channel
        ):
            raise ValueError(
                "a lead needs at least one of contact_name, company_name, phones, emails, "
                "source or channel"
            )
        return self

    @model_validator(mode="after")
    def _converted_after_qualified(self) -> Self:
        """Refuse a conversion dated before the qualification: the funnel would run backwards."""
        if self.qualified_at and self.converted_at and self.converted_at < self.qualified_at:
            raise ValueError(
                f"converted_at {self.converted_at.isoformat()} is before "
                f"qualified_at {self.qualified_at.isoformat()}"
            )
        return self


class Opportunity(CanonicalModel):
    """A deal being worked on with a customer, from first quote to won or lost.

    ``stage`` is the name of the pipeline stage in the CRM; ``probability`` is a whole
    percentage. A lost opportunity must say why (``lost_reason``). ``opened_at`` is when
    the deal was opened in the CRM and ``closed_at`` when it was won or lost; only a
    closed opportunity has a ``closed_at``, never before ``opened_at``. ``product_line``
    is the line of products the deal is about, the label the KPIs break figures down by.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                required_when("status", "lost", "lost_reason"),
                null_unless("status", ("won", "lost"), "closed_at"),
            ]
        }
    )

    customer_id: RecordId
    lead_id: RecordId | None = None
    title: Name
    stage: ShortText
    amount: NonNegativeAmount | None = None
    currency: CurrencyCode = "IRR"
    probability: Percent | None = None
    expected_close_date: Day | None = None
    owner_id: RecordId | None = None
    status: OpportunityStatus = "open"
    lost_reason: Description | None = None
    product_line: ShortText | None = None
    opened_at: Timestamp | None = None
    closed_at: Timestamp | None = None

    @model_validator(mode="after")
    def _lost_needs_reason(self) -> Self:
        """Require a reason for a lost opportunity: without it the loss teaches nothing."""
        if self.status == "lost" and self.lost_reason is None:
            raise ValueError("lost_reason is required when status is 'lost'")
        return self

    @model_validator(mode="after")
    def _closed_dates(self) -> Self:
        """Refuse a close date on an open deal, or one before the deal was opened."""
        if self.closed_at is not None and self.status == "open":
            raise ValueError("closed_at is only for a won or lost opportunity")
        if self.closed_at and self.opened_at and self.closed_at < self.opened_at:
            raise ValueError(
                f"closed_at {self.closed_at.isoformat()} is before "
                f"opened_at {self.opened_at.isoformat()}"
            )
        return self


__all__ = ["Lead", "LeadStatus", "Opportunity", "OpportunityStatus"]
