"""The promise rule and the records lookup it relies on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from core.errors import PermanentError
from core.plugin_types import InboundEvent
from core.schemas.sales import ProductionStatus
from core.sync.runtime import SyncRuntime
from plugins.production.mapping import promised_date, report_from_event


def status(eta: str | None, stage: str = "running") -> ProductionStatus:
    return ProductionStatus(
        order_id="so-1",
        work_order="WO",
        stage=stage,
        eta=dt.date.fromisoformat(eta) if eta else None,
    )


def test_the_promise_is_the_latest_eta_not_cancelled() -> None:
    assert promised_date([status("2030-01-05"), status("2030-01-09"), status(None)]) == dt.date(
        2030, 1, 9
    )
    assert promised_date([status("2030-01-05"), status("2030-02-01", "cancelled")]) == dt.date(
        2030, 1, 5
    )
    assert promised_date([status(None), status("2030-02-01", "cancelled")]) is None


def test_a_malformed_or_foreign_event_is_permanent() -> None:
    with pytest.raises(PermanentError, match="progress"):
        report_from_event(
            InboundEvent(
                "e",
                "production_status",
                {
                    "status_id": "w",
                    "order_id": "o",
                    "work_order": "w",
                    "stage": "s",
                    "progress": 900,
                },
            )
        )
    with pytest.raises(PermanentError, match="does not apply"):
        report_from_event(InboundEvent("e", "invoice", {}))


def test_records_are_found_only_by_lookup_columns(
    make_production: Callable[..., SyncRuntime],
) -> None:
    records = make_production({}).host.context("production").store()
    assert records.find("production_status", "order_id", "so-1") == []
    with pytest.raises(PermanentError, match="cannot be looked up by 'data'"):
        records.find("production_status", "data", "x")
    with pytest.raises(PermanentError, match="cannot be looked up by 'colour'"):
        records.find("order", "colour", "red")
