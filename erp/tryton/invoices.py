"""Customer invoices in Tryton: ``account.invoice`` issued by a confirmed sale, posted, polled back.

A sale's invoices are posted (numbered) with the ``post`` button. Polling reads the
invoices changed since a saved :class:`InvoiceCursor` (see :func:`changed_rows`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from erp.tryton.client import TrytonClient
from erp.tryton.sales import Sales
from erp.tryton.values import to_decimal

__all__ = [
    "InvoiceCursor",
    "InvoiceStatus",
    "Invoices",
    "PaymentState",
    "changed_rows",
    "fingerprint",
    "tax_warning_key",
]

PaymentState = Literal["not posted", "unpaid", "partly paid", "paid", "cancelled"]

#: Seconds before the cursor that every poll reads again: a transaction that started
#: earlier but committed after the last poll stamps its rows with its start time.
OVERLAP_SECONDS = 60

_INVOICE_FIELDS = [
    "number",
    "state",
    "invoice_date",
    "untaxed_amount",
    "tax_amount",
    "total_amount",
    "amount_to_pay",
    "reconciled",
]
_POLL_FIELDS = ["number", "state", "total_amount", "amount_to_pay", "sales", "last_modified_at"]
_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class InvoiceStatus:
    """A customer invoice or credit note (negative total) and how much of it is paid."""

    id: int
    number: str | None
    state: str
    invoice_date: date | None
    untaxed_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    amount_to_pay: Decimal
    payment_state: PaymentState

    @property
    def amount_paid(self) -> Decimal:
        """What has been paid (or refunded, for a credit note) so far."""
        if self.state == "paid":
            return self.total_amount
        if self.state != "posted":
            return Decimal(0)
        return self.total_amount - self._signed_to_pay

    @property
    def _signed_to_pay(self) -> Decimal:
        return -self.amount_to_pay if self.total_amount < 0 else self.amount_to_pay


@dataclass(frozen=True)
class InvoiceCursor:
    """Where the last poll of Tryton's invoices stopped.

    ``since`` is the newest ``last_modified_at`` handed out. ``seen`` maps every invoice
    handed out whose stamp lies within the overlap window before ``since`` to ``(stamp,
    fingerprint)``: an invoice read again with the same stamp and values is skipped, so
    invoices sharing one timestamp (one transaction writes them all) are each handed out
    once even when a poll's limit cuts between them, and a late commit is still seen.
    """

    since: dt.datetime = _EPOCH
    seen: Mapping[int, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The cursor as the JSON text core stores between polls."""
        return json.dumps(
            {
                "since": self.since.isoformat(),
                "seen": {str(key): list(value) for key, value in sorted(self.seen.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> InvoiceCursor:
        """Read a stored cursor; None starts from the beginning."""
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            since=dt.datetime.fromisoformat(data["since"]),
            seen={int(key): (str(value[0]), str(value[1])) for key, value in data["seen"].items()},
        )


def fingerprint(row: Mapping[str, Any]) -> str:
    """A digest of a polled invoice row without its change time, to tell a real change."""
    text = json.dumps(
        {key: row.get(key) for key in sorted(row) if key != "last_modified_at"},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def changed_rows(
    rows: Sequence[Mapping[str, Any]], cursor: InvoiceCursor, *, query_limit: int
) -> tuple[list[Mapping[str, Any]], InvoiceCursor, bool]:
    """Split a poll's rows (oldest first) into changes not handed out yet and the next cursor.

    Returns the changed rows, the cursor to save after applying them, and whether the
    query was full (more may wait).
    """
    seen: dict[int, tuple[str, str]] = dict(cursor.seen)
    newest = cursor.since
    changed = []
    for row in rows:
        stamp_time: dt.datetime = row["last_modified_at"]
        stamp = (stamp_time.isoformat(), fingerprint(row))
        if seen.get(int(row["id"])) != stamp:
            changed.append(row)
        seen[int(row["id"])] = stamp
        newest = max(newest, stamp_time)
    keep_from = (newest - dt.timedelta(seconds=OVERLAP_SECONDS)).isoformat()
    kept = {key: value for key, value in seen.items() if value[0] >= keep_from}
    return changed, InvoiceCursor(since=newest, seen=kept), len(rows) >= query_limit


def tax_warning_key(invoice_id: int) -> str:
    """The name of Tryton's "default taxes" warning for one invoice (``Warning.format``)."""
    digest = hashlib.md5(f"account.invoice,{invoice_id}".encode(), usedforsecurity=False)
    return f"{digest.hexdigest()}.invoice_taxes"


def _payment_state(row: Mapping[str, Any]) -> PaymentState:
    state = row["state"]
    if state == "paid":
        return "paid"
    if state == "cancelled":
        return "cancelled"
    if state != "posted":
        return "not posted"
    to_pay = abs(to_decimal(row["amount_to_pay"]))
    total = abs(to_decimal(row["total_amount"]))
    if to_pay == 0:
        return "paid"
    return "partly paid" if to_pay < total else "unpaid"


class Invoices:
    """Post a sale's invoices, read them, and poll the changed ones."""

    def __init__(self, client: TrytonClient, sales: Sales) -> None:
        self.client = client
        self.sales = sales

    def of_sale(self, sale_id: int) -> tuple[InvoiceStatus, ...]:
        """Read the number, state, totals and payment state of the sale's invoices."""
        sale = self.sales.sale(sale_id)
        return self.statuses(sale.invoice_ids)

    def post_invoices(
        self, sale_id: int, *, explicit_taxes: bool = False
    ) -> tuple[InvoiceStatus, ...]:
        """Post (number) the sale's draft or validated invoices; posted ones are left alone.

        With ``explicit_taxes`` the caller has stated every line's taxes, and a line
        without tax is meant to have none even when the product's category has default
        taxes. Tryton asks the user to confirm exactly that ("does not have the default
        taxes") with a user warning; the caller's explicit taxes are that confirmation,
        so the warning of these invoices is skipped once (``res.user.warning.skip``,
        what Tryton's own client does when the user clicks "yes") and no other warning is.
        """
        sale = self.sales.sale(sale_id)
        statuses = self.statuses(sale.invoice_ids)
        to_post = [s.id for s in statuses if s.state in ("draft", "validated")]
        if to_post:
            if explicit_taxes:
                for invoice_id in to_post:
                    self.client.execute(
                        "res.user.warning", "skip", tax_warning_key(invoice_id), False
                    )
            self.client.button("account.invoice", "post", to_post)
            statuses = self.statuses(sale.invoice_ids)
        return statuses

    def statuses(self, invoice_ids: Sequence[int]) -> tuple[InvoiceStatus, ...]:
        """Read invoices by id: number, state, totals and payment state."""
        rows = self.client.read("account.invoice", list(invoice_ids), _INVOICE_FIELDS)
        return tuple(
            InvoiceStatus(
                id=row["id"],
                number=row["number"],
                state=row["state"],
                invoice_date=row["invoice_date"],
                untaxed_amount=to_decimal(row["untaxed_amount"]),
                tax_amount=to_decimal(row["tax_amount"]),
                total_amount=to_decimal(row["total_amount"]),
                amount_to_pay=to_decimal(row["amount_to_pay"]),
                payment_state=_payment_state(row),
            )
            for row in rows
        )

    def poll(
        self, cursor: InvoiceCursor, *, limit: int
    ) -> tuple[list[Mapping[str, Any]], InvoiceCursor, bool]:
        """Customer invoices (and credit notes) changed since ``cursor``, oldest first.

        Returns the changed rows (``number``, ``state``, ``total_amount``,
        ``amount_to_pay``, ``sales``, ``last_modified_at``), the cursor to save after
        applying them, and whether more wait.
        """
        window = cursor.since - dt.timedelta(seconds=OVERLAP_SECONDS)
        query_limit = limit + len(cursor.seen)
        rows = self.client.search_read(
            "account.invoice",
            [("type", "=", "out"), ("last_modified_at", ">=", window)],
            _POLL_FIELDS,
            order=[("last_modified_at", "ASC"), ("id", "ASC")],
            limit=query_limit,
        )
        return changed_rows(rows, cursor, query_limit=query_limit)
