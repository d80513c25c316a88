"""The store: versions, digests, stored documents and outbox rows in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update

from core.db.records import CustomerRow
from core.db.sync_tables import SyncState
from core.db.types import utcnow
from core.kinds import KINDS
from core.schemas.base import CanonicalModel
from core.settings import Settings
from core.store import (
    RecordUpdate,
    canonical_document,
    count_records,
    get_record,
    list_records,
    sync_rows,
    update_records_in,
    write_record,
)
from core.sync.runtime import SyncRuntime

CUSTOMERS = KINDS["customers"]
PROFORMAS = KINDS["proformas"]

CUSTOMER: dict[str, Any] = {
    "type": "organization",
    "name": "شرکت نمونه",
    "phones": ["۰۲۱ ۸۸۸۸ ۱۲۳۴"],
    "addresses": [{"line1": "خیابان آزادی", "city": "تهران", "country": "IR"}],
}
PROFORMA: dict[str, Any] = {
    "customer_id": "C-1",
    "number": "PF-1",
    "issue_date": "2024-03-20",
    "lines": [{"product_id": "P-1", "quantity": "3", "unit_price": "1000", "discount": "500"}],
}


@pytest.fixture
def engine(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> Engine:
    return make_runtime(make_settings()).engine


def customer(**changes: Any) -> CanonicalModel:
    return CUSTOMERS.schema.model_validate({**CUSTOMER, **changes})


def write(engine: Engine, record_id: str, model: CanonicalModel, *plugins: str) -> Any:
    return write_record(engine, CUSTOMERS, record_id, model, subscribers=plugins)


def rows(engine: Engine, record_id: str = "C-1") -> dict[str, SyncState]:
    return {row.plugin: row for row in sync_rows(engine, "customer", record_id)}


def test_a_new_record_is_version_1_and_every_real_change_adds_one(engine: Engine) -> None:
    created = write(engine, "C-1", customer())
    assert (created.created, created.changed, created.record.version) == (True, True, 1)
    changed = write(engine, "C-1", customer(name="نام دوم"))
    assert (changed.created, changed.changed, changed.record.version) == (False, True, 2)
    assert changed.record.created_at == created.record.created_at
    back = write(engine, "C-1", customer())
    assert (back.changed, back.record.version) == (True, 3)
    stored = get_record(engine, CUSTOMERS, "C-1")
    assert stored is not None
    assert (stored.version, stored.data["name"]) == (3, "شرکت نمونه")


def test_an_identical_write_changes_nothing(engine: Engine) -> None:
    first = write(engine, "C-1", customer(), "erp")
    later = utcnow() + timedelta(hours=1)
    same = write_record(engine, CUSTOMERS, "C-1", customer(), subscribers=["erp"], now=later)
    assert (same.created, same.changed, same.subscribers) == (False, False, ())
    assert same.record.version == 1
    assert same.record.updated_at == first.record.updated_at
    assert rows(engine)["erp"].updated_at == first.record.updated_at


def test_the_digest_ignores_key_order() -> None:
    reordered = {
        "addresses": [{"country": "IR", "city": "تهران", "line1": "خیابان آزادی"}],
        "phones": CUSTOMER["phones"],
        "name": CUSTOMER["name"],
        "type": CUSTOMER["type"],
    }
    data, digest = canonical_document(customer())
    again, same = canonical_document(CUSTOMERS.schema.model_validate(reordered))
    assert data == again
    assert digest == same
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest == hashlib.sha256(encoded.encode()).hexdigest()
    _, other = canonical_document(customer(name="شرکت نمونه "))
    assert other != digest


def test_a_reordered_body_is_not_a_new_version(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp")
    reordered = CUSTOMERS.schema.model_validate(dict(reversed(list(CUSTOMER.items()))))
    assert write(engine, "C-1", reordered, "erp").changed is False


def test_computed_fields_are_not_stored(engine: Engine) -> None:
    model = PROFORMAS.schema.model_validate(PROFORMA)
    write_record(engine, PROFORMAS, "PF-1", model, subscribers=[])
    table = PROFORMAS.table
    with engine.connect() as connection:
        data = connection.execute(select(table.data).where(table.id == "PF-1")).scalar_one()
    assert not {"subtotal", "discount_total", "tax_total", "total"} & set(data)
    assert not {"gross", "net", "total"} & set(data["lines"][0])
    stored = get_record(engine, PROFORMAS, "PF-1")
    assert stored is not None
    loaded = stored.model().model_dump(mode="json")
    assert (loaded["subtotal"], loaded["total"], loaded["lines"][0]["net"]) == (
        "3000",
        "2500",
        "2500",
    )


def test_the_lookup_columns_follow_the_document(engine: Engine) -> None:
    write(engine, "C-1", customer(status="prospect"))
    write(engine, "C-1", customer(status="blocked", name="نام تازه"))
    with engine.connect() as connection:
        row = connection.execute(
            select(CustomerRow.name, CustomerRow.status, CustomerRow.search).where(
                CustomerRow.id == "C-1"
            )
        ).one()
    assert (row.name, row.status) == ("نام تازه", "blocked")
    assert "+982188881234" in row.search


def test_one_outbox_row_per_subscriber(engine: Engine) -> None:
    result = write(engine, "C-1", customer(), "erp", "shop")
    assert result.subscribers == ("erp", "shop")
    queued = rows(engine)
    assert set(queued) == {"erp", "shop"}
    for row in queued.values():
        assert (row.kind, row.state, row.wanted_version, row.synced_version, row.attempts) == (
            "customer",
            "pending",
            1,
            None,
            0,
        )
        assert row.due_at == result.record.updated_at
    assert write(engine, "C-2", customer()).subscribers == ()
    assert rows(engine, "C-2") == {}


def test_a_change_raises_the_wanted_version_and_makes_the_row_pending_again(
    engine: Engine,
) -> None:
    write(engine, "C-1", customer(), "erp")
    with engine.begin() as connection:
        connection.execute(
            update(SyncState).values(
                state="dead", attempts=4, synced_version=1, external_id="ERP-1", last_error="x"
            )
        )
    write(engine, "C-1", customer(name="نام دوم"), "erp")
    row = rows(engine)["erp"]
    assert (row.state, row.wanted_version, row.attempts) == ("pending", 2, 0)
    assert (row.synced_version, row.external_id) == (1, "ERP-1")


def test_the_outbox_keeps_the_highest_wanted_version(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp")
    with engine.begin() as connection:
        connection.execute(update(SyncState).values(wanted_version=10))
    result = write(engine, "C-1", customer(name="نام دوم"), "erp")
    assert result.record.version == 2
    assert rows(engine)["erp"].wanted_version == 10


def test_a_new_subscriber_gets_a_row_on_the_next_change(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp")
    write(engine, "C-1", customer(name="نام دوم"), "erp", "shop")
    queued = rows(engine)
    assert {name: row.wanted_version for name, row in queued.items()} == {"erp": 2, "shop": 2}


def test_a_failed_write_leaves_nothing_behind(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp")
    with pytest.raises(TypeError):
        write_record(
            engine, CUSTOMERS, "C-1", PROFORMAS.schema.model_validate(PROFORMA), subscribers=["x"]
        )
    stored = get_record(engine, CUSTOMERS, "C-1")
    assert stored is not None and stored.version == 1
    assert set(rows(engine)) == {"erp"}


def test_get_list_and_count(engine: Engine) -> None:
    assert get_record(engine, CUSTOMERS, "C-1") is None
    for record_id in ("C-3", "C-1", "C-2"):
        write(engine, record_id, customer())
    assert count_records(engine, CUSTOMERS) == 3
    assert count_records(engine, PROFORMAS) == 0
    page = list_records(engine, CUSTOMERS, after=None, limit=2)
    assert [record.id for record in page] == ["C-1", "C-2"]
    rest = list_records(engine, CUSTOMERS, after="C-2", limit=2)
    assert [record.id for record in rest] == ["C-3"]
    blocked = list_records(
        engine, CUSTOMERS, after=None, limit=10, filters=[CUSTOMERS.table.id != "C-2"]
    )
    assert [record.id for record in blocked] == ["C-1", "C-3"]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
) -> Engine:
    """The store on the embedded SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return make_runtime(make_settings()).engine
    url = request.getfixturevalue("postgres_url")
    return make_runtime(make_settings(database_url=url)).engine


def test_many_write_backs_skip_records_that_moved_on(any_engine: Engine) -> None:
    engine = any_engine
    for number in range(4):
        write(engine, f"C-{number}", customer(), "erp", "shop")
    write(engine, "C-2", customer(name="نام از CRM"), "erp", "shop")  # moved on to version 2
    updates = [
        RecordUpdate(f"C-{number}", customer(name=f"نام {number}"), 1, f"ERP-{number}")
        for number in range(4)
    ] + [RecordUpdate("C-9", customer(name="نام"), 1, "ERP-9")]  # never stored
    with engine.begin() as connection:
        written = update_records_in(
            connection, CUSTOMERS, updates, subscribers=["erp", "shop"], origin="erp",
            now=utcnow(),
        )  # fmt: skip
    assert written == {"C-0": 2, "C-1": 2, "C-3": 2}
    for number in (0, 1, 3):
        stored = get_record(engine, CUSTOMERS, f"C-{number}")
        assert stored is not None and stored.data["name"] == f"نام {number}"
        queued = rows(engine, f"C-{number}")
        erp, shop = queued["erp"], queued["shop"]
        assert (erp.state, erp.synced_version, erp.external_id) == ("synced", 2, f"ERP-{number}")
        assert (shop.state, shop.wanted_version) == ("pending", 2)
    moved = get_record(engine, CUSTOMERS, "C-2")
    assert moved is not None and moved.data["name"] == "نام از CRM"
    assert rows(engine, "C-2")["erp"].external_id is None
    assert get_record(engine, CUSTOMERS, "C-9") is None


def test_many_write_backs_that_all_land_answer_without_reading_back(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.begin() as connection:
            written = update_records_in(
                connection, CUSTOMERS, [RecordUpdate("C-1", customer(name="نو"), 1, "ERP-1")],
                subscribers=["erp"], origin="erp", now=utcnow(),
            )  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert written == {"C-1": 2}
    assert "SELECT" not in statements  # every row landed: nothing read back
    row = rows(engine)["erp"]
    assert (row.state, row.wanted_version, row.synced_version) == ("synced", 2, 2)


def test_a_write_from_a_plugin_whose_target_was_behind_still_goes_to_it(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp")
    write(engine, "C-1", customer(name="دوم"), "erp")  # erp never got version 1 or 2
    write_record(
        engine,
        CUSTOMERS,
        "C-1",
        customer(name="سوم از erp"),
        subscribers=["erp"],
        origin="erp",
    )
    row = rows(engine)["erp"]
    assert (row.state, row.wanted_version, row.synced_version) == ("pending", 3, None)


def test_a_write_from_a_plugin_whose_target_was_current_is_not_echoed(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp")
    with engine.begin() as connection:
        connection.execute(update(SyncState).values(state="synced", synced_version=1))
    write_record(
        engine, CUSTOMERS, "C-1", customer(name="از erp"), subscribers=["erp"], origin="erp"
    )
    row = rows(engine)["erp"]
    assert (row.state, row.wanted_version, row.synced_version) == ("synced", 2, 2)


def from_erp(engine: Engine, name: str) -> Any:
    """A write the erp plugin makes of C-1 (shop subscribes too)."""
    return write_record(
        engine, CUSTOMERS, "C-1", customer(name=name), subscribers=["erp", "shop"], origin="erp"
    )


def test_a_plugin_writing_the_record_it_is_pushing_queues_nothing_back_to_itself(
    engine: Engine,
) -> None:
    write(engine, "C-1", customer(), "erp", "shop")
    write(engine, "C-1", customer(name="دوم"), "erp", "shop")
    lease = utcnow() + timedelta(minutes=1)
    with engine.begin() as connection:  # erp's worker claimed version 2
        connection.execute(
            update(SyncState).where(SyncState.plugin == "erp").values(lease_until=lease)
        )
    written = from_erp(engine, "پاسخ erp حین ارسال")
    assert written.subscribers == ("shop",), "only the other subscriber is queued"
    erp, shop = rows(engine)["erp"], rows(engine)["shop"]
    assert (erp.state, erp.wanted_version, erp.synced_version) == ("pending", 2, None)
    assert (shop.state, shop.wanted_version) == ("pending", 3)


def test_a_plugin_write_after_its_lease_ran_out_is_queued_to_it(engine: Engine) -> None:
    write(engine, "C-1", customer(), "erp", "shop")
    write(engine, "C-1", customer(name="دوم"), "erp", "shop")
    with engine.begin() as connection:  # a worker that died holding version 2
        connection.execute(
            update(SyncState)
            .where(SyncState.plugin == "erp")
            .values(state="failed", lease_until=utcnow() - timedelta(seconds=1))
        )
    assert from_erp(engine, "از erp").subscribers == ("erp", "shop")
    erp = rows(engine)["erp"]
    assert (erp.state, erp.wanted_version, erp.synced_version) == ("pending", 3, None)


def test_a_plugin_write_onto_a_synced_delivery_that_lags_the_record_is_bound(
    engine: Engine,
) -> None:
    """Synced at version 1 while the record is at 2 (a write made during its push)."""
    write(engine, "C-1", customer(), "erp")
    write(engine, "C-1", customer(name="دوم"))
    with engine.begin() as connection:
        connection.execute(update(SyncState).values(state="synced", synced_version=1))
    assert from_erp(engine, "سوم از erp").subscribers == ("shop",)
    erp = rows(engine)["erp"]
    assert (erp.state, erp.wanted_version, erp.synced_version) == ("synced", 3, 3)
