"""The records facade plugins use: update, create, optimistic retries, bind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core import PermanentError
from core import records as records_module
from core.kinds import KINDS
from core.records import RecordAccess
from core.settings import Settings
from core.store import get_record, sync_rows, write_record
from core.sync.runtime import SyncRuntime
from tests.core.scripted_plugin import ScriptedPlugin

CUSTOMERS = KINDS["customers"]


@pytest.fixture
def runtime(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> SyncRuntime:
    return make_runtime(make_settings(), {"erp": ScriptedPlugin()})


@pytest.fixture
def access(runtime: SyncRuntime) -> RecordAccess:
    records = runtime.host.context("erp").records
    assert isinstance(records, RecordAccess)
    return records


def test_update_of_a_missing_record_is_permanent_unless_created(access: RecordAccess) -> None:
    with pytest.raises(PermanentError, match="no customer"):
        access.update("customer", "C-1", {"type": "person", "name": "نو"})
    assert access.update("customer", "C-1", {"type": "person", "name": "نو"}, create=True) == 1
    assert access.update("customer", "C-1", {"status": "inactive"}) == 2
    assert access.update("customer", "C-1", {"status": "inactive"}) == 2


def test_an_invalid_change_is_permanent_and_changes_nothing(
    access: RecordAccess, runtime: SyncRuntime
) -> None:
    access.update("customer", "C-1", {"type": "person", "name": "نو"}, create=True)
    with pytest.raises(PermanentError, match="status"):
        access.update("customer", "C-1", {"status": "sleeping"})
    stored = get_record(runtime.engine, CUSTOMERS, "C-1")
    assert stored is not None and stored.version == 1


def test_a_concurrent_write_is_merged_not_lost(
    access: RecordAccess, runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    access.update("customer", "C-1", {"type": "person", "name": "نو"}, create=True)
    real_get = records_module.get_record
    raced = []

    def get_then_race(*args: Any) -> Any:
        stored = real_get(*args)
        if not raced:
            raced.append(True)
            body = {"type": "person", "name": "نام از CRM"}
            write_record(
                runtime.engine,
                CUSTOMERS,
                "C-1",
                CUSTOMERS.schema.model_validate(body),
                subscribers=[],
            )
        return stored

    monkeypatch.setattr(records_module, "get_record", get_then_race)
    assert access.update("customer", "C-1", {"status": "blocked"}) == 3
    stored = get_record(runtime.engine, CUSTOMERS, "C-1")
    assert stored is not None
    assert (stored.data["name"], stored.data["status"]) == ("نام از CRM", "blocked")


def test_bind_records_a_dependency_created_by_a_push(
    access: RecordAccess, runtime: SyncRuntime
) -> None:
    access.update("customer", "C-1", {"type": "person", "name": "نو"}, create=True)
    [row] = sync_rows(runtime.engine, "customer", "C-1")
    assert row.state == "synced"
    access.bind("customer", "C-1", "PARTY-7", 1)
    [row] = sync_rows(runtime.engine, "customer", "C-1")
    assert (row.external_id, row.synced_version, row.state) == ("PARTY-7", 1, "synced")
    assert access.find_by_external_id("customer", "PARTY-7") == "C-1"
    assert access.external_id("customer", "C-1") == "PARTY-7"


def test_find_by_phone_matches_any_spelling_and_only_the_exact_number(
    runtime: SyncRuntime, access: RecordAccess
) -> None:
    for record_id, phones in (
        ("C-ir", ["0912 123 4567"]),
        ("C-us", ["+1 650 555 1234", "۰۹۳۵۱۱۱۲۲۳۳"]),
        ("C-none", []),
    ):
        body = {"type": "organization", "name": f"مشتری {record_id}", "phones": phones}
        write_record(
            runtime.engine,
            CUSTOMERS,
            record_id,
            CUSTOMERS.schema.model_validate(body),
            subscribers=[],
        )
    assert [r.id for r in access.find("customer", "phone", "+989121234567")] == ["C-ir"]
    assert [r.id for r in access.find("customer", "phone", "۰۹۱۲۱۲۳۴۵۶۷")] == ["C-ir"]
    assert [r.id for r in access.find("customer", "phone", "+16505551234")] == ["C-us"]
    assert [r.id for r in access.find("customer", "phone", "09351112233")] == ["C-us"]
    assert access.find("customer", "phone", "+16505551235") == []
    with pytest.raises(PermanentError, match="by phone"):
        access.find("customer", "phone", "not a number")
    with pytest.raises(PermanentError, match="by phone"):
        access.find("order", "phone", "+989121234567")


def test_a_plugin_s_attributes_are_checked_against_their_declarations(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    declared = {"lead": {"pages_viewed": {"type": "number"}}}
    runtime = make_runtime(make_settings(attributes=declared), {"erp": ScriptedPlugin()})
    access = runtime.host.context("erp").records
    assert isinstance(access, RecordAccess)
    body = {"source": "web", "attributes": {"pages_viewed": 3}}
    assert access.update("lead", "L-1", body, create=True) == 1
    with pytest.raises(PermanentError, match=r"attributes\.pages_viewed: expected a number"):
        access.update("lead", "L-1", {"attributes": {"pages_viewed": "three"}})
    with pytest.raises(PermanentError, match=r"attributes\.colour: not declared for lead"):
        access.update(
            "lead", "L-2", {"source": "web", "attributes": {"colour": "red"}}, create=True
        )
    stored = get_record(runtime.engine, KINDS["leads"], "L-1")
    assert stored is not None and stored.version == 1
    assert get_record(runtime.engine, KINDS["leads"], "L-2") is None


def _customers(access: RecordAccess, *ids: str) -> None:
    """Create one person customer per id through the facade."""
    for record_id in ids:
        access.update("customer", record_id, {"type": "person", "name": record_id}, create=True)


def test_get_many_reads_the_records_that_exist_with_this_plugins_external_ids(
    access: RecordAccess,
) -> None:
    _customers(access, "C-1", "C-2")
    access.bind("customer", "C-2", "PARTY-2", 1)
    found = access.get_many("customer", ["C-2", "C-1", "C-404", "C-1"])
    assert sorted(found) == ["C-1", "C-2"]
    assert (found["C-1"].external_id, found["C-2"].external_id) == (None, "PARTY-2")
    assert found["C-2"].data.name == "C-2"
    assert access.get_many("customer", []) == {}


def test_update_many_writes_every_change_and_leaves_identical_ones_alone(
    access: RecordAccess, runtime: SyncRuntime
) -> None:
    _customers(access, "C-1", "C-2", "C-3")
    versions = access.update_many(
        "customer",
        {"C-1": {"status": "inactive"}, "C-2": {"name": "نام تازه"}, "C-3": {"name": "C-3"}},
    )
    assert versions == {"C-1": 2, "C-2": 2, "C-3": 1}
    one, two = (get_record(runtime.engine, CUSTOMERS, rid) for rid in ("C-1", "C-2"))
    assert one is not None and (one.version, one.data["status"]) == (2, "inactive")
    assert two is not None and (two.version, two.data["name"]) == (2, "نام تازه")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"C-1": {"status": "inactive"}, "C-404": {"status": "inactive"}}, "no customer"),
        (
            {"C-1": {"status": "inactive"}, "C-2": {"status": "sleeping"}},
            "customer C-2: (?s:.*)status",
        ),
    ],
    ids=["missing record", "bad value"],
)
def test_update_many_with_one_bad_change_is_permanent_and_writes_none(
    access: RecordAccess, runtime: SyncRuntime, changes: dict[str, Any], message: str
) -> None:
    _customers(access, "C-1", "C-2")
    with pytest.raises(PermanentError, match=message):
        access.update_many("customer", changes)
    for record_id in ("C-1", "C-2"):
        stored = get_record(runtime.engine, CUSTOMERS, record_id)
        assert stored is not None and stored.version == 1


def test_update_many_merges_again_a_record_changed_between_its_read_and_write(
    access: RecordAccess, runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _customers(access, "C-1", "C-2")
    real_list = records_module.list_records
    raced = []

    def list_then_race(*args: Any, **kwargs: Any) -> Any:
        stored = real_list(*args, **kwargs)
        if not raced:
            raced.append(True)
            body = {"type": "person", "name": "نام از CRM"}
            model = CUSTOMERS.schema.model_validate(body)
            write_record(runtime.engine, CUSTOMERS, "C-1", model, subscribers=[])
        return stored

    monkeypatch.setattr(records_module, "list_records", list_then_race)
    versions = access.update_many(
        "customer", {"C-1": {"status": "blocked"}, "C-2": {"status": "blocked"}}
    )
    assert versions == {"C-1": 3, "C-2": 2}
    stored = get_record(runtime.engine, CUSTOMERS, "C-1")
    assert stored is not None
    assert (stored.data["name"], stored.data["status"]) == ("نام از CRM", "blocked")
