"""The inventory plugin against a real Tryton 8.2 server: every flow, end to end.

The finance plugin's part (the customer's party, the products, the pro-forma's sale,
confirmed) is played here through the shared :mod:`erp.tryton` operations, as that plugin
does; the warehouse staff's part (shipping, receiving a return) through the helpers of
``core.testing.tryton``. Two tests, one server each, keep the Tryton share of CI small;
the plugin contract runs on one more server shared by its tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.kinds import KINDS_BY_TYPE
from core.store import get_record, sync_rows, timeline
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import poll_once
from core.testing.contract import ContractTarget, PluginContract
from core.testing.tryton import (
    TEMPLATE_ACCOUNT_CATEGORY,
    TEMPLATE_PAYMENT_TERM,
    TrytonServer,
    add_stock,
    receive_return,
    run_server,
    ship,
)
from erp.tryton import Tryton, TrytonClient
from erp.tryton.partners import AddressInput, PartyInput
from erp.tryton.products import ProductInput
from erp.tryton.sales import QuotationInput, SaleLineInput
from tests.e2e.harness import free_port
from tests.plugins.inventory.conftest import (
    PLUGIN,
    apply_inbound,
    get,
    lines_of,
    proforma,
    put,
    status_of,
)


def settings_for(server: TrytonServer, **extra: Any) -> dict[str, Any]:
    return {
        "backend": "tryton",
        "tryton": {
            "url": server.url,
            "database": server.database,
            "username": server.login,
            "password": server.password,
        },
        **extra,
    }


def finance_side(client: TrytonClient, ref: str, stock: dict[str, float]) -> tuple[Tryton, int]:
    """What the finance plugin does: party, products, the pro-forma's sale, confirmed."""
    erp = Tryton(
        client, account_category=TEMPLATE_ACCOUNT_CATEGORY, payment_term=TEMPLATE_PAYMENT_TERM
    )
    party = erp.partners.ensure_party(
        PartyInput(
            crm_id="cust-1",
            name="علی کریمی",
            addresses=(AddressInput(street="ولیعصر ۱۲", city="تهران"),),
        )
    )
    products = {
        sku: erp.products.ensure_product(
            ProductInput(sku=sku, name=sku, list_price=Decimal(1000))
        ).id
        for sku in ("PUMP-1", "VALVE-2")
    }
    add_stock(client, [(products[sku], quantity) for sku, quantity in stock.items()])
    sale = erp.sales.create_quotation(
        QuotationInput(
            crm_ref=ref,
            party_id=party.id,
            lines=(
                SaleLineInput(
                    product_id=products["PUMP-1"], quantity=Decimal(3), unit_price=Decimal(1000)
                ),
                SaleLineInput(
                    product_id=products["VALVE-2"], quantity=Decimal(4), unit_price=Decimal(500)
                ),
            ),
        )
    )
    erp.sales.confirm_sale(sale.id)
    return erp, sale.id


def crm_side(runtime: SyncRuntime) -> None:
    put(runtime, "customer", "cust-1", {"type": "person", "name": "علی کریمی"})
    put(runtime, "product", "p-1", {"sku": "PUMP-1", "name": "پمپ"})
    put(runtime, "product", "p-2", {"sku": "VALVE-2", "name": "شیر"})


def later() -> datetime:
    """A time when every retry is due."""
    return datetime.now(UTC) + timedelta(hours=1)


def state(runtime: SyncRuntime, type_: str, record_id: str) -> tuple[str, str | None]:
    [row] = [r for r in sync_rows(runtime.engine, type_, record_id) if r.plugin == PLUGIN]
    return row.state, row.last_error


def test_reservation_full_partial_and_released_with_faults(
    tryton_server: TrytonServer,
    tryton_client: TrytonClient,
    make_inventory: Callable[[dict[str, Any]], SyncRuntime],
) -> None:
    runtime = make_inventory(settings_for(tryton_server))
    crm_side(runtime)
    put(runtime, "proforma", "pf-1", proforma())

    # The sale is not there yet (finance has not synced it): transient, retried later.
    runtime.sync.process(PLUGIN, [("proforma", "pf-1")])
    row_state, error = state(runtime, "proforma", "pf-1")
    assert row_state == "failed" and "no confirmed sale" in (error or "")
    [row] = [r for r in sync_rows(runtime.engine, "proforma", "pf-1") if r.plugin == PLUGIN]
    assert (row.attempts, row.error_class) == (0, "waiting-finance")
    assert (error or "").startswith("waiting on finance: Tryton has no confirmed sale")

    # Short stock: 3 of 3 pumps, 1 of 4 valves.
    erp, sale_id = finance_side(tryton_client, "pf-1", {"PUMP-1": 5, "VALVE-2": 1})
    runtime.sync.process(PLUGIN, [("proforma", "pf-1")], now=later())
    assert state(runtime, "proforma", "pf-1") == ("synced", None)
    assert lines_of(runtime, "res-pf-1") == [
        ("p-1", "3", "reserved"),
        ("p-2", "1", "partly_reserved"),
    ]
    reservation = get(runtime, "reservation", "res-pf-1")
    assert reservation.data.status == "partial"  # type: ignore[attr-defined]
    assert reservation.external_id == f"sale.sale,{sale_id}"
    assert erp.stock.reservation(sale_id).state == "partly reserved"

    # The missing valves arrive and Tryton assigns the waiting rest: its stock moves say
    # so, and the poll makes the reservation reserved, with the moves' time.
    poll_once(runtime, PLUGIN)
    apply_inbound(runtime)
    assert status_of(runtime, "reservation", "res-pf-1") == "partial"
    valve = erp.products.find_product("VALVE-2")
    assert valve is not None
    add_stock(tryton_client, [(valve, 3)])
    (shipment,) = erp.sales.sale(sale_id).shipment_ids
    tryton_client.button("stock.shipment.out", "assign_try", [shipment])
    assert poll_once(runtime, PLUGIN).stored == 1
    apply_inbound(runtime)
    assert lines_of(runtime, "res-pf-1") == [("p-1", "3", "reserved"), ("p-2", "4", "reserved")]
    reserved = get(runtime, "reservation", "res-pf-1").data
    assert reserved.status == "reserved"  # type: ignore[attr-defined]
    assert reserved.reported_at is not None  # type: ignore[attr-defined]

    # Cancelled pro-forma: the stock is given back, in Tryton and on the record.
    put(runtime, "proforma", "pf-1", proforma("cancelled"))
    runtime.sync.process(PLUGIN, [("proforma", "pf-1")])
    assert state(runtime, "proforma", "pf-1") == ("synced", None)
    assert status_of(runtime, "reservation", "res-pf-1") == "released"
    assert {line.reserved_quantity for line in erp.stock.reservation(sale_id).lines} == {Decimal(0)}


def test_delivery_and_return_come_back_by_polling(
    tryton_server: TrytonServer,
    tryton_client: TrytonClient,
    make_inventory: Callable[[dict[str, Any]], SyncRuntime],
) -> None:
    runtime = make_inventory(settings_for(tryton_server))
    crm_side(runtime)
    erp, sale_id = finance_side(tryton_client, "pf-1", {"PUMP-1": 10, "VALVE-2": 10})
    put(runtime, "proforma", "pf-1", proforma())
    runtime.sync.process(PLUGIN, [("proforma", "pf-1")])
    assert status_of(runtime, "reservation", "res-pf-1") == "reserved"
    order = {
        "customer_id": "cust-1",
        "proforma_id": "pf-1",
        "number": "SO-1",
        "status": "confirmed",
        "lines": proforma()["lines"],
    }
    put(runtime, "order", "so-1", order)
    runtime.sync.process(PLUGIN, [("order", "so-1")])
    assert state(runtime, "order", "so-1") == ("synced", None)
    assert get(runtime, "order", "so-1").data.delivery_state is None  # type: ignore[attr-defined]

    poll_once(runtime, PLUGIN)
    apply_inbound(runtime)
    (shipment,) = erp.sales.sale(sale_id).shipment_ids
    ship(tryton_client, shipment, until="pack")
    poll_once(runtime, PLUGIN)
    apply_inbound(runtime)
    assert get(runtime, "order", "so-1").data.delivery_state == "shipped"  # type: ignore[attr-defined]
    tryton_client.button("stock.shipment.out", "do", [shipment])
    poll_once(runtime, PLUGIN)
    apply_inbound(runtime)
    assert get(runtime, "order", "so-1").data.delivery_state == "delivered"  # type: ignore[attr-defined]
    # Polling again finds nothing new: nothing is applied twice.
    again = poll_once(runtime, PLUGIN)
    assert again.stored == 0

    rma = {
        "order_id": "so-1",
        "customer_id": "cust-1",
        "reason": "کالا آسیب دیده بود",
        "lines": [{"product_id": "p-1", "quantity": "1"}],
    }
    put(runtime, "return", "r-1", rma)
    runtime.sync.process(PLUGIN, [("return", "r-1")])
    assert state(runtime, "return", "r-1") == ("synced", None)
    return_sale = erp.sales.find_sale("rma-r-1")
    assert return_sale is not None
    (received,) = erp.sales.sale(return_sale).return_ids
    receive_return(tryton_client, received)
    poll_once(runtime, PLUGIN)
    apply_inbound(runtime)
    assert status_of(runtime, "return", "r-1") == "received"


# -- the contract -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def contract_server(
    tryton_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrytonServer]:
    """One Tryton server, on a fresh copy of the template database, for the contract tests."""
    with run_server(tryton_template, tmp_path_factory.mktemp("inventory-contract")) as server:
        yield server


@pytest.fixture(scope="module")
def contract_erp(contract_server: TrytonServer) -> Iterator[Tryton]:
    """The finance side of the contract's pro-forma: its sale confirmed, stock on the shelves."""
    with httpx.Client(timeout=60.0) as http:
        client = contract_server.client(http)
        client.login()
        erp, _ = finance_side(client, "contract-pf-1", {"PUMP-1": 10, "VALVE-2": 10})
        yield erp


class TestInventoryTrytonContract(PluginContract):
    """The sync contract on the Tryton backend, with records linked as in real use.

    The plugin reads product SKUs from the CRM without subscribing to products, so the
    products are written next to the first record rather than listed among the records.
    A reservation the CRM sends itself (a service case's parts) is left out: on an ERP
    backend its push writes Tryton's answer back onto that same reservation, making a
    version newer than the one pushed, while the contract expects a pushed record to stay
    at the version it pushed. The webhook contract covers it; here the pro-forma's
    derived reservation is reserved and released.
    """

    plugin_name = "inventory"

    def records(self, subscriptions: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
        """An approved pro-forma, the order made of it and a return of that order."""
        order = {
            "customer_id": "cust-1",
            "proforma_id": "contract-pf-1",
            "number": "SO-1",
            "status": "confirmed",
            "lines": proforma()["lines"],
        }
        rma = {
            "order_id": "contract-so-1",
            "customer_id": "cust-1",
            "reason": "کالا آسیب دیده بود",
            "lines": [{"product_id": "p-1", "quantity": "1"}],
        }
        return [
            ("proforma", "contract-pf-1", proforma()),
            ("order", "contract-so-1", order),
            ("return", "contract-rma-1", rma),
        ]

    def write(self, runtime: SyncRuntime, type_: str, record_id: str, body: dict[str, Any]) -> int:
        if get_record(runtime.engine, KINDS_BY_TYPE["product"], "p-1") is None:
            crm_side(runtime)
        return super().write(runtime, type_, record_id, body)

    @pytest.fixture
    def target(self, contract_server: TrytonServer, contract_erp: Tryton) -> ContractTarget:
        erp = contract_erp

        def received(type_: str, record_id: str) -> list[int]:
            # Tryton holds the current state only: tell the versions apart by content.
            if type_ == "proforma":
                sale = erp.sales.find_sale(record_id)
                if sale is None:
                    return []
                held = [line.reserved_quantity for line in erp.stock.reservation(sale).lines]
                return [1] if any(held) else [2]
            if type_ == "return":
                return [1] if erp.sales.find_sale(f"rma-{record_id}") is not None else []
            # An order is followed, not sent: Tryton has it once its sale is found.
            return [1] if erp.sales.find_sale("contract-pf-1") is not None else []

        settings = settings_for(contract_server)
        down = {
            **settings,
            "tryton": {**settings["tryton"], "url": f"http://127.0.0.1:{free_port()}"},
        }
        return ContractTarget(settings=settings, received=received, unreachable_settings=down)


def reserve_in_stock(
    runtime: SyncRuntime, server: TrytonServer, http: httpx.Client, ref: str
) -> tuple[TrytonClient, Tryton, int]:
    """An approved pro-forma ``ref`` of goods all in stock, pushed and reserved in full.

    Returns the logged-in client, the ERP operations and the sale's id in Tryton.
    """
    crm_side(runtime)
    client = server.client(http)
    client.login()
    erp, sale_id = finance_side(client, ref, {"PUMP-1": 10, "VALVE-2": 10})
    put(runtime, "proforma", ref, proforma())
    runtime.sync.process(PLUGIN, [("proforma", ref)])
    assert status_of(runtime, "reservation", f"res-{ref}") == "reserved"
    return client, erp, sale_id


def test_an_expired_reservation_is_released_on_the_next_poll(
    contract_server: TrytonServer, make_inventory: Callable[[dict[str, Any]], SyncRuntime]
) -> None:
    """Expiry is a point in time, not a change in Tryton: the next poll releases the stock."""
    runtime = make_inventory(settings_for(contract_server))
    with httpx.Client(timeout=60.0) as http:
        _, erp, sale_id = reserve_in_stock(runtime, contract_server, http, "pf-9")
        # The poll sees the reservation's own stock moves; nothing has expired yet.
        poll_once(runtime, PLUGIN)
        apply_inbound(runtime)
        assert status_of(runtime, "reservation", "res-pf-9") == "reserved"

        # The pro-forma's validity ended two days ago; the reservation takes its expiry.
        ended = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
        put(runtime, "proforma", "pf-9", proforma(valid_until=ended))
        runtime.sync.process(PLUGIN, [("proforma", "pf-9")])
        held = get(runtime, "reservation", "res-pf-9").data
        assert held.status == "reserved"  # type: ignore[attr-defined]
        assert held.expires_at < datetime.now(UTC)  # type: ignore[attr-defined]

        assert poll_once(runtime, PLUGIN).stored >= 1
        apply_inbound(runtime)
        released = get(runtime, "reservation", "res-pf-9").data
        assert released.status == "released"  # type: ignore[attr-defined]
        assert {line.reserved_quantity for line in erp.stock.reservation(sale_id).lines} == {
            Decimal(0)
        }
        # Released once: a later poll finds nothing more to release or report.
        assert poll_once(runtime, PLUGIN).stored == 0


def test_a_shipment_tryton_assigns_again_after_a_release_is_reported(
    contract_server: TrytonServer, make_inventory: Callable[[dict[str, Any]], SyncRuntime]
) -> None:
    """Tryton is the truth about what is held: a re-assignment after a release is reported."""
    runtime = make_inventory(settings_for(contract_server))
    with httpx.Client(timeout=60.0) as http:
        client, erp, sale_id = reserve_in_stock(runtime, contract_server, http, "pf-8")
        put(runtime, "proforma", "pf-8", proforma("cancelled"))
        runtime.sync.process(PLUGIN, [("proforma", "pf-8")])
        assert status_of(runtime, "reservation", "res-pf-8") == "released"

        # The release wrote the moves; Tryton holds nothing, so nothing is reported.
        assert poll_once(runtime, PLUGIN).stored == 0
        assert status_of(runtime, "reservation", "res-pf-8") == "released"

        # The warehouse (or Tryton's assign cron) assigns the waiting shipment again.
        (shipment,) = erp.sales.sale(sale_id).shipment_ids
        client.button("stock.shipment.out", "assign_try", [shipment])
        assert poll_once(runtime, PLUGIN).stored == 1
        apply_inbound(runtime)
        held = get(runtime, "reservation", "res-pf-8").data
        assert held.status == "reserved"  # type: ignore[attr-defined]
        assert lines_of(runtime, "res-pf-8") == [("p-1", "3", "reserved"), ("p-2", "4", "reserved")]
        written = client.search_read(
            "stock.move", [("shipment", "=", f"stock.shipment.out,{shipment}")], ["write_date"]
        )
        newest = max(row["write_date"] for row in written if row["write_date"]).replace(tzinfo=UTC)
        assert held.reported_at == newest  # type: ignore[attr-defined]
        changes = [
            event.data["payload"]["changes"]
            for event in timeline(runtime.engine, "reservation", "res-pf-8")
            if event.data["type"] == "reservation.status_changed"
        ]
        assert [change["status"] for change in changes][-2:] == ["released", "reserved"]
        # Read again unchanged: nothing more is reported.
        assert poll_once(runtime, PLUGIN).stored == 0


# -- service parts ----------------------------------------------------------------------


def service_location(client: TrytonClient, code: str) -> int:
    """A storage location of the main warehouse, beside its storage, holding service parts."""
    (warehouse,) = client.search("stock.location", [("code", "=", "WH")], limit=1)
    (location,) = client.create(
        "stock.location",
        [{"name": f"Service {code}", "code": code, "type": "storage", "parent": warehouse}],
    )
    return location


def free_in_storage(client: TrytonClient, product: int) -> Decimal:
    """How many of a product the main storage will have once every pending move is done."""
    storage = client.search("stock.location", [("code", "=", "STO")], limit=1)
    (row,) = client.read(
        "product.product", [product], ["forecast_quantity"], context={"locations": storage}
    )
    return Decimal(str(row["forecast_quantity"]))


def parts_shipments(client: TrytonClient, reservation_id: str) -> list[dict[str, Any]]:
    """Every internal shipment Tryton holds for a reservation's parts, oldest first."""
    return client.search_read(
        "stock.shipment.internal",
        [("reference", "=", f"svc-{reservation_id}")],
        ["state", "to_location"],
        order=[("id", "ASC")],
    )


def push_parts(runtime: SyncRuntime, reservation_id: str) -> None:
    """Push a CRM reservation, then pass over it once more as the sweeper would.

    Tryton's answer is written onto the pushed record itself, making a newer version
    that is bound as held by Tryton: the second pass finds nothing to send.
    """
    runtime.sync.process(PLUGIN, [("reservation", reservation_id)])
    runtime.sync.process(PLUGIN, [("reservation", reservation_id)])


def test_service_parts_reserved_short_and_released(
    tryton_server: TrytonServer,
    tryton_client: TrytonClient,
    make_inventory: Callable[[dict[str, Any]], SyncRuntime],
) -> None:
    """A service case's parts are held by an internal shipment ``svc-<id>`` until released.

    Without ``tryton_parts_to`` the reservation fails permanently and Tryton is left
    untouched; with it, a full line and a short line come back per line, pushing again
    reuses the shipment (filling the short line once stock arrived), and releasing
    cancels it so the parts are free again.
    """
    erp, _ = finance_side(tryton_client, "pf-0", {"PUMP-1": 5, "VALVE-2": 1})
    pump = erp.products.find_product("PUMP-1")
    assert pump is not None
    parts = {
        "service_case_id": "case-7",
        "lines": [
            {"product_id": "p-1", "quantity": "2"},
            {"product_id": "p-2", "quantity": "4"},
        ],
    }

    unset = make_inventory(settings_for(tryton_server))
    crm_side(unset)
    put(unset, "reservation", "rsv-7", parts)
    unset.sync.process(PLUGIN, [("reservation", "rsv-7")])
    row_state, error = state(unset, "reservation", "rsv-7")
    assert row_state == "dead" and "tryton_parts_to" in (error or "")
    assert parts_shipments(tryton_client, "rsv-7") == []

    target = service_location(tryton_client, "SVC")
    free = free_in_storage(tryton_client, pump)
    runtime = make_inventory(settings_for(tryton_server, tryton_parts_to="SVC"))
    crm_side(runtime)
    put(runtime, "reservation", "rsv-7", parts)
    push_parts(runtime, "rsv-7")
    assert state(runtime, "reservation", "rsv-7") == ("synced", None)
    assert lines_of(runtime, "rsv-7") == [
        ("p-1", "2", "reserved"),
        ("p-2", "1", "partly_reserved"),
    ]
    reservation = get(runtime, "reservation", "rsv-7")
    assert reservation.data.status == "partial"  # type: ignore[attr-defined]
    (shipment,) = parts_shipments(tryton_client, "rsv-7")
    assert shipment["to_location"] == target
    assert reservation.external_id == f"stock.shipment.internal,{shipment['id']}"
    assert free_in_storage(tryton_client, pump) == free - 2

    # Valves arrive and the CRM touches the reservation (a later expiry): the same
    # shipment takes the rest, and the short line now counts every valve it holds.
    valve = erp.products.find_product("VALVE-2")
    assert valve is not None
    add_stock(tryton_client, [(valve, 3)])
    until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    put(runtime, "reservation", "rsv-7", {**parts, "expires_at": until})
    push_parts(runtime, "rsv-7")
    assert state(runtime, "reservation", "rsv-7") == ("synced", None)
    assert len(parts_shipments(tryton_client, "rsv-7")) == 1
    assert lines_of(runtime, "rsv-7") == [("p-1", "2", "reserved"), ("p-2", "4", "reserved")]
    assert status_of(runtime, "reservation", "rsv-7") == "reserved"

    # The case is closed: the CRM releases the parts, Tryton cancels the shipment.
    put(runtime, "reservation", "rsv-7", {**parts, "expires_at": until, "status": "released"})
    push_parts(runtime, "rsv-7")
    assert state(runtime, "reservation", "rsv-7") == ("synced", None)
    released = get(runtime, "reservation", "rsv-7").data
    assert released.status == "released"  # type: ignore[attr-defined]
    assert [(line.reserved_quantity, line.state) for line in released.lines] == [  # type: ignore[attr-defined]
        (Decimal(0), None),
        (Decimal(0), None),
    ]
    assert [row["state"] for row in parts_shipments(tryton_client, "rsv-7")] == ["cancelled"]
    assert free_in_storage(tryton_client, pump) == free
