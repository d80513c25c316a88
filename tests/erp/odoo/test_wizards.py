"""Buttons answered with a wizard by a live Odoo 17, replayed: crm-sync answers or refuses."""

from __future__ import annotations

import pytest

from core.errors import PermanentError
from erp.odoo.wizards import press, wizard_of
from tests.erp.odoo.replay import recorded


def test_validating_a_delivery_answers_the_sms_wizard() -> None:
    with recorded("wizards.json", "button_validate_sms_v17") as odoo:
        assert press(odoo.client, "stock.picking", "button_validate", [1]) is True
        [picking] = odoo.client.read("stock.picking", [1], ["state"])
    assert picking["state"] == "done"


def test_marking_a_production_done_answers_the_consumption_warning() -> None:
    with recorded("wizards.json", "button_mark_done_consumption_v17") as odoo:
        assert press(odoo.client, "mrp.production", "button_mark_done", [1]) is True
        [production] = odoo.client.read("mrp.production", [1], ["state", "qty_produced"])
    assert (production["state"], production["qty_produced"]) == ("done", 1.0)


def test_a_wizard_crm_sync_does_not_answer_is_an_error_naming_it() -> None:
    with (
        recorded("wizards.json", "unknown_wizard_v17") as odoo,
        pytest.raises(PermanentError, match=r"stock\.backorder\.confirmation wizard"),
    ):
        press(odoo.client, "stock.picking", "button_validate", [1])


@pytest.mark.parametrize(
    ("answer", "wizard"),
    [
        (True, None),
        (None, None),
        ({"type": "ir.actions.act_window", "target": "current", "res_model": "x"}, None),
        ({"type": "ir.actions.act_window", "target": "new", "res_model": "a.b"}, "a.b"),
        ({"type": "ir.actions.client", "target": "new", "res_model": "a.b"}, None),
    ],
)
def test_what_counts_as_a_wizard(answer: object, wizard: str | None) -> None:
    assert wizard_of(answer) == wizard
