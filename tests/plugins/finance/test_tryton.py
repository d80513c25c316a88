"""The finance flows end to end against a real Tryton 8.2 server on loopback.

One server serves the whole module (ids carry a per-test suffix so tests do not see each
other's documents); each test has its own crm-sync database. Covered: customers created
and updated and found again by the CRM id, pro-forma to quotation with its customer and
products first, approval to a confirmed sale and a posted invoice exactly once (also
after a crash before the external id was recorded), payments polled back onto the
pro-forma (a late retry of an older invoice state not undoing a newer one), faults
(Tryton down, slow, refusing), and the plugin contract.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace as dc_replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import plugins.finance.plugin as finance
from core.api.app import create_app
from core.db.types import utcnow
from core.errors import TransientError
from core.records import RecordAccess
from core.store import timeline
from core.sync.admin import list_inbox
from core.sync.engine import SyncEngine
from core.sync.inbound import load_cursor
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import poll_once
from core.testing.contract import ContractTarget, PluginContract
from core.testing.tryton import (
    TEMPLATE_ACCOUNT_CATEGORY,
    TEMPLATE_PAYMENT_TERM,
    TEMPLATE_TAX,
    TrytonServer,
    pay_invoice,
    run_server,
    tryton_template,
)
from erp.tryton import Tryton, TrytonClient
from erp.tryton.partners import PartyInput
from plugins.finance.tryton import TrytonBackend
from tests.e2e.harness import free_port
from tests.plugins.finance.conftest import (
    CUSTOMER,
    PROFORMA_TOTAL,
    drain,
    linked_records,
    state,
    stored,
    write,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["tryton_template"]

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}


@pytest.fixture(scope="module")
def erp_server(
    tryton_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrytonServer]:
    """One Tryton server, on a fresh copy of the template database, for this module."""
    with run_server(tryton_template, tmp_path_factory.mktemp("finance-tryton")) as server:
        yield server


@pytest.fixture(scope="module")
def erp(erp_server: TrytonServer) -> Iterator[Tryton]:
    """The ERP as its staff see it: a logged-in administrator's client."""
    with httpx.Client(timeout=60.0) as http:
        client = erp_server.client(http)
        client.login()
        yield Tryton(client)


def tryton_settings(server: TrytonServer, **overrides: Any) -> dict[str, Any]:
    """Finance settings for the Tryton backend of ``server``."""
    return {
        "backend": "tryton",
        "tryton": {
            "url": server.url,
            "database": server.database,
            "username": server.login,
            "password": server.password,
        },
        "taxes": {"10": TEMPLATE_TAX},
        "units": {"عدد": "u"},
        "account_category": TEMPLATE_ACCOUNT_CATEGORY,
        "payment_term": TEMPLATE_PAYMENT_TERM,
        **overrides,
    }


@pytest.fixture
def runtime(make_finance: Callable[..., SyncRuntime], erp_server: TrytonServer) -> SyncRuntime:
    """Finance on the real trytond, which may take many seconds to post on a loaded machine."""
    return make_finance(tryton_settings(erp_server), push_timeout_seconds=60, lease_seconds=150)


def sales_of(erp: Tryton, reference: str) -> list[int]:
    """Every sale (cancelled ones too) whose reference is ``reference``."""
    return erp.client.search("sale.sale", [("reference", "=", reference)])


def write_linked(runtime: SyncRuntime, suffix: str, **proforma: Any) -> str:
    """Write a customer, two products and their pro-forma; return the pro-forma's id."""
    *dependencies, (_, proforma_id, body) = linked_records(suffix)
    for type_, record_id, data in dependencies:
        write(runtime, type_, record_id, data)
    write(runtime, "proforma", proforma_id, {**body, **proforma})
    return proforma_id


def poll_and_apply(runtime: SyncRuntime) -> int:
    """Poll Tryton as the scheduler does and apply what it found; return how many were new."""
    total = 0
    while True:
        outcome = poll_once(runtime, "finance")
        total += outcome.stored
        if not outcome.more:
            break
    pending = [row.id for row in list_inbox(runtime.engine) if row.state == "pending"]
    runtime.inbound.process("finance", pending)
    return total


# -- customers ------------------------------------------------------------------------


def test_a_customer_is_created_updated_and_found_again_by_its_crm_id(
    runtime: SyncRuntime,
    make_finance: Callable[..., SyncRuntime],
    erp_server: TrytonServer,
    erp: Tryton,
) -> None:
    write(runtime, "customer", "C-t1", CUSTOMER)
    drain(runtime, [("customer", "C-t1")])
    row = state(runtime, "customer", "C-t1")
    assert (row.state, row.synced_version) == ("synced", 1), row.last_error
    party_id = erp.partners.find_party("C-t1")
    assert party_id is not None
    assert row.external_id == str(party_id)
    client = erp.client
    (party,) = client.read("party.party", [party_id], ["name"])
    assert party["name"] == CUSTOMER["name"]
    identifiers = client.search_read("party.identifier", [("party", "=", party_id)], ["code"])
    assert {i["code"] for i in identifiers} == {"CRM:C-t1", "0013542419"}
    contacts = client.search_read(
        "party.contact_mechanism", [("party", "=", party_id)], ["type", "value_compact", "value"]
    )
    assert {(c["type"], c["value_compact"] or c["value"]) for c in contacts} == {
        ("mobile", "+989121234567"),
        ("phone", "+982188881234"),
        ("email", "ali.karimi@example.ir"),
    }
    addresses = client.search_read(
        "party.address", [("party", "=", party_id)], ["street", "city", "postal_code"]
    )
    assert [(a["street"], a["city"], a["postal_code"]) for a in addresses] == [
        ("خیابان ولیعصر، پلاک ۱۲", "تهران", "1434863111")
    ]

    changed = {
        **CUSTOMER,
        "name": "علی کریمی نژاد",
        "emails": ["ali@example.ir"],
        "addresses": [{"line1": "میدان آزادی", "city": "کرج", "postal_code": "3149968111"}],
    }
    assert write(runtime, "customer", "C-t1", changed) == 2
    drain(runtime, [("customer", "C-t1")])
    assert state(runtime, "customer", "C-t1").synced_version == 2
    assert erp.partners.find_party("C-t1") == party_id
    (party,) = client.read("party.party", [party_id], ["name"])
    assert party["name"] == "علی کریمی نژاد"
    emails = client.search_read(
        "party.contact_mechanism", [("party", "=", party_id), ("type", "=", "email")], ["value"]
    )
    assert [e["value"] for e in emails] == ["ali@example.ir"]
    addresses = client.search_read("party.address", [("party", "=", party_id)], ["city"])
    assert [a["city"] for a in addresses] == ["کرج"]

    # A crm-sync that lost its bindings (a new database) finds the same party again.
    fresh = make_finance(tryton_settings(erp_server))
    write(fresh, "customer", "C-t1", changed)
    drain(fresh, [("customer", "C-t1")])
    assert state(fresh, "customer", "C-t1").external_id == str(party_id)
    assert client.search("party.identifier", [("code", "=", "CRM:C-t1")]) != []
    assert len(client.search("party.party", [("identifiers.code", "=", "CRM:C-t1")])) == 1


def count_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record the (model, method) of every call any Tryton client makes from now on."""
    calls: list[tuple[str, str]] = []
    execute = TrytonClient.execute

    def counted(self: TrytonClient, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((model, method))
        return execute(self, model, method, *args, **kwargs)

    monkeypatch.setattr(TrytonClient, "execute", counted)
    return calls


def test_a_backlog_of_customers_syncs_in_batches_and_a_resync_creates_nothing(
    make_finance: Callable[..., SyncRuntime],
    erp_server: TrytonServer,
    erp: Tryton,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = make_finance(tryton_settings(erp_server, max_batch=20))
    ids = [f"C-bl{i}" for i in range(50)]
    for number, record_id in enumerate(ids):
        write(runtime, "customer", record_id, {**CUSTOMER, "name": f"مشتری {number}"})
    calls = count_calls(monkeypatch)
    drain(runtime)
    assert calls.count(("party.party", "create")) == 3  # 20 + 20 + 10
    parties = {}
    for record_id in ids:
        row = state(runtime, "customer", record_id)
        assert row.state == "synced", row.last_error
        parties[record_id] = row.external_id
        found = erp.client.search("party.identifier", [("code", "=", f"CRM:{record_id}")])
        assert len(found) == 1
    assert len(set(parties.values())) == 50

    # A crm-sync that lost its bindings sends the whole backlog again: nothing new.
    calls.clear()
    fresh = make_finance(tryton_settings(erp_server, max_batch=20))
    for number, record_id in enumerate(ids):
        write(fresh, "customer", record_id, {**CUSTOMER, "name": f"مشتری {number}"})
    drain(fresh)
    assert ("party.party", "create") not in calls
    assert ("party.party", "write") not in calls
    for record_id in ids:
        row = state(fresh, "customer", record_id)
        assert (row.state, row.external_id) == ("synced", parties[record_id])


def test_a_customer_tryton_refuses_in_a_batch_is_dead_alone(
    runtime: SyncRuntime, erp: Tryton, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tryton refuses a contact mechanism without a value; the CRM's customer schema
    # never produces one, so the mapping is made to for this one customer.
    party = TrytonBackend.party

    def refused(crm_id: str, data: Mapping[str, Any]) -> PartyInput:
        made = party(crm_id, data)
        return dc_replace(made, emails=("",)) if crm_id == "C-bad3" else made

    monkeypatch.setattr(TrytonBackend, "party", staticmethod(refused))
    ids = [f"C-bad{i}" for i in range(8)]
    for record_id in ids:
        write(runtime, "customer", record_id, CUSTOMER)
    calls = count_calls(monkeypatch)
    drain(runtime)
    assert calls.count(("party.party", "create")) == 1 + 8  # the batch, then one by one
    bad = state(runtime, "customer", "C-bad3")
    assert bad.state == "dead"
    assert "Tryton refused" in (bad.last_error or "")
    assert erp.partners.find_party("C-bad3") is None
    for record_id in ids:
        if record_id != "C-bad3":
            row = state(runtime, "customer", record_id)
            assert row.state == "synced", row.last_error
            assert row.external_id == str(erp.partners.find_party(record_id))


# -- pro-formas -----------------------------------------------------------------------


def test_a_proforma_becomes_a_quotation_after_its_customer_and_products(
    runtime: SyncRuntime, erp: Tryton
) -> None:
    proforma_id = write_linked(runtime, "-q")
    # Only the pro-forma's own delivery runs: it pushes what it needs first.
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.synced_version) == ("synced", 1), row.last_error
    for type_, record_id in (("customer", "cust-1-q"), ("product", "p-1-q"), ("product", "p-2-q")):
        dependency = state(runtime, type_, record_id)
        assert (dependency.state, dependency.synced_version) == ("synced", 1)
        assert dependency.external_id
    assert state(runtime, "customer", "cust-1-q").external_id == str(
        erp.partners.find_party("cust-1-q")
    )
    assert state(runtime, "product", "p-1-q").external_id == str(
        erp.products.find_product("PUMP-100-q")
    )
    # Their own deliveries find the target up to date and send nothing.
    assert runtime.sync.process("finance", [("customer", "cust-1-q")]).pushed == 0

    [sale_id] = sales_of(erp, proforma_id)
    assert row.external_id == str(sale_id)
    sale = erp.sales.sale(sale_id)
    assert sale.state == "quotation"
    assert sale.total_amount == Decimal(PROFORMA_TOTAL)
    assert sale.tax_amount == Decimal("3700000")
    assert row.note is None
    lines = {line.product_id: line for line in sale.lines}
    pump = lines[erp.products.find_product("PUMP-100-q")]
    assert (pump.quantity, pump.base_price, pump.amount) == (
        Decimal(3),
        Decimal(12500000),
        Decimal(37000000),
    )
    assert pump.tax_ids == (erp.lookups.tax_id(TEMPLATE_TAX),)
    assert lines[erp.products.find_product("VALVE-7-q")].tax_ids == ()


def test_a_pro_forma_withdrawn_before_tryton_had_it_sends_nothing(
    runtime: SyncRuntime, erp: Tryton
) -> None:
    # Its customer and products are not even in the CRM: a withdrawn pro-forma needs none.
    *_, (_, proforma_id, body) = linked_records("-w")
    write(runtime, "proforma", proforma_id, {**body, "status": "expired"})
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.external_id) == ("synced", None), row.last_error
    assert row.note == "expired in the CRM before Tryton had it: nothing was sent"
    assert sales_of(erp, proforma_id) == []


def test_a_withdrawn_quotation_is_cancelled_in_tryton(runtime: SyncRuntime, erp: Tryton) -> None:
    proforma_id = write_linked(runtime, "-wq")
    runtime.sync.process("finance", [("proforma", proforma_id)])
    [sale_id] = sales_of(erp, proforma_id)
    *_, (_, _, body) = linked_records("-wq")
    write(runtime, "proforma", proforma_id, {**body, "status": "rejected"})
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.external_id) == ("synced", str(sale_id)), row.last_error
    assert row.note == "rejected: quotation cancelled"
    assert erp.sales.sale(sale_id).state == "cancelled"


def test_approval_issues_one_sale_and_invoice_and_payments_come_back(
    runtime: SyncRuntime, erp: Tryton
) -> None:
    proforma_id = write_linked(runtime, "-a")
    drain(runtime, [("proforma", proforma_id)])
    body = stored(runtime, "proforma", proforma_id)
    assert write(runtime, "proforma", proforma_id, {**body, "status": "approved"}) == 2
    drain(runtime, [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.synced_version) == ("synced", 2), row.last_error
    [sale_id] = sales_of(erp, proforma_id)
    sale = erp.sales.sale(sale_id)
    assert sale.state == "processing"
    [invoice] = erp.invoices.of_sale(sale_id)
    assert invoice.state == "posted" and invoice.number
    assert invoice.total_amount == Decimal(PROFORMA_TOTAL)

    # The same approval delivered again, and a later change: still one sale, one invoice.
    context = runtime.host.context("finance")
    record = context.store().get("proforma", proforma_id)
    assert record is not None
    backend = finance.backend_of(context)
    [again] = backend.push([backend.outbound(record)])
    assert again.error is None and again.external_id == str(sale_id)
    write(runtime, "proforma", proforma_id, {**body, "status": "approved", "valid_until": None})
    drain(runtime, [("proforma", proforma_id)])
    assert sales_of(erp, proforma_id) == [sale_id]
    assert [i.id for i in erp.invoices.of_sale(sale_id)] == [invoice.id]

    # The invoice comes back with the next poll.
    assert poll_and_apply(runtime) >= 1
    data = stored(runtime, "proforma", proforma_id)
    assert (data["invoice_number"], data["invoice_state"], data["payment_state"]) == (
        invoice.number,
        "posted",
        "not_paid",
    )
    assert Decimal(data["erp_total"]) == Decimal(PROFORMA_TOTAL)

    # A part payment, then the rest, as the ERP's accountant records them.
    pay_invoice(erp.client, invoice.id, Decimal("20000000"))
    assert poll_and_apply(runtime) >= 1
    data = stored(runtime, "proforma", proforma_id)
    assert (data["payment_state"], Decimal(data["amount_paid"])) == (
        "partly_paid",
        Decimal("20000000"),
    )
    assert poll_and_apply(runtime) == 0, "an unchanged invoice is not reported again"

    pay_invoice(erp.client, invoice.id, Decimal(PROFORMA_TOTAL) - Decimal("20000000"))
    # A process started afresh resumes from the saved cursor.
    cursor = load_cursor(runtime.engine, "finance")
    assert cursor is not None
    restarted = SyncRuntime(
        runtime.settings, extra_plugins={"finance": finance}, load_entry_points=False
    )
    try:
        assert poll_and_apply(restarted) >= 1
    finally:
        restarted.close()
    client = TestClient(create_app(runtime, background=False))
    answer = client.get(f"/v1/proformas/{proforma_id}", headers=ADMIN)
    assert answer.status_code == 200
    shown = answer.json()
    shown = shown.get("data", shown)
    assert (shown["payment_state"], Decimal(shown["amount_paid"])) == (
        "paid",
        Decimal(PROFORMA_TOTAL),
    )
    sync = client.get(f"/v1/proformas/{proforma_id}/sync", headers=ADMIN).json()
    assert "finance" in str(sync)
    events = [e.data["type"] for e in timeline(runtime.engine, "proforma", proforma_id)]
    assert events.count("proforma.invoice_changed") == 3
    # The pro-forma's new versions are the ERP's own news: nothing is pushed back.
    assert state(runtime, "proforma", proforma_id).state == "synced"


def test_an_older_invoice_state_retried_late_does_not_undo_the_payment(
    runtime: SyncRuntime, erp: Tryton, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The posted invoice's event fails once (transient) and is retried after "paid".

    Inbound retries wait their backoff while later events are applied, so here the
    polled "posted, not paid" lands after the polled "paid": it is applied as nothing.
    """
    proforma_id = write_linked(runtime, "-o", status="approved")
    drain(runtime, [("proforma", proforma_id)])
    [sale_id] = sales_of(erp, proforma_id)
    [invoice] = erp.invoices.of_sale(sale_id)

    def pending_of_invoice() -> list[int]:
        # The module's server holds other tests' invoices too: keep this one's events.
        mark = f"tryton-invoice-{invoice.id}-"
        rows = list_inbox(runtime.engine)
        return [row.id for row in rows if row.state == "pending" and row.event_id.startswith(mark)]

    assert poll_once(runtime, "finance").stored >= 1
    [posted] = pending_of_invoice()
    update = RecordAccess.update

    def busy(*args: Any, **kwargs: Any) -> int:
        raise TransientError("the database is busy")

    monkeypatch.setattr(RecordAccess, "update", busy)
    assert runtime.inbound.process("finance", [posted]).retry == [posted]
    monkeypatch.setattr(RecordAccess, "update", update)

    pay_invoice(erp.client, invoice.id, Decimal(PROFORMA_TOTAL))
    assert poll_once(runtime, "finance").stored >= 1
    [paid] = pending_of_invoice()
    # The payment is applied while the posted invoice's event waits for its retry.
    assert runtime.inbound.process("finance", [paid]).applied == 1
    data = stored(runtime, "proforma", proforma_id)
    assert (data["payment_state"], Decimal(data["amount_paid"])) == (
        "paid",
        Decimal(PROFORMA_TOTAL),
    )
    held = datetime.fromisoformat(data["invoice_reported_at"])

    later = utcnow() + timedelta(hours=1)
    assert runtime.inbound.process("finance", [posted], now=later).applied == 1
    data = stored(runtime, "proforma", proforma_id)
    assert (data["invoice_state"], data["payment_state"]) == ("posted", "paid")
    assert datetime.fromisoformat(data["invoice_reported_at"]) == held
    events = [e.data["type"] for e in timeline(runtime.engine, "proforma", proforma_id)]
    assert events.count("proforma.invoice_changed") == 1


def test_a_crash_before_the_external_id_is_recorded_creates_no_second_sale(
    runtime: SyncRuntime, erp: Tryton, monkeypatch: pytest.MonkeyPatch
) -> None:
    proforma_id = write_linked(runtime, "-c", status="approved")
    finalize = SyncEngine._finalize

    def crash(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker killed after Tryton answered")

    monkeypatch.setattr(SyncEngine, "_finalize", crash)
    with pytest.raises(SystemExit):
        runtime.sync.process("finance", [("proforma", proforma_id)])
    [sale_id] = sales_of(erp, proforma_id)
    row = state(runtime, "proforma", proforma_id)
    assert row.external_id is None and row.lease_owner is not None

    monkeypatch.setattr(SyncEngine, "_finalize", finalize)
    later = utcnow() + timedelta(seconds=runtime.settings.sync.lease_seconds + 1)
    # The batch also takes the customer and products, now found in Tryton and left alone.
    outcome = runtime.sync.process("finance", [("proforma", proforma_id)], now=later)
    assert (outcome.pushed, outcome.dead, outcome.failed) == (4, 0, 0)
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.external_id) == ("synced", str(sale_id))
    assert sales_of(erp, proforma_id) == [sale_id]
    assert len(erp.invoices.of_sale(sale_id)) == 1


def test_the_binding_says_when_tryton_computes_another_total(
    runtime: SyncRuntime, erp: Tryton
) -> None:
    # 10% of 1,000,015 is 100,001.5: the CRM sent 100,001, Tryton rounds half to even.
    *dependencies, (_, proforma_id, body) = linked_records("-n")
    for type_, record_id, data in dependencies:
        write(runtime, type_, record_id, data)
    body["lines"] = [
        {"product_id": "p-1-n", "quantity": "1", "unit_price": "1000015", "tax": "100001"}
    ]
    write(runtime, "proforma", proforma_id, body)
    drain(runtime, [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert row.state == "synced", row.last_error
    assert erp.sales.sale(int(row.external_id or 0)).total_amount == Decimal("1100017")
    assert row.note == (
        "Tryton's total 1100017 differs from the CRM's 1100016 by +1 "
        "(taxes or discounts were computed differently)"
    )
    client = TestClient(create_app(runtime, background=False))
    shown = client.get(f"/v1/proformas/{proforma_id}/sync", headers=ADMIN).json()
    assert row.note in str(shown)


# -- faults ---------------------------------------------------------------------------


def test_tryton_down_is_a_transient_failure(
    make_finance: Callable[..., SyncRuntime], erp_server: TrytonServer
) -> None:
    settings = tryton_settings(erp_server)
    settings["tryton"] = {**settings["tryton"], "url": f"http://127.0.0.1:{free_port()}"}
    runtime = make_finance(settings)
    proforma_id = write_linked(runtime, "-d")
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "cannot reach Tryton" in (row.last_error or "")


def test_a_slow_tryton_is_a_transient_failure(
    make_finance: Callable[..., SyncRuntime], erp_server: TrytonServer
) -> None:
    with socket.socket() as silent:
        # Accepts connections (the kernel's backlog) but never answers a request.
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings = tryton_settings(erp_server)
        port = silent.getsockname()[1]
        settings["tryton"] = {**settings["tryton"], "url": f"http://127.0.0.1:{port}"}
        runtime = make_finance(settings, push_timeout_seconds=0.5)
        proforma_id = write_linked(runtime, "-s")
        runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "did not answer" in (row.last_error or "")


def test_a_document_tryton_refuses_is_dead_with_its_reason(
    runtime: SyncRuntime, erp: Tryton
) -> None:
    # Tryton's unit "u" has no decimals: 1.5 units is refused by the server itself.
    *dependencies, (_, proforma_id, body) = linked_records("-r")
    for type_, record_id, data in dependencies:
        write(runtime, type_, record_id, data)
    body["lines"] = [{"product_id": "p-2-r", "quantity": "1.5", "unit_price": "1000000"}]
    write(runtime, "proforma", proforma_id, body)
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert row.state == "dead"
    assert "Tryton refused" in (row.last_error or "")
    assert sales_of(erp, proforma_id) == []


def test_a_tax_rate_without_an_erp_tax_is_dead_with_its_reason(
    runtime: SyncRuntime, erp: Tryton
) -> None:
    *dependencies, (_, proforma_id, body) = linked_records("-x")
    for type_, record_id, data in dependencies:
        write(runtime, type_, record_id, data)
    body["lines"][1]["tax"] = "359999"  # 9% of 3,999,998: no 9% tax is configured
    write(runtime, "proforma", proforma_id, body)
    runtime.sync.process("finance", [("proforma", proforma_id)])
    row = state(runtime, "proforma", proforma_id)
    assert row.state == "dead"
    assert "matches no configured tax rate (settings taxes: 10%)" in (row.last_error or "")


# -- the contract ---------------------------------------------------------------------


class TestFinanceTrytonContract(PluginContract):
    plugin_name = "finance"

    def records(self, subscriptions: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
        return linked_records("-k")

    @pytest.fixture
    def target(self, erp_server: TrytonServer, erp: Tryton) -> ContractTarget:
        def received(type_: str, record_id: str) -> list[int]:
            # Tryton holds the current state only: tell the versions apart by content.
            if type_ == "customer":
                party = erp.partners.find_party(record_id)
                if party is None:
                    return []
                (row,) = erp.client.read("party.party", [party], ["name"])
                return [2] if row["name"] == "نام تازه" else [1]
            if type_ == "product":
                sku = dict((i, b["sku"]) for t, i, b in linked_records("-k") if t == "product")
                return [1] if erp.products.find_product(sku[record_id]) is not None else []
            return [1] if erp.sales.find_sale(record_id) is not None else []

        settings = tryton_settings(erp_server)
        down = {
            **settings,
            "tryton": {**settings["tryton"], "url": f"http://127.0.0.1:{free_port()}"},
        }
        return ContractTarget(settings=settings, received=received, unreachable_settings=down)


def test_a_tryton_client_is_what_the_backend_uses(runtime: SyncRuntime) -> None:
    backend = finance.backend_of(runtime.host.context("finance"))
    assert isinstance(getattr(backend, "client", None), TrytonClient)
    assert runtime.host.health("finance").ok
