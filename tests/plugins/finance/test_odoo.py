"""The finance flows on the Odoo backend, replayed against recorded JSON-RPC exchanges.

The recordings in ``odoo_recordings/finance.json`` follow Odoo 17's external API shapes;
replay is strict (``tests.core.connectors.test_odoo.Replay``): every request must equal
the recorded one, in order, and every recorded exchange must be used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import plugins.finance.plugin as finance
from core.settings import Settings
from core.sync.admin import list_inbox
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import poll_once
from core.testing.fixtures import migrated_runtime
from core.testing.odoo_replay import Replay, Switchboard
from tests.plugins.finance.conftest import (
    CUSTOMER,
    PRODUCTS,
    PROFORMA_TOTAL,
    linked_records,
    state,
    stored,
    write,
)

RECORDINGS_FILE = Path(__file__).parent / "odoo_recordings" / "finance.json"
RECORDINGS = json.loads(RECORDINGS_FILE.read_text(encoding="utf-8"))
ODOO = {
    "url": "http://odoo.test",
    "database": "crm",
    "login": "sync@example.com",
    "api_key": "key-123",
    "version": 17,
}
SETTINGS = {
    "backend": "odoo",
    "odoo": ODOO,
    "taxes": {"10": "31"},
    "discount_product_id": 90,
    "odoo_pricelists": {"IRR": 3},
}


def runtime_with(
    tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response], **extra: Any
) -> SyncRuntime:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'odoo.db'}",
        plugins={"finance": {**SETTINGS, **extra}},
        sync={"max_attempts": 3},
    )
    runtime = migrated_runtime(
        settings, {"finance": finance}, transport=httpx.MockTransport(handler)
    )
    return runtime


def request_args(replay: Replay, number: int) -> list[Any]:
    args: list[Any] = replay.exchanges[number - 1]["request"]["params"]["args"]
    return args


def test_the_recordings_are_odoo_external_api_calls() -> None:
    for flow in RECORDINGS["flows"].values():
        assert flow["version"] == 17
        for exchange in flow["exchanges"]:
            request = exchange["request"]
            assert (request["jsonrpc"], request["method"]) == ("2.0", "call")
            params = request["params"]
            if params["service"] == "common":
                assert params["args"] == ["crm", "sync@example.com", "key-123", {}]
            else:
                assert (params["service"], params["method"]) == ("object", "execute_kw")
                assert params["args"][:3] == ["crm", 7, "key-123"]
                assert not params["args"][4].startswith("_")
            answer = exchange["response"]["json"]
            assert answer["id"] == request["id"] and "result" in answer


def test_the_finance_flows_on_odoo(tmp_path: Path) -> None:
    board = Switchboard(RECORDINGS_FILE)
    runtime = runtime_with(tmp_path, board)
    try:
        *dependencies, (_, proforma_id, body) = linked_records()
        for type_, record_id, data in dependencies:
            write(runtime, type_, record_id, data)
        approved = {**body, "status": "approved", "valid_until": "2024-04-19"}
        write(runtime, "proforma", proforma_id, approved)

        # Approval: customer, products, quotation, confirmation and posted invoice.
        replay = board.play("approve_with_dependencies")
        runtime.sync.process("finance", [("proforma", proforma_id)])
        replay.assert_done()
        row = state(runtime, "proforma", proforma_id)
        assert (row.state, row.external_id, row.note) == ("synced", "77", None), row.last_error
        assert state(runtime, "customer", "cust-1").external_id == "41"
        assert state(runtime, "product", "p-1").external_id == "500"
        order = request_args(replay, 10)[5][0][0]
        assert order["client_order_ref"] == proforma_id
        assert (order["pricelist_id"], order["validity_date"]) == (3, "2024-04-19")
        pump, discount, valve = (line[2] for line in order["order_line"])
        assert (pump["price_unit"], pump["discount"], pump["tax_id"]) == (
            12500000,
            0,
            [[6, 0, [31]]],
        )
        assert (discount["product_id"], discount["price_unit"]) == (90, -500000)
        assert valve["tax_id"] == [[6, 0, []]]
        partner = request_args(replay, 4)[5][0][0]
        assert (partner["ref"], partner["vat"], partner["mobile"], partner["phone"]) == (
            "cust-1",
            "0013542419",
            "+989121234567",
            "+982188881234",
        )

        # A later version of the approved pro-forma: no second order, confirmation or invoice.
        write(
            runtime,
            "proforma",
            proforma_id,
            {**body, "status": "approved", "valid_until": "2024-05-01"},
        )
        replay = board.play("approve_again")
        runtime.sync.process("finance", [("proforma", proforma_id)])
        replay.assert_done()
        assert state(runtime, "proforma", proforma_id).synced_version == 2

        # A customer change updates the partner found by its ref.
        write(runtime, "customer", "cust-1", {**CUSTOMER, "name": "علی کریمی نژاد"})
        replay = board.play("customer_update")
        runtime.sync.process("finance", [("customer", "cust-1")])
        replay.assert_done()
        assert state(runtime, "customer", "cust-1").synced_version == 2

        # The invoice's payment comes back by polling; the same row read again is not.
        replay = board.play("poll_partly_paid")
        assert poll_once(runtime, "finance").stored == 1
        replay.assert_done()
        runtime.inbound.process("finance", [r.id for r in list_inbox(runtime.engine)])
        data = stored(runtime, "proforma", proforma_id)
        assert (data["invoice_number"], data["invoice_state"], data["payment_state"]) == (
            "INV/2026/00042",
            "posted",
            "partly_paid",
        )
        assert Decimal(data["amount_paid"]) == Decimal(20000000)
        # The invoice's write_date is the event's time, so a late poll cannot go back.
        assert data["invoice_reported_at"] == "2026-11-23T10:00:00Z"
        assert Decimal(data["erp_total"]) == Decimal(PROFORMA_TOTAL)
        replay = board.play("poll_unchanged")
        assert poll_once(runtime, "finance").stored == 0
        replay.assert_done()

        # Cancelled in the CRM after Odoo confirmed the order: left for Odoo's staff.
        write(runtime, "proforma", proforma_id, {**body, "status": "cancelled"})
        replay = board.play("cancel_confirmed")
        runtime.sync.process("finance", [("proforma", proforma_id)])
        replay.assert_done()
        row = state(runtime, "proforma", proforma_id)
        assert (row.state, row.external_id) == ("synced", "77")
        assert row.note == "cancelled in the CRM, but Odoo's order is sale: cancel it there"
    finally:
        runtime.close()


def test_a_pro_forma_withdrawn_before_odoo_had_it_sends_nothing(tmp_path: Path) -> None:
    board = Switchboard(RECORDINGS_FILE)
    runtime = runtime_with(tmp_path, board)
    try:
        *dependencies, (_, proforma_id, body) = linked_records()
        for type_, record_id, data in dependencies:
            write(runtime, type_, record_id, data)
        write(runtime, "proforma", proforma_id, {**body, "status": "cancelled"})
        replay = board.play("withdrawn_before_sent")
        runtime.sync.process("finance", [("proforma", proforma_id)])
        replay.assert_done()
        row = state(runtime, "proforma", proforma_id)
        assert (row.state, row.external_id) == ("synced", None)
        assert row.note == "cancelled: nothing sent to Odoo"
        assert state(runtime, "customer", "cust-1").external_id is None
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("answer", "state_name", "reason"),
    [
        (httpx.ConnectError("refused"), "failed", "cannot reach Odoo"),
        (
            {
                "code": 200,
                "message": "Odoo Server Error",
                "data": {
                    "name": "odoo.exceptions.ValidationError",
                    "message": "The VAT number is not valid",
                    "arguments": ["The VAT number is not valid"],
                },
            },
            "dead",
            "The VAT number is not valid",
        ),
    ],
    ids=["odoo-down", "odoo-refuses"],
)
def test_odoo_faults_are_classified(
    tmp_path: Path, answer: Any, state_name: str, reason: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if isinstance(answer, Exception):
            raise answer
        if body["params"]["service"] == "common":
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": 7})
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": answer})

    runtime = runtime_with(tmp_path, handler)
    try:
        *dependencies, (_, proforma_id, body) = linked_records()
        for type_, record_id, data in dependencies:
            write(runtime, type_, record_id, data)
        write(runtime, "proforma", proforma_id, body)
        runtime.sync.process("finance", [("proforma", proforma_id)])
        row = state(runtime, "proforma", proforma_id)
        assert row.state == state_name
        assert reason in (row.last_error or "")
    finally:
        runtime.close()


def test_health_asks_odoo_every_time(tmp_path: Path) -> None:
    up = {"answering": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if not up["answering"]:
            raise httpx.ConnectError("refused")
        body = json.loads(request.content)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": 7})

    runtime = runtime_with(tmp_path, handler)
    try:
        assert runtime.host.health("finance").ok
        up["answering"] = False
        report = runtime.host.health("finance")
        assert not report.ok and "cannot reach Odoo" in report.detail
        up["answering"] = True
        assert runtime.host.health("finance").ok
    finally:
        runtime.close()


def test_health_names_the_missing_access_rights(tmp_path: Path) -> None:
    board = Switchboard(Path(__file__).parents[2] / "erp" / "odoo" / "recordings" / "rights.json")
    runtime = runtime_with(tmp_path, board)
    try:
        replay = board.play("finance_limited")
        report = runtime.host.health("finance")
        replay.assert_done()
        assert not report.ok
        assert "res.partner create: add Contact Creation (base.group_partner_manager)" in (
            report.detail
        )
        runtime.host.context("finance").cache.clear()  # a new client, as after a restart
        replay = board.play("finance_full")
        assert runtime.host.health("finance").ok
        replay.assert_done()
    finally:
        runtime.close()


def test_a_unit_without_an_odoo_unit_of_measure_is_refused_naming_the_setting(
    tmp_path: Path,
) -> None:
    def no_call(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing should reach Odoo: {request.content!r}")

    runtime = runtime_with(tmp_path, no_call, odoo_units={"kg": 12})
    try:
        write(runtime, "product", "p-1", PRODUCTS["p-1"])
        runtime.sync.process("finance", [("product", "p-1")])
        row = state(runtime, "product", "p-1")
        assert row.state == "dead"
        assert "the unit 'عدد' has no Odoo unit of measure; add it to odoo_units" in (
            row.last_error or ""
        )
    finally:
        runtime.close()


def test_a_currency_without_a_pricelist_is_refused_naming_the_setting(tmp_path: Path) -> None:
    board = Switchboard(RECORDINGS_FILE)
    runtime = runtime_with(tmp_path, board, odoo_pricelists={"USD": 1})
    try:
        *dependencies, (_, proforma_id, body) = linked_records()
        for type_, record_id, data in dependencies:
            write(runtime, type_, record_id, data)
        write(runtime, "proforma", proforma_id, {**body, "status": "approved"})
        board.play("approve_with_dependencies")
        runtime.sync.process("finance", [("proforma", proforma_id)])
        row = state(runtime, "proforma", proforma_id)
        assert row.state == "dead"
        assert "no Odoo pricelist for currency 'IRR'; add one to odoo_pricelists" in (
            row.last_error or ""
        )
    finally:
        runtime.close()
