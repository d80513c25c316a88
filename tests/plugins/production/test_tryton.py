"""The tryton backend against a real trytond: sale -> production -> poll -> promise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.db.inbound_tables import InboxEvent
from core.errors import TransientError
from core.kinds import KINDS_BY_TYPE
from core.store import get_record, timeline, write_record
from core.sync.inbound import load_cursor, store_events
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import Scheduler, poll_once
from core.testing.tryton import (
    TEMPLATE_ACCOUNT_CATEGORY,
    TEMPLATE_PAYMENT_TERM,
    TrytonServer,
    run_production,
)
from erp.tryton import Tryton, TrytonClient
from erp.tryton.partners import AddressInput, PartyInput
from erp.tryton.products import ProductInput
from erp.tryton.sales import QuotationInput, SaleLineInput
from tests.e2e.harness import free_port
from tests.plugins.production.conftest import PromiseListener, order

Build = Callable[[dict[str, Any]], SyncRuntime]


@pytest.fixture
def erp(tryton_client: TrytonClient) -> Tryton:
    return Tryton(
        tryton_client,
        account_category=TEMPLATE_ACCOUNT_CATEGORY,
        payment_term=TEMPLATE_PAYMENT_TERM,
    )


def settings(server: TrytonServer, **extra: Any) -> dict[str, Any]:
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


def producible(erp: Tryton, sku: str) -> int:
    """A product made to order from five units of a raw material."""
    raw = erp.products.ensure_product(
        ProductInput(sku=f"RAW-{sku}", name="Steel", list_price=Decimal(1))
    )
    made = erp.products.ensure_product(
        ProductInput(
            sku=sku,
            name=f"Cabinet {sku}",
            list_price=Decimal(5000000),
            producible=True,
            supply_on_sale=True,
        )
    )
    unit = erp.lookups.unit_id("u")
    (bom,) = erp.client.create(
        "production.bom",
        [
            {
                "name": f"BOM {sku}",
                "inputs": [("create", [{"product": raw.id, "quantity": 5.0, "unit": unit}])],
                "outputs": [("create", [{"product": made.id, "quantity": 1.0, "unit": unit}])],
            }
        ],
    )
    erp.client.write("product.product", [made.id], {"boms": [("create", [{"bom": bom}])]})
    return made.id


def sell(erp: Tryton, order_id: str, *products: int) -> int:
    """Confirm an ERP sale for CRM order ``order_id``, as the finance plugin would."""
    party = erp.partners.ensure_party(
        PartyInput(
            crm_id="cust-1",
            name="Ali Rezaei",
            addresses=(AddressInput(street="Valiasr St. 1200", city="Tehran"),),
        )
    )
    lines = tuple(
        SaleLineInput(product_id=p, quantity=Decimal(2), unit_price=Decimal(5000000))
        for p in products
    )
    quotation = erp.sales.create_quotation(
        QuotationInput(crm_ref=order_id, party_id=party.id, lines=lines)
    )
    return erp.sales.confirm_sale(quotation.id).id


def apply_all(runtime: SyncRuntime) -> None:
    with runtime.engine.connect() as connection:
        ids = list(connection.execute(select(InboxEvent.id)).scalars())
    runtime.inbound.process("production", ids)


def promised(runtime: SyncRuntime, order_id: str) -> str | None:
    stored = get_record(runtime.engine, KINDS_BY_TYPE["order"], order_id)
    assert stored is not None
    value = stored.data["promised_date"]
    return str(value) if value else None


def status(runtime: SyncRuntime, production_id: int) -> dict[str, Any]:
    stored = get_record(
        runtime.engine, KINDS_BY_TYPE["production_status"], f"tryton-production-{production_id}"
    )
    assert stored is not None
    return stored.data


def promise_events(runtime: SyncRuntime, order_id: str) -> list[dict[str, Any]]:
    return [
        event.data["payload"]
        for event in timeline(runtime.engine, "order", order_id)
        if event.data["type"] == "order.promise_changed"
    ]


def test_a_production_sets_the_promise_and_each_change_is_applied_once(
    erp: Tryton,
    tryton_server: TrytonServer,
    make_production: Build,
    listener: PromiseListener,
) -> None:
    cabinet = producible(erp, "CAB-1")
    runtime = make_production(settings(tryton_server))
    order(runtime, "so-1")
    sale = sell(erp, "so-1", cabinet)
    (production,) = erp.manufacturing.productions(sale)
    assert production.state == "request" and production.planned_date is not None

    first = poll_once(runtime, "production")
    assert (first.stored, first.more) == (1, False)
    apply_all(runtime)
    made = status(runtime, production.id)
    assert (made["order_id"], made["stage"], made["progress"]) == ("so-1", "request", 0)
    assert made["eta"] == production.planned_date.isoformat()
    assert made["work_order"] == f"production {production.id}"  # numbered once drafted
    assert promised(runtime, "so-1") == production.planned_date.isoformat()
    [announced] = promise_events(runtime, "so-1")
    assert (announced["old"], announced["new"]) == (None, production.planned_date.isoformat())
    assert announced["work_order"] == f"production {production.id}"

    again = poll_once(runtime, "production")
    assert (again.stored, again.duplicates) == (0, 0)

    later = production.planned_date + dt.timedelta(days=12)
    erp.client.write("production", [production.id], {"planned_date": later})
    assert poll_once(runtime, "production").stored == 1
    apply_all(runtime)
    assert promised(runtime, "so-1") == later.isoformat()
    second = promise_events(runtime, "so-1")[-1]
    assert (second["old"], second["new"]) == (
        production.planned_date.isoformat(),
        later.isoformat(),
    )

    run_production(erp.client, production.id, until="run")
    assert poll_once(runtime, "production").stored == 1
    apply_all(runtime)
    assert status(runtime, production.id)["stage"] == "running"
    assert len(promise_events(runtime, "so-1")) == 2
    stages = [
        event.data["payload"]["changes"]["stage"]
        for event in timeline(
            runtime.engine, "production_status", f"tryton-production-{production.id}"
        )
    ]
    assert stages == ["request", "request", "running"]

    lost_cursor = runtime.host.poll("production", None)
    assert len(lost_cursor.events) == 1
    assert store_events(runtime.engine, "production", lost_cursor.events).duplicates == 1
    [event] = [
        e for e in timeline(runtime.engine, "order", "so-1") if e.data["type"].startswith("order.")
    ][-1:]
    runtime.sync.process("listener", [("event", event.id)])
    assert [received.payload["new"] for received in listener.received] == [later.isoformat()]


def test_productions_sharing_a_timestamp_are_each_handed_out_once_and_a_restart_resumes(
    erp: Tryton, tryton_server: TrytonServer, make_production: Build
) -> None:
    first_product, second_product = producible(erp, "CAB-A"), producible(erp, "CAB-B")
    runtime = make_production(settings(tryton_server, poll_batch=1))
    order(runtime, "so-2")
    productions = erp.manufacturing.productions(sell(erp, "so-2", first_product, second_product))
    assert len(productions) == 2
    rows = erp.client.read("production", [p.id for p in productions], ["create_date"])
    assert rows[0]["create_date"] == rows[1]["create_date"]

    one = poll_once(runtime, "production")
    assert (one.stored, one.more) == (1, True)
    cursor = load_cursor(runtime.engine, "production")

    restarted = make_production(settings(tryton_server, poll_batch=1))
    assert load_cursor(restarted.engine, "production") == cursor
    two = poll_once(restarted, "production")
    assert (two.stored, two.duplicates) == (1, 0)
    three = poll_once(restarted, "production")
    assert (three.stored, three.duplicates, three.more) == (0, 0, False)
    apply_all(restarted)
    assert {status(restarted, p.id)["order_id"] for p in productions} == {"so-2"}


def test_an_erp_down_during_a_poll_moves_no_cursor_and_the_change_arrives_later(
    erp: Tryton, tryton_server: TrytonServer, make_production: Build
) -> None:
    cabinet = producible(erp, "CAB-9")
    runtime = make_production(settings(tryton_server))
    order(runtime, "so-9")
    (production,) = erp.manufacturing.productions(sell(erp, "so-9", cabinet))
    assert poll_once(runtime, "production").stored == 1
    cursor = load_cursor(runtime.engine, "production")
    run_production(erp.client, production.id, until="wait")

    down = dict(settings(tryton_server))
    down["tryton"] = {**down["tryton"], "url": f"http://127.0.0.1:{free_port()}"}
    unreachable = make_production(down)
    with pytest.raises(TransientError):
        poll_once(unreachable, "production")
    assert load_cursor(unreachable.engine, "production") == cursor
    scheduler = Scheduler(unreachable)
    scheduler.tick(1000.0)
    assert scheduler.failures == {"production": 1}
    assert scheduler.next_run["poll:production"] > 1000.0 + 60
    assert unreachable.host.health("production").ok is False

    assert poll_once(runtime, "production").stored == 1
    apply_all(runtime)
    assert status(runtime, production.id)["stage"] == "waiting"
    assert runtime.host.health("production").ok


def test_a_production_for_a_proforma_waits_then_reaches_the_order_made_from_it(
    erp: Tryton, tryton_server: TrytonServer, make_production: Build
) -> None:
    cabinet = producible(erp, "CAB-5")
    runtime = make_production(settings(tryton_server))
    (production,) = erp.manufacturing.productions(sell(erp, "pf-5", cabinet))
    outcome = poll_once(runtime, "production")
    assert (outcome.stored, outcome.more) == (1, False)
    assert load_cursor(runtime.engine, "production") is not None
    apply_all(runtime)
    with runtime.engine.connect() as connection:
        [(state, error)] = connection.execute(select(InboxEvent.state, InboxEvent.last_error))
    assert state == "failed" and "'pf-5'" in (error or "")
    order(runtime, "so-5")
    kind = KINDS_BY_TYPE["order"]
    stored = get_record(runtime.engine, kind, "so-5")
    assert stored is not None
    body = kind.schema.model_validate({**stored.data, "proforma_id": "pf-5"})
    write_record(runtime.engine, kind, "so-5", body, subscribers=())
    with runtime.engine.connect() as connection:
        ids = list(connection.execute(select(InboxEvent.id)).scalars())
    runtime.inbound.process(
        "production", ids, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    )
    with runtime.engine.connect() as connection:
        assert connection.execute(select(InboxEvent.state)).scalars().all() == ["applied"]
    assert status(runtime, production.id)["order_id"] == "so-5"
