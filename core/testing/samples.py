"""One valid example body per canonical kind, with Persian text and digits where people type them.

Plugin tests (and crm-sync's own) use these as realistic records: every body validates
against its kind's schema, and ``sample(kind)`` returns a deep copy to change freely.
"""
# ruff: noqa: RUF001  (Persian digits and letters are sample data here)

from __future__ import annotations

import copy
from typing import Any

#: One valid ``PUT /v1/{kind}/{id}`` body per kind name (the URL segment).
SAMPLES: dict[str, dict[str, Any]] = {
    "customers": {
        "type": "person",
        "name": "علي  كريمي\u200cنژاد",
        "national_id": "۰۰۱۳۵۴۲۴۱۹",
        "economic_code": "0013542419",
        "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷", "(021) 8888-1234"],
        "emails": ["Ali.Karimi@Example.ir"],
        "addresses": [
            {
                "line1": "خیابان ولیعصر، پلاک ۱۲",
                "city": "تهران",
                "province": "تهران",
                "postal_code": "۱۴۳۴۸۶۳۱۱۱",
            }
        ],
        "owner_id": "agent-7",
        "status": "active",
    },
    "contacts": {
        "customer_id": "org-1",
        "name": "مریم رضایی",
        "job_title": "مدیر خرید",
        "phones": ["+98 912 000 1111"],
        "emails": ["maryam@example.com"],
    },
    "leads": {
        "source": "وب‌سایت",
        "campaign": "نوروز ۱۴۰۳",
        "contact_name": "سارا احمدی",
        "company_name": "شرکت نمونه",
        "phones": ["٠٩٣٥١٢٣٤٥٦٧"],
        "emails": ["Sara@Example.com"],
        "province": "اصفهان",
        "city": "اصفهان",
        "industry": "manufacturing",
        "company_size": 120,
        "budget": "2500000000",
        "status": "new",
        "owner_id": "agent-1",
        "fit_score": 70,
        "engagement_score": 40,
        "score": 58,
        "grade": "B",
    },
    "opportunities": {
        "customer_id": "cust-1",
        "lead_id": "lead-1",
        "title": "خرید ۲۰ دستگاه",
        "stage": "proposal",
        "amount": "1500000000.50",
        "probability": 60,
        "expected_close_date": "2024-06-30",
        "owner_id": "agent-1",
        "status": "open",
    },
    "products": {
        "sku": "PUMP-۱۰۰",
        "name": "پمپ آب",
        "unit": "عدد",
        "price": "12500000",
        "active": True,
    },
    "proformas": {
        "customer_id": "cust-1",
        "number": "PF-۱۴۰۳-0012",
        "issue_date": "2024-03-20",
        "valid_until": "2024-04-20",
        "status": "sent",
        "lines": [
            {
                "product_id": "p-1",
                "description": "پمپ آب، مدل ۲",
                "quantity": "3",
                "unit_price": "12500000",
                "discount": "500000",
                "tax": "3330000",
            },
            {"product_id": "p-2", "quantity": "1.5", "unit_price": "1999999"},
        ],
    },
    "orders": {
        "customer_id": "cust-1",
        "proforma_id": "pf-1",
        "number": "SO-1",
        "order_date": "2024-03-25",
        "status": "confirmed",
        "promised_date": "2024-04-10",
        "lines": [{"product_id": "p-1", "quantity": "2", "unit_price": "12500000", "tax": "0"}],
    },
    "reservations": {
        "order_id": "so-1",
        "lines": [{"product_id": "p-1", "quantity": "2"}],
        "status": "reserved",
        "expires_at": "2024-04-01T12:00:00+03:30",
    },
    "returns": {
        "order_id": "so-1",
        "customer_id": "cust-1",
        "reason": "کالا آسیب دیده بود",
        "lines": [{"product_id": "p-1", "quantity": "1", "reason": "شکستگی"}],
        "status": "requested",
    },
    "production": {
        "order_id": "so-1",
        "work_order": "WO-۷۷",
        "stage": "مونتاژ",
        "progress": 45,
        "eta": "2024-04-05",
    },
    "interactions": {
        "customer_id": "cust-1",
        "channel": "whatsapp",
        "direction": "inbound",
        "occurred_at": "2024-03-20T09:30:00+03:30",
        "text": "سلام، قیمت پمپ ۲ اینچ چند است؟ كد ۱۲۳",
        "external_message_id": "wamid.HBgLOTg5MTIxMjM0NTY3FQIAEhgUM0E",
        "delivery_status": "read",
    },
    "tasks": {
        "subject": "پیگیری پیش‌فاکتور",
        "related_type": "proforma",
        "related_id": "pf-1",
        "owner_id": "agent-1",
        "due_at": "2024-03-21T10:00:00Z",
        "status": "open",
        "stage": "follow-up",
    },
    "agents": {
        "name": "رضا محمدی",
        "email": "Reza@Example.com",
        "phone": "09121112233",
        "team": "فروش",
        "active": True,
        "languages": ["fa", "en"],
        "skills": ["pumps"],
        "provinces": ["تهران", "البرز"],
        "time_zone": "Asia/Tehran",
    },
    "cases": {
        "customer_id": "cust-1",
        "subject": "پمپ صدا می‌دهد",
        "channel": "whatsapp",
        "owner_id": "agent-7",
        "product_line": "پمپ",
        "status": "resolved",
        "opened_at": "2024-04-01T09:00:00+03:30",
        "resolved_at": "2024-04-01T11:30:00+03:30",
        "agent_interactions": 1,
    },
    "surveys": {
        "scale": "csat",
        "rating": 5,
        "answered_at": "2024-04-01T12:00:00+03:30",
        "case_id": "case-1",
        "customer_id": "cust-1",
        "agent_id": "agent-7",
        "channel": "whatsapp",
        "comment": "خیلی سریع حل شد",
    },
    "subscriptions": {
        "customer_id": "cust-1",
        "product_line": "پشتیبانی",
        "plan": "طلایی",
        "amount": "120000000",
        "billing": "annual",
        "start_date": "2024-03-20",
    },
    "events": {
        "type": "order.promise_changed",
        "subject_type": "order",
        "subject_id": "so-1",
        "source": "production",
        "occurred_at": "2024-04-01T08:00:00+03:30",
        "payload": {"old": "2024-04-10", "new": "2024-04-14", "reason": "کمبود قطعه"},
    },
}


def sample(kind: str) -> dict[str, Any]:
    """A deep copy of the sample body of ``kind`` (a URL segment such as ``customers``)."""
    return copy.deepcopy(SAMPLES[kind])
