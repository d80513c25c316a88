"""Manufacturing orders in Odoo, replayed from recordings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from erp.odoo.polling import PollCursor
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


@pytest.mark.parametrize("flow", ["productions_v16", "productions_v18"])
def test_productions_of_a_sale_order(flow: str) -> None:
    with recorded("productions.json", flow) as odoo:
        first, second = odoo.manufacturing.productions_of("S00077")
    assert (first.name, first.origin, first.product_id) == ("WH/MO/00012", "S00077", 101)
    assert first.date_start == dt.datetime(2024, 5, 10, 7, 0, tzinfo=UTC)
    assert first.date_deadline == dt.datetime(2024, 5, 22, 0, 0, tzinfo=UTC)
    assert second.date_deadline is None
    if flow == "productions_v16":
        assert (first.state, first.progress) == ("progress", Decimal("0.4"))
        assert first.date_finished == dt.datetime(2024, 5, 20, 15, 0, tzinfo=UTC)
    else:
        assert (first.state, first.progress) == ("done", Decimal(1))
        assert first.date_finished == dt.datetime(2024, 5, 19, 11, 42, tzinfo=UTC)


def test_poll_productions() -> None:
    with recorded("polling.json", "poll_productions") as odoo:
        changes = odoo.manufacturing.poll_productions(PollCursor())
    (production,) = changes.items
    assert (production.name, production.progress) == ("WH/MO/00012", Decimal("0.4"))
    assert changes.cursor.write_date == "2024-05-15 12:00:00"
