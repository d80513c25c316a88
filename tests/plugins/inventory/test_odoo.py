"""The inventory flows on the Odoo backend, replayed against recorded JSON-RPC exchanges.

Odoo cannot be installed here, so the recordings in ``odoo_recordings/inventory.json``
follow Odoo 17's documented external API (``/jsonrpc``, service ``object``,
``execute_kw``) and the answers its stock and sale modules give. Replay is strict
(``tests.core.connectors.test_odoo.Replay``): every request must equal the recorded one,
in order, and every recorded exchange must be used. Covered: reserving an approved
pro-forma's sale (reserved, partly reserved and unavailable per line), reserving again
after delivery, release on cancel, the delivery state polled back onto the order, a
return made through the return wizard and its receipt polled back, a service case's
parts picked into the service location (created once, reserved per line, cancelled on
release), and the faults (Odoo down, the sale not confirmed yet, the parts settings
missing). The stock-move polls (a move reserved inside a delivery that stays assigned,
a re-reservation by Odoo's scheduler after a release, a cursor saved before moves were
polled) were written from Odoo 17's source, not recorded from a live server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import plugins.inventory.plugin as inventory
from core.admin.overview import current_figures
from core.api.app import create_app
from core.db.admin_tables import OUT
from core.errors import TransientError
from core.plugin_types import InboundEvent
from core.settings import Settings
from core.store import sync_rows, timeline
from core.sync.inbound import load_cursor, store_events
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import poll_once
from core.testing.fixtures import migrated_runtime
from core.testing.odoo_replay import URL, Replay, Switchboard
from erp.odoo.polling import PollCursor
from plugins.inventory.mapping import RESERVATION_STATUS, ReservationStatus
from tests.core.api.conftest import TestClient
from tests.plugins.inventory.conftest import PLUGIN, apply_inbound, get, lines_of, put, status_of

RECORDINGS_FILE = Path(__file__).parent / "odoo_recordings" / "inventory.json"
ODOO = {
    "url": URL,
    "database": "crm",
    "login": "sync@example.com",
    "api_key": "key-123",
    "version": 17,
}
#: Products as the CRM has them; Odoo knows them by the same SKU (``default_code``).
PRODUCTS = {"p-1": "PUMP-1", "p-2": "VALVE-2", "p-3": "SEAL-3"}
#: An approved pro-forma of 3 pumps, 4 valves and 2 seals.
PROFORMA: dict[str, Any] = {
    "customer_id": "cust-1",
    "number": "PF-1",
    "issue_date": "2026-11-20",
    "status": "approved",
    "lines": [
        {"product_id": "p-1", "quantity": "3", "unit_price": "1000"},
        {"product_id": "p-2", "quantity": "4", "unit_price": "500"},
        {"product_id": "p-3", "quantity": "2", "unit_price": "200"},
    ],
}
ORDER: dict[str, Any] = {
    "customer_id": "cust-1",
    "proforma_id": "pf-1",
    "number": "SO-1",
    "status": "confirmed",
    "lines": PROFORMA["lines"],
}


def _recordings() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(RECORDINGS_FILE.read_text(encoding="utf-8"))
    return loaded


def runtime_with(
    tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response], **extra: Any
) -> SyncRuntime:
    """A runtime of only the inventory plugin, on Odoo, whose HTTP goes to ``handler``.

    ``extra`` adds plugin settings (the service-parts picking type and locations).
    """
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'inventory-odoo.db'}",
        plugins={PLUGIN: {"backend": "odoo", "odoo": ODOO, **extra}},
        sync={"max_attempts": 3},
        api_tokens="reader:reader:reader-token-0123456789",
    )
    runtime = migrated_runtime(
        settings, {PLUGIN: inventory}, transport=httpx.MockTransport(handler)
    )
    for product_id, sku in PRODUCTS.items():
        put(runtime, "product", product_id, {"sku": sku, "name": sku})
    return runtime


def state(runtime: SyncRuntime, type_: str, record_id: str) -> tuple[str, str | None, str | None]:
    """The plugin's delivery state of a record: state, external id, last error."""
    [row] = [r for r in sync_rows(runtime.engine, type_, record_id) if r.plugin == PLUGIN]
    return row.state, row.external_id, row.last_error


@pytest.fixture
def board() -> Switchboard:
    """The recorded Odoo, one flow played at a time."""
    return Switchboard(RECORDINGS_FILE)


@pytest.fixture
def runtime(tmp_path: Path, board: Switchboard) -> Iterator[SyncRuntime]:
    """The inventory plugin on the recorded Odoo, closed after the test."""
    built = runtime_with(tmp_path, board)
    yield built
    built.close()


def push(
    runtime: SyncRuntime,
    board: Switchboard,
    flow: str,
    type_: str,
    record_id: str,
    *,
    passes: int = 1,
    now: datetime | None = None,
) -> Replay:
    """Push one record through the plugin while ``flow`` plays, and check all of it was used.

    ``passes`` above one passes over the record again as the sweeper would: a pushed
    record that the answer changed must send nothing more (the strict replay checks it).
    """
    replay = board.play(flow)
    for _ in range(passes):
        runtime.sync.process(PLUGIN, [(type_, record_id)], now=now)
    replay.assert_done()
    return replay


def poll(runtime: SyncRuntime, board: Switchboard, flow: str) -> int:
    """Poll Odoo once while ``flow`` plays; the number of events stored."""
    replay = board.play(flow)
    stored = poll_once(runtime, PLUGIN).stored
    replay.assert_done()
    return stored


def test_the_recordings_are_odoo_external_api_calls() -> None:
    """Every recorded exchange is a JSON-RPC call shaped as Odoo's External API documents."""
    for flow in _recordings()["flows"].values():
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
            if "raise" in exchange:
                continue
            answer = exchange["response"]["json"]
            assert answer["jsonrpc"] == "2.0" and answer["id"] == request["id"]
            assert "error" not in answer


def test_reserve_per_line_again_after_delivery_and_release_on_cancel(
    runtime: SyncRuntime, board: Switchboard
) -> None:
    put(runtime, "proforma", "pf-1", PROFORMA)

    # action_assign on the order's delivery: 3 of 3 pumps, 1 of 4 valves, no seals.
    push(runtime, board, "reserve", "proforma", "pf-1")
    assert state(runtime, "proforma", "pf-1") == ("synced", "sale.order,77", None)
    assert lines_of(runtime, "res-pf-1") == [
        ("p-1", "3", "reserved"),
        ("p-2", "1", "partly_reserved"),
        ("p-3", "0", "unavailable"),
    ]
    reservation = get(runtime, "reservation", "res-pf-1")
    assert getattr(reservation.data, "status", None) == "partial"
    assert reservation.external_id == "sale.order,77"

    # A later version of the approved pro-forma once everything has shipped: the
    # done delivery is not reserved again and its delivered moves count as held.
    put(runtime, "proforma", "pf-1", {**PROFORMA, "valid_until": "2026-12-31"})
    push(runtime, board, "reserve_after_delivery", "proforma", "pf-1")
    assert state(runtime, "proforma", "pf-1")[0] == "synced"
    assert lines_of(runtime, "res-pf-1") == [
        ("p-1", "3", "reserved"),
        ("p-2", "4", "reserved"),
        ("p-3", "2", "reserved"),
    ]

    # Cancelled: do_unreserve on the open delivery (Odoo answers it with no result).
    put(runtime, "proforma", "pf-1", {**PROFORMA, "status": "cancelled"})
    push(runtime, board, "release", "proforma", "pf-1")
    assert state(runtime, "proforma", "pf-1")[0] == "synced"
    assert status_of(runtime, "reservation", "res-pf-1") == "released"
    assert lines_of(runtime, "res-pf-1") == [
        ("p-1", "0", None),
        ("p-2", "0", None),
        ("p-3", "0", None),
    ]


def test_delivery_and_return_come_back_by_polling(runtime: SyncRuntime, board: Switchboard) -> None:
    # The confirmed order is bound to the pro-forma's sale order; nothing shipped yet.
    put(runtime, "order", "so-1", ORDER)
    push(runtime, board, "track", "order", "so-1")
    assert state(runtime, "order", "so-1") == ("synced", "sale.order,77", None)
    assert getattr(get(runtime, "order", "so-1").data, "delivery_state", None) is None

    # The delivery is validated in Odoo: the poll finds it and the order is delivered.
    assert poll(runtime, board, "poll_delivered") == 1
    apply_inbound(runtime)
    assert getattr(get(runtime, "order", "so-1").data, "delivery_state", None) == "delivered"

    # A return request goes through Odoo's return wizard on the done delivery.
    put(
        runtime,
        "return",
        "r-1",
        {
            "order_id": "so-1",
            "customer_id": "cust-1",
            "reason": "کالا آسیب دیده بود",
            "lines": [{"product_id": "p-1", "quantity": "1"}],
        },
    )
    replay = push(runtime, board, "return", "return", "r-1")
    assert state(runtime, "return", "r-1") == ("synced", "stock.picking,130", None)
    wizard_write = replay.exchanges[10]["request"]["params"]["args"]
    assert wizard_write[5][1] == {
        "product_return_moves": [
            [1, 31, {"quantity": 1}],
            [1, 32, {"quantity": 0}],
            [1, 33, {"quantity": 0}],
        ]
    }
    assert status_of(runtime, "return", "r-1") == "requested"

    # The return is received in Odoo; the delivery read again unchanged is not reported.
    assert poll(runtime, board, "poll_return_received") == 1
    apply_inbound(runtime)
    returned = get(runtime, "return", "r-1").data
    assert getattr(returned, "status", None) == "received"
    assert str(getattr(returned, "received_at", None)).startswith("2026-11-26 11:00:00")

    # Nothing changed since: nothing is stored or applied twice.
    replay = board.play("poll_unchanged")
    outcome = poll_once(runtime, PLUGIN)
    replay.assert_done()
    assert (outcome.stored, outcome.duplicates) == (0, 0)


def test_a_sale_not_confirmed_yet_is_retried(runtime: SyncRuntime, board: Switchboard) -> None:
    put(runtime, "proforma", "pf-1", PROFORMA)
    push(runtime, board, "not_confirmed", "proforma", "pf-1")
    row_state, _, error = state(runtime, "proforma", "pf-1")
    assert row_state == "failed" and "is sent, not confirmed" in (error or "")
    assert runtime.host.context(PLUGIN).store().get("reservation", "res-pf-1") is None


def test_waiting_for_finance_spends_no_attempts_and_says_so(
    runtime: SyncRuntime, board: Switchboard
) -> None:
    """A sale finance has not confirmed yet is waited for, however often: never dead."""
    put(runtime, "proforma", "pf-1", PROFORMA)
    now = datetime.now(UTC)
    for _ in range(5):
        runtime.host.context(PLUGIN).cache.clear()  # a new client logs in again
        push(runtime, board, "not_confirmed", "proforma", "pf-1", now=now)
        now += timedelta(hours=1)
    [row] = [r for r in sync_rows(runtime.engine, "proforma", "pf-1") if r.plugin == PLUGIN]
    assert (row.state, row.attempts, row.error_class) == ("failed", 0, "waiting-finance")
    assert (row.last_error or "").startswith("waiting on finance: Odoo sale order")
    with runtime.engine.connect() as connection:
        figures = current_figures(connection, OUT, now)
    assert figures[PLUGIN].states == {"waiting on finance": 1}
    assert figures[PLUGIN].depth == 1
    client = TestClient(create_app(runtime, background=False))
    answer = client.get(
        "/v1/proformas/pf-1/sync", headers={"Authorization": "Bearer reader-token-0123456789"}
    )
    [shown] = [p for p in answer.json()["plugins"] if p["plugin"] == PLUGIN]
    assert (shown["state"], shown["attempts"], shown["waiting_on"]) == ("failed", 0, "finance")


def test_odoo_down_is_transient_and_moves_no_cursor(
    runtime: SyncRuntime, board: Switchboard
) -> None:
    put(runtime, "proforma", "pf-1", PROFORMA)
    replay = board.play("down")
    runtime.sync.process(PLUGIN, [("proforma", "pf-1")])
    row_state, _, error = state(runtime, "proforma", "pf-1")
    assert row_state == "failed" and "cannot reach Odoo" in (error or "")
    assert runtime.host.context(PLUGIN).store().get("reservation", "res-pf-1") is None
    with pytest.raises(TransientError, match="cannot reach Odoo"):
        poll_once(runtime, PLUGIN)
    replay.assert_done()
    assert load_cursor(runtime.engine, PLUGIN) is None


#: Where a service case's parts go in Odoo: the picking type and the two locations.
PARTS_SETTINGS = {"odoo_parts_picking_type": 9, "odoo_parts_from": 8, "odoo_parts_to": 31}
#: A service case's parts as the CRM asks for them: 2 pumps and 4 valves.
PARTS: dict[str, Any] = {
    "service_case_id": "case-7",
    "lines": [
        {"product_id": "p-1", "quantity": "2"},
        {"product_id": "p-2", "quantity": "4"},
    ],
}


def test_service_parts_picked_reserved_per_line_and_cancelled(
    tmp_path: Path, board: Switchboard
) -> None:
    """A service case's parts go into an internal picking, created once.

    Odoo's answer is written onto the pushed reservation itself, a newer version bound
    as held by Odoo: each push passes over it twice and the second sends nothing.
    """
    runtime = runtime_with(tmp_path, board, **PARTS_SETTINGS)
    try:
        # An internal picking svc-rsv-7 is created, confirmed and reserved: 2 of 2 pumps,
        # 1 of 4 valves.
        put(runtime, "reservation", "rsv-7", PARTS)
        replay = push(runtime, board, "parts_reserve", "reservation", "rsv-7", passes=2)
        assert state(runtime, "reservation", "rsv-7") == ("synced", "stock.picking,140", None)
        create = replay.exchanges[4]["request"]["params"]["args"]
        assert create[3:5] == ["stock.picking", "create"]
        (values,) = create[5][0]
        assert (values["picking_type_id"], values["location_id"], values["location_dest_id"]) == (
            9,
            8,
            31,
        )
        assert values["origin"] == "svc-rsv-7"
        assert [move[2]["product_uom_qty"] for move in values["move_ids"]] == [2, 4]
        assert lines_of(runtime, "rsv-7") == [
            ("p-1", "2", "reserved"),
            ("p-2", "1", "partly_reserved"),
        ]
        assert status_of(runtime, "reservation", "rsv-7") == "partial"

        # The CRM changes the reservation once valves arrived: the same picking is found
        # by its origin and reserved again, nothing is created twice.
        later = {**PARTS, "expires_at": "2026-12-01T00:00:00+00:00"}
        put(runtime, "reservation", "rsv-7", later)
        replay = push(runtime, board, "parts_reserve_again", "reservation", "rsv-7", passes=2)
        assert lines_of(runtime, "rsv-7") == [("p-1", "2", "reserved"), ("p-2", "4", "reserved")]
        assert status_of(runtime, "reservation", "rsv-7") == "reserved"

        # Released: the open picking is cancelled (not only unreserved, which Odoo's
        # scheduler would undo), and the lines hold nothing.
        put(runtime, "reservation", "rsv-7", {**later, "status": "released"})
        replay = push(runtime, board, "parts_release", "reservation", "rsv-7", passes=2)
        assert state(runtime, "reservation", "rsv-7") == ("synced", "stock.picking,140", None)
        assert status_of(runtime, "reservation", "rsv-7") == "released"
        assert lines_of(runtime, "rsv-7") == [("p-1", "0", None), ("p-2", "0", None)]
    finally:
        runtime.close()


def test_service_parts_without_their_settings_fail_without_calling_odoo(
    runtime: SyncRuntime, board: Switchboard
) -> None:
    put(runtime, "reservation", "rsv-7", PARTS)
    runtime.sync.process(PLUGIN, [("reservation", "rsv-7")])
    row_state, _, error = state(runtime, "reservation", "rsv-7")
    assert row_state == "dead" and "odoo_parts_picking_type" in (error or "")
    assert status_of(runtime, "reservation", "rsv-7") == "requested"


def reservation_history(runtime: SyncRuntime, reservation_id: str) -> list[tuple[str, str]]:
    """(status, reported_at) of each reservation.status_changed event on its timeline."""
    return [
        (
            str(event.data["payload"]["changes"]["status"]),
            str(event.data["payload"]["changes"].get("reported_at")),
        )
        for event in timeline(runtime.engine, "reservation", reservation_id)
        if event.data["type"] == "reservation.status_changed"
    ]


def reported_at(runtime: SyncRuntime, reservation_id: str) -> str:
    """The reservation's status and the ERP time it was reported at."""
    data = get(runtime, "reservation", reservation_id).data
    return f"{getattr(data, 'status', None)} {getattr(data, 'reported_at', None)}"


def test_a_move_reserved_inside_an_assigned_delivery_makes_the_reservation_reserved(
    runtime: SyncRuntime, board: Switchboard
) -> None:
    put(runtime, "proforma", "pf-1", PROFORMA)
    push(runtime, board, "reserve", "proforma", "pf-1")
    assert status_of(runtime, "reservation", "res-pf-1") == "partial"

    # A cursor saved before moves were polled: the moves start at its pickings' time.
    old = {
        "pickings": PollCursor(write_date="2026-11-21 08:00:00").to_json(),
        "watch": {"expiring": {}, "returns": {}},
    }
    store_events(runtime.engine, PLUGIN, [], cursor=json.dumps(old), save_cursor=True)
    assert poll(runtime, board, "poll_old_cursor") == 1
    apply_inbound(runtime)
    assert reported_at(runtime, "res-pf-1") == "partial 2026-11-21 08:00:00+00:00"
    saved = json.loads(load_cursor(runtime.engine, PLUGIN) or "{}")
    assert json.loads(saved["moves"])["write_date"] == "2026-11-21 08:00:00"

    # The seals were made and the valves came in: Odoo reserved both moves inside the
    # delivery, which stays assigned with its write_date. The moves say so.
    assert poll(runtime, board, "poll_component_reserved") == 1
    apply_inbound(runtime)
    assert lines_of(runtime, "res-pf-1") == [
        ("p-1", "3", "reserved"),
        ("p-2", "4", "reserved"),
        ("p-3", "2", "reserved"),
    ]
    assert reported_at(runtime, "res-pf-1") == "reserved 2026-11-22 10:15:00+00:00"
    assert reservation_history(runtime, "res-pf-1")[-1] == ("reserved", "2026-11-22T10:15:00Z")


def test_a_re_reservation_by_odoo_after_a_release_is_reported(
    runtime: SyncRuntime, board: Switchboard
) -> None:
    put(runtime, "proforma", "pf-1", PROFORMA)
    push(runtime, board, "reserve", "proforma", "pf-1")
    put(runtime, "proforma", "pf-1", {**PROFORMA, "status": "cancelled"})
    push(runtime, board, "release_open", "proforma", "pf-1")
    assert status_of(runtime, "reservation", "res-pf-1") == "released"

    # Odoo holds nothing for the sale: the reservation stays released, nothing reported.
    assert poll(runtime, board, "poll_released") == 0
    assert reported_at(runtime, "res-pf-1") == "released None"

    # The scheduler reserved the delivery again: Odoo's state is the reservation's.
    assert poll(runtime, board, "poll_rereserved") == 1
    apply_inbound(runtime)
    assert reported_at(runtime, "res-pf-1") == "partial 2026-11-23 02:00:00+00:00"
    assert lines_of(runtime, "res-pf-1") == [
        ("p-1", "3", "reserved"),
        ("p-2", "1", "partly_reserved"),
        ("p-3", "0", "unavailable"),
    ]
    assert reservation_history(runtime, "res-pf-1")[-2:] == [
        ("released", "None"),
        ("partial", "2026-11-23T02:00:00Z"),
    ]

    # A report Odoo recorded before that one, arriving late, changes nothing.
    late = ReservationStatus(
        reservation_id="res-pf-1",
        status="unavailable",
        lines=[],
        reported_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    ).model_dump(mode="json")
    store_events(runtime.engine, PLUGIN, [InboundEvent("late-1", RESERVATION_STATUS, late)])
    version = get(runtime, "reservation", "res-pf-1").version
    apply_inbound(runtime)
    assert get(runtime, "reservation", "res-pf-1").version == version
    assert reported_at(runtime, "res-pf-1") == "partial 2026-11-23 02:00:00+00:00"
