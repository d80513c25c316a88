"""The list of canonical kinds: URL name, document type, schema, table and lookup columns.

Import the registry through :mod:`core.kinds` (``from core.kinds import KINDS``), which
builds its lookups from ``KIND_LIST``. Each ``index`` function derives the typed
columns of its table from a validated record; the store writes them next to the
document on every change, so they can never disagree with it.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from core.db import records
from core.db.base import RecordMixin
from core.locale import normalize_digits, normalize_phone, search_text
from core.schemas.activities import Interaction, Task
from core.schemas.base import CanonicalModel
from core.schemas.events import Event
from core.schemas.leads import Lead, Opportunity
from core.schemas.parties import Agent, Contact, Customer
from core.schemas.sales import (
    Product,
    ProductionStatus,
    ProForma,
    ReturnRequest,
    SalesOrder,
    StockReservation,
)
from core.schemas.service import ServiceCase, SurveyAnswer
from core.schemas.subscriptions import Subscription

_Model = TypeVar("_Model", bound=CanonicalModel)


@dataclass(frozen=True)
class Kind:
    """One kind of canonical record.

    ``name`` is the plural URL segment (``customers``); ``type`` is the singular name
    used in documents, subscriptions and sync bookkeeping (``customer``); ``schema`` is
    the pydantic model of the request body; ``table`` is the ORM class that stores it;
    ``index`` extracts the typed lookup columns of ``table`` from a validated record;
    ``writable`` is False for kinds only core and plugins write (events).
    """

    name: str
    type: str
    schema: builtins.type[CanonicalModel]
    table: builtins.type[RecordMixin]
    index: Callable[[CanonicalModel], dict[str, Any]]
    writable: bool = True


def _expect(record: CanonicalModel, schema: type[_Model]) -> _Model:
    """Return ``record`` typed as ``schema``; TypeError if it is another kind's record."""
    if not isinstance(record, schema):
        raise TypeError(f"expected a {schema.__name__} record, got {type(record).__name__}")
    return record


def _e164(phones: Iterable[str]) -> list[str]:
    """Return the E.164 forms of ``phones`` (already validated by the schema)."""
    return [normalize_phone(phone) for phone in phones]


def _emails(emails: Iterable[str]) -> list[str]:
    """Return ``emails`` lower-cased, the form lookups compare."""
    return [email.strip().lower() for email in emails]


def _digits(value: str | None) -> str | None:
    """Return an id written in any digits as ASCII digits, or None."""
    return normalize_digits(value.strip()) if value is not None else None


def _attribute_text(attributes: Mapping[str, object]) -> list[str]:
    """Return the text values of custom attributes, which search finds like names."""
    return [value for value in attributes.values() if isinstance(value, str)]


def customer_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a customer.

    ``search`` holds the normalised name, the phones in E.164, the emails lower-cased
    and the ids (national id, economic code, registration number) in ASCII digits.
    """
    customer = _expect(record, Customer)
    national_id = _digits(customer.national_id)
    return {
        "name": customer.name,
        "search": search_text(
            customer.name,
            *_e164(customer.phones),
            *_emails(customer.emails),
            national_id,
            _digits(customer.economic_code),
            _digits(customer.registration_number),
            *_attribute_text(customer.attributes),
        ),
        "national_id": national_id,
        "owner_id": customer.owner_id,
        "status": customer.status,
    }


def contact_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a contact; ``search`` as for customers."""
    contact = _expect(record, Contact)
    return {
        "customer_id": contact.customer_id,
        "name": contact.name,
        "search": search_text(contact.name, *_e164(contact.phones), *_emails(contact.emails)),
    }


def agent_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of an agent."""
    agent = _expect(record, Agent)
    return {
        "email": _emails([agent.email])[0] if agent.email is not None else None,
        "active": agent.active,
        "team": agent.team,
    }


def lead_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a lead; ``email`` and ``phone_e164`` are the first ones.

    ``search`` holds the names, phones, emails and the text of custom attributes.
    """
    lead = _expect(record, Lead)
    phones = _e164(lead.phones)
    emails = _emails(lead.emails)
    return {
        "status": lead.status,
        "owner_id": lead.owner_id,
        "email": emails[0] if emails else None,
        "phone_e164": phones[0] if phones else None,
        "search": search_text(
            lead.contact_name,
            lead.company_name,
            *phones,
            *emails,
            *_attribute_text(lead.attributes),
        ),
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "score": lead.score,
        "grade": lead.grade,
        "source": lead.source,
        "channel": lead.channel,
        "qualified_at": lead.qualified_at,
        "converted_at": lead.converted_at,
        "mql_at": lead.mql_at,
    }


def opportunity_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of an opportunity."""
    opportunity = _expect(record, Opportunity)
    return {
        "customer_id": opportunity.customer_id,
        "stage": opportunity.stage,
        "status": opportunity.status,
        "owner_id": opportunity.owner_id,
        "lead_id": opportunity.lead_id,
        "amount": float(opportunity.amount) if opportunity.amount is not None else None,
        "probability": opportunity.probability,
        "expected_close_date": opportunity.expected_close_date,
        "product_line": opportunity.product_line,
        "lost_reason": opportunity.lost_reason,
        "opened_at": opportunity.opened_at,
        "closed_at": opportunity.closed_at,
    }


def product_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a product."""
    return {"sku": _expect(record, Product).sku}


def proforma_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a pro-forma invoice."""
    proforma = _expect(record, ProForma)
    return {
        "customer_id": proforma.customer_id,
        "status": proforma.status,
        "number": proforma.number,
    }


def order_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a sales order."""
    order = _expect(record, SalesOrder)
    return {
        "customer_id": order.customer_id,
        "status": order.status,
        "proforma_id": order.proforma_id,
    }


def reservation_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a stock reservation."""
    reservation = _expect(record, StockReservation)
    return {
        "order_id": reservation.order_id,
        "proforma_id": reservation.proforma_id,
        "service_case_id": reservation.service_case_id,
        "status": reservation.status,
    }


def return_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a return request."""
    request = _expect(record, ReturnRequest)
    return {"order_id": request.order_id, "status": request.status}


def production_status_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a production status."""
    return {"order_id": _expect(record, ProductionStatus).order_id}


def interaction_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of an interaction."""
    interaction = _expect(record, Interaction)
    return {
        "customer_id": interaction.customer_id,
        "lead_id": interaction.lead_id,
        "channel": interaction.channel,
        "direction": interaction.direction,
        "occurred_at": interaction.occurred_at,
        "external_message_id": interaction.external_message_id,
        "case_id": interaction.case_id,
    }


def task_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a task."""
    task = _expect(record, Task)
    return {
        "owner_id": task.owner_id,
        "status": task.status,
        "due_at": task.due_at,
        "done_at": task.done_at,
        "related_type": task.related_type,
        "related_id": task.related_id,
    }


def service_case_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a service case."""
    case = _expect(record, ServiceCase)
    return {
        "customer_id": case.customer_id,
        "owner_id": case.owner_id,
        "channel": case.channel,
        "product_line": case.product_line,
        "status": case.status,
        "opened_at": case.opened_at,
        "resolved_at": case.resolved_at,
        "reopened_at": case.reopened_at,
        "agent_interactions": case.agent_interactions,
    }


def survey_answer_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a survey answer."""
    answer = _expect(record, SurveyAnswer)
    return {
        "scale": answer.scale,
        "rating": answer.rating,
        "answered_at": answer.answered_at,
        "interaction_id": answer.interaction_id,
        "case_id": answer.case_id,
        "customer_id": answer.customer_id,
        "agent_id": answer.agent_id,
        "channel": answer.channel,
    }


def subscription_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of a subscription; an annual fee counts as a twelfth a month."""
    subscription = _expect(record, Subscription)
    months = 12 if subscription.billing == "annual" else 1
    return {
        "customer_id": subscription.customer_id,
        "product_line": subscription.product_line,
        "owner_id": subscription.owner_id,
        "billing": subscription.billing,
        "monthly_amount": float(subscription.amount) / months,
        "start_date": subscription.start_date,
        "end_date": subscription.end_date,
    }


def event_index(record: CanonicalModel) -> dict[str, Any]:
    """Return the lookup columns of an event."""
    event = _expect(record, Event)
    return {
        "type": event.type,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "occurred_at": event.occurred_at,
    }


#: Every kind of canonical record: Kind(name, type, schema, table, index).
KIND_LIST: list[Kind] = [
    Kind("customers", "customer", Customer, records.CustomerRow, customer_index),
    Kind("contacts", "contact", Contact, records.ContactRow, contact_index),
    Kind("leads", "lead", Lead, records.LeadRow, lead_index),
    Kind("opportunities", "opportunity", Opportunity, records.OpportunityRow, opportunity_index),
    Kind("products", "product", Product, records.ProductRow, product_index),
    Kind("proformas", "proforma", ProForma, records.ProFormaRow, proforma_index),
    Kind("orders", "order", SalesOrder, records.SalesOrderRow, order_index),
    Kind(
        "reservations",
        "reservation",
        StockReservation,
        records.StockReservationRow,
        reservation_index,
    ),
    Kind("returns", "return", ReturnRequest, records.ReturnRequestRow, return_index),
    Kind(
        "production",
        "production_status",
        ProductionStatus,
        records.ProductionStatusRow,
        production_status_index,
    ),
    Kind("interactions", "interaction", Interaction, records.InteractionRow, interaction_index),
    Kind("tasks", "task", Task, records.TaskRow, task_index),
    Kind("agents", "agent", Agent, records.AgentRow, agent_index),
    Kind("cases", "service_case", ServiceCase, records.ServiceCaseRow, service_case_index),
    Kind("surveys", "survey_answer", SurveyAnswer, records.SurveyAnswerRow, survey_answer_index),
    Kind(
        "subscriptions",
        "subscription",
        Subscription,
        records.SubscriptionRow,
        subscription_index,
    ),
    Kind("events", "event", Event, records.EventRow, event_index, writable=False),
]

__all__ = ["KIND_LIST"]
