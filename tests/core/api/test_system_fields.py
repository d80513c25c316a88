"""A CRM update does not erase what other systems wrote back (invoice numbers, scores)."""

from __future__ import annotations

from typing import Any

import pytest

from core import store
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import READER, WRITER, TestClient, sample


def test_a_put_keeps_system_fields_it_leaves_out_and_sets_those_it_names(
    client: TestClient, runtime: SyncRuntime
) -> None:
    body = sample("proformas")
    assert client.put("/v1/proformas/PF-1", json=body, headers=WRITER).status_code == 201
    erp = runtime.host.context("scripted").store()
    erp.update("proforma", "PF-1", {"invoice_number": "INV-77", "payment_state": "paid"})
    changed = client.put("/v1/proformas/PF-1", json={**body, "status": "approved"}, headers=WRITER)
    assert changed.status_code == 200
    data = client.get("/v1/proformas/PF-1", headers=READER).json()["data"]
    assert (data["status"], data["invoice_number"], data["payment_state"]) == (
        "approved",
        "INV-77",
        "paid",
    )
    cleared = client.put(
        "/v1/proformas/PF-1",
        json={**body, "status": "approved", "invoice_number": None},
        headers=WRITER,
    )
    assert cleared.json()["data"]["invoice_number"] is None
    assert cleared.json()["data"]["payment_state"] == "paid"


def test_an_unchanged_put_stays_unchanged_with_system_fields_stored(
    client: TestClient, runtime: SyncRuntime
) -> None:
    body = sample("proformas")
    client.put("/v1/proformas/PF-1", json=body, headers=WRITER)
    runtime.host.context("scripted").store().update("proforma", "PF-1", {"invoice_number": "INV-1"})
    again = client.put("/v1/proformas/PF-1", json=body, headers=WRITER).json()
    assert (again["changed"], again["version"]) == (False, 2)


def test_a_system_field_written_while_a_put_is_applied_is_kept(
    client: TestClient, runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = sample("proformas")
    client.put("/v1/proformas/PF-1", json=body, headers=WRITER)
    erp = runtime.host.context("scripted").store()
    read = store.get_record
    raced: list[int] = []

    def read_then_erp_writes(*args: Any, **kwargs: Any) -> Any:
        stored = read(*args, **kwargs)
        if not raced:  # the ERP's invoice number lands between the PUT's read and write
            raced.append(erp.update("proforma", "PF-1", {"invoice_number": "INV-9"}))
        return stored

    monkeypatch.setattr(store, "get_record", read_then_erp_writes)
    changed = client.put("/v1/proformas/PF-1", json={**body, "status": "approved"}, headers=WRITER)
    assert changed.status_code == 200 and raced == [2]
    data = changed.json()["data"]
    assert (data["status"], data["invoice_number"]) == ("approved", "INV-9")
