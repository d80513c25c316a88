"""Fixtures for API tests: the in-process app around a SQLite runtime with a scripted plugin."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from core.api.app import create_app
from core.db.sync_tables import SyncState
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.scripted_plugin import ScriptedPlugin

with warnings.catch_warnings():
    # Starlette asks for httpx2 under its test client; the plain httpx it falls back to works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient as TestClient

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
WRITER = {"Authorization": "Bearer writer-token-0123456789"}
READER = {"Authorization": "Bearer reader-token-0123456789"}
PROBLEM = "application/problem+json"
MAX_BODY = 1024

#: One valid body per kind (URL name), with Persian text and digits where people type them.
SAMPLES: dict[str, dict[str, Any]] = {
    "customers": {
        "type": "organization",
        "name": "شرکت پمپ‌سازان ایران",
        "phones": ["۰۲۱ ۸۸۸۸ ۱۲۳۴"],
        "emails": ["info@pump.example"],
    },
    "contacts": {"customer_id": "C-1", "name": "مریم رضایی", "phones": ["+98 912 000 1111"]},
    "leads": {"source": "وب‌سایت", "contact_name": "سارا احمدی", "phones": ["٠٩٣٥١٢٣٤٥٦٧"]},
    "opportunities": {
        "customer_id": "C-1",
        "title": "خرید ۲۰ دستگاه",
        "stage": "proposal",
        "amount": "1500000000.50",
    },
    "products": {"sku": "PUMP-100", "name": "پمپ آب", "unit": "عدد", "price": "12500000"},
    "proformas": {
        "customer_id": "C-1",
        "number": "PF-۱۴۰۳-0012",
        "issue_date": "2024-03-20",
        "lines": [{"product_id": "P-1", "quantity": "3", "unit_price": "12500000"}],
    },
    "orders": {
        "customer_id": "C-1",
        "number": "SO-1",
        "lines": [{"product_id": "P-1", "quantity": "2", "unit_price": "12500000"}],
    },
    "reservations": {"order_id": "SO-1", "lines": [{"product_id": "P-1", "quantity": "2"}]},
    "returns": {
        "order_id": "SO-1",
        "customer_id": "C-1",
        "reason": "کالا آسیب دیده بود",
        "lines": [{"product_id": "P-1", "quantity": "1"}],
    },
    "production": {"order_id": "SO-1", "work_order": "WO-۷۷", "stage": "مونتاژ", "progress": 45},
    "interactions": {
        "customer_id": "C-1",
        "channel": "whatsapp",
        "direction": "inbound",
        "occurred_at": "2024-03-20T09:30:00+03:30",
        "text": "سلام، قیمت پمپ ۲ اینچ چند است؟",
    },
    "tasks": {"subject": "پیگیری پیش‌فاکتور", "due_at": "2024-03-21T10:00:00Z"},
    "agents": {"name": "رضا محمدی", "email": "reza@example.com"},
    "cases": {
        "customer_id": "C-1",
        "subject": "پمپ صدا می‌دهد",
        "opened_at": "2024-03-20T09:00:00+03:30",
    },
    "surveys": {
        "scale": "nps",
        "rating": 9,
        "answered_at": "2024-03-21T10:00:00Z",
        "customer_id": "C-1",
    },
    "subscriptions": {"customer_id": "C-1", "amount": "5000000", "start_date": "2024-03-20"},
}


def sample(kind: str, **changes: Any) -> dict[str, Any]:
    """A fresh copy of the sample body of ``kind`` with ``changes`` applied."""
    body = copy.deepcopy(SAMPLES[kind])
    body.update(changes)
    return body


def outbox(runtime: SyncRuntime, record_id: str, kind: str = "customer") -> list[SyncState]:
    """The sync rows (outbox and binding) of one record."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            select(SyncState.__table__)
            .where(SyncState.kind == kind, SyncState.record_id == record_id)
            .order_by(SyncState.plugin)
        ).all()
    return [SyncState(**row._mapping) for row in rows]


def queued(runtime: SyncRuntime, plugin: str = "scripted") -> int:
    """Messages waiting on ``plugin``'s queue of the in-process broker."""
    return int(runtime.broker.queues[runtime.queue_name(plugin)].qsize())


@pytest.fixture
def runtime(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
) -> SyncRuntime:
    """A migrated SQLite runtime with the scripted plugin subscribed to customers."""
    return make_runtime(make_settings(max_body_bytes=MAX_BODY), {"scripted": scripted})


@pytest.fixture
def app(runtime: SyncRuntime) -> FastAPI:
    """The API around ``runtime``, without the sweeper and worker threads."""
    return create_app(runtime, background=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process HTTP client of ``app``."""
    with TestClient(app) as running:
        yield running
