"""Shared set-up of the finance plugin's tests: linked records and runtimes on SQLite."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import plugins.finance.plugin as finance
from core.db.sync_tables import SyncState
from core.kinds import KINDS_BY_TYPE
from core.settings import Settings
from core.store import get_record, sync_rows, write_record
from core.sync.runtime import SyncRuntime

CUSTOMER: dict[str, Any] = {
    "type": "person",
    "name": "علي كريمي",
    "national_id": "۰۰۱۳۵۴۲۴۱۹",
    "economic_code": "0013542419",
    "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷", "(021) 8888-1234"],
    "emails": ["ali.karimi@example.ir"],
    "addresses": [
        {"line1": "خیابان ولیعصر، پلاک ۱۲", "city": "تهران", "postal_code": "۱۴۳۴۸۶۳۱۱۱"}
    ],
}
PRODUCTS: dict[str, dict[str, Any]] = {
    "p-1": {"sku": "PUMP-100", "name": "پمپ آب", "unit": "عدد", "price": "12500000"},
    "p-2": {"sku": "VALVE-7", "name": "شیر", "unit": "عدد", "price": "1999999"},
}
#: Line 1: 3 x 12,500,000 - 500,000 discount = 37,000,000 net, 10% tax 3,700,000.
#: Line 2: 2 x 1,999,999 = 3,999,998 net, no tax. Total 44,699,998 Rials.
PROFORMA: dict[str, Any] = {
    "customer_id": "cust-1",
    "number": "PF-۱۴۰۳-0012",
    "issue_date": "2024-03-20",
    "status": "sent",
    "lines": [
        {
            "product_id": "p-1",
            "description": "پمپ آب، مدل ۲",
            "quantity": "3",
            "unit_price": "12500000",
            "discount": "500000",
            "tax": "3700000",
        },
        {"product_id": "p-2", "quantity": "2", "unit_price": "1999999"},
    ],
}
PROFORMA_TOTAL = "44699998"


def proforma(customer_id: str = "cust-1", **changes: Any) -> dict[str, Any]:
    """A copy of the sample pro-forma for ``customer_id`` with ``changes``."""
    body = copy.deepcopy(PROFORMA)
    body["customer_id"] = customer_id
    body.update(changes)
    return body


def linked_records(suffix: str = "") -> list[tuple[str, str, dict[str, Any]]]:
    """A customer, two products and a pro-forma that needs them, dependencies first.

    ``suffix`` makes ids (and SKUs) unique, for tests that share one ERP.
    """
    records: list[tuple[str, str, dict[str, Any]]] = [("customer", f"cust-1{suffix}", CUSTOMER)]
    for product_id, body in PRODUCTS.items():
        records.append(("product", f"{product_id}{suffix}", {**body, "sku": body["sku"] + suffix}))
    body = proforma(f"cust-1{suffix}")
    for line in body["lines"]:
        line["product_id"] += suffix
    records.append(("proforma", f"pf-1{suffix}", body))
    return records


def write(runtime: SyncRuntime, type_: str, record_id: str, body: dict[str, Any]) -> int:
    """Write a record as the API would; return its version."""
    kind = KINDS_BY_TYPE[type_]
    model = kind.schema.model_validate(body)
    return write_record(
        runtime.engine, kind, record_id, model, subscribers=runtime.host.subscribers(type_)
    ).record.version


def state(runtime: SyncRuntime, type_: str, record_id: str) -> SyncState:
    """The finance plugin's delivery state of one record."""
    [row] = [r for r in sync_rows(runtime.engine, type_, record_id) if r.plugin == "finance"]
    return row


def stored(runtime: SyncRuntime, type_: str, record_id: str) -> dict[str, Any]:
    """The stored data of one record."""
    record = get_record(runtime.engine, KINDS_BY_TYPE[type_], record_id)
    assert record is not None
    return dict(record.data)


def drain(runtime: SyncRuntime, refs: list[tuple[str, str]] | None = None) -> None:
    """Push everything due for the finance plugin, as the worker would."""
    if refs:
        for ref in refs:
            runtime.sync.process("finance", [ref])
    for _ in range(20):
        if not runtime.sync.process("finance", []).pushed:
            return


@pytest.fixture
def make_finance(
    tmp_path: Path, make_runtime: Callable[..., SyncRuntime]
) -> Callable[..., SyncRuntime]:
    """Build migrated runtimes holding only the finance plugin with the given settings."""
    numbers = itertools.count()

    def build(plugin_settings: dict[str, Any], **sync: Any) -> SyncRuntime:
        settings = Settings(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / f'finance-{next(numbers)}.db'}",
            api_tokens="admin:admin:admin-token-0123456789",
            plugins={"finance": plugin_settings},
            sync={
                "push_timeout_seconds": 5,
                "lease_seconds": 15,
                "max_attempts": 3,
                "min_backoff_seconds": 0.1,
                "max_backoff_seconds": 1.0,
                **sync,
            },
        )
        return make_runtime(settings, {"finance": finance})

    return build
