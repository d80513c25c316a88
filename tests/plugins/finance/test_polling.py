"""The Tryton invoice cursor: shared timestamps, cut batches and late commits, each change once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from erp.tryton.invoices import InvoiceCursor, changed_rows
from plugins.finance.tryton import payment

T0 = dt.datetime(2026, 11, 23, 10, 0, 0, 123456)


def invoice(invoice_id: int, stamp: dt.datetime, state: str = "posted", to_pay: str = "100") -> Any:
    return {
        "id": invoice_id,
        "number": f"INV-{invoice_id}",
        "state": state,
        "total_amount": Decimal(100),
        "amount_to_pay": Decimal(to_pay),
        "sales": [invoice_id],
        "last_modified_at": stamp,
    }


def test_invoices_sharing_a_timestamp_across_a_cut_batch_are_each_handed_out_once() -> None:
    rows = [invoice(i, T0) for i in (1, 2, 3)]
    first, cursor, more = changed_rows(rows[:2], InvoiceCursor(), query_limit=2)
    assert [r["id"] for r in first] == [1, 2] and more
    # The next query (same window) returns all three: only the third is new.
    second, cursor, more = changed_rows(
        rows, InvoiceCursor.from_json(cursor.to_json()), query_limit=5
    )
    assert [r["id"] for r in second] == [3] and not more
    third, _, _ = changed_rows(rows, cursor, query_limit=5)
    assert third == []


def test_a_change_within_the_same_timestamp_is_handed_out_again() -> None:
    _, cursor, _ = changed_rows([invoice(1, T0)], InvoiceCursor(), query_limit=5)
    changed, _, _ = changed_rows([invoice(1, T0, to_pay="40")], cursor, query_limit=5)
    assert [r["amount_to_pay"] for r in changed] == [Decimal(40)]


def test_a_late_commit_with_an_older_timestamp_is_still_seen() -> None:
    _, cursor, _ = changed_rows([invoice(1, T0)], InvoiceCursor(), query_limit=5)
    late = invoice(2, T0 - dt.timedelta(seconds=5))
    changed, cursor, _ = changed_rows([late, invoice(1, T0)], cursor, query_limit=5)
    assert [r["id"] for r in changed] == [2]
    assert cursor.since == T0


def test_payment_states() -> None:
    assert payment(invoice(1, T0, to_pay="100")) == ("not_paid", Decimal(0))
    assert payment(invoice(1, T0, to_pay="40")) == ("partly_paid", Decimal(60))
    assert payment(invoice(1, T0, state="paid", to_pay="0")) == ("paid", Decimal(100))
    assert payment(invoice(1, T0, state="draft")) == ("not_paid", Decimal(0))
