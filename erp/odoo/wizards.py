"""Form buttons whose answer may be a wizard, and the answers crm-sync gives them.

A real Odoo 17 answers some buttons with a window action instead of doing the step:
``stock.picking.button_validate`` asks through ``confirm.stock.sms``
(``addons/stock_sms/models/stock_picking.py``: a wizard record with ``res_id`` whose
``dont_send_sms`` validates the pickings again without texting the customer), and
``mrp.production.button_mark_done`` through ``mrp.consumption.warning``
(``addons/mrp/models/mrp_production.py`` ``_action_generate_consumption_wizard``: no
record yet, its values are ``default_*`` keys of the action's context; ``action_confirm``
marks the orders done with the consumption as recorded). :func:`press` presses a button,
answers the wizards it knows and presses on until Odoo answers something else; a wizard
it does not know is a ``PermanentError`` naming it, never a step taken for done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import PermanentError
from erp.odoo.client import OdooClient

#: The method crm-sync calls on each wizard it answers.
ANSWERS: Mapping[str, str] = {
    "confirm.stock.sms": "dont_send_sms",
    "mrp.consumption.warning": "action_confirm",
}

#: How many wizards one button may chain before crm-sync stops (a loop would be a bug).
MAX_WIZARDS = 4


def wizard_of(answer: Any) -> str | None:
    """The wizard model an answer opens (a window action with ``target`` new), else None."""
    if not isinstance(answer, Mapping):
        return None
    if answer.get("type") != "ir.actions.act_window" or answer.get("target") != "new":
        return None
    model = answer.get("res_model")
    return str(model) if model else None


def press(
    client: OdooClient,
    model: str,
    button: str,
    ids: Sequence[int],
    *,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Press ``button`` on ``ids`` and answer the wizards it opens; return Odoo's last answer."""
    answer = client.call(model, button, ids, context=context)
    for _ in range(MAX_WIZARDS):
        wizard = wizard_of(answer)
        if wizard is None:
            return answer
        method = ANSWERS.get(wizard)
        if method is None:
            raise PermanentError(
                f"Odoo answered {model}.{button} with the {wizard} wizard, which crm-sync "
                "does not answer: finish the step in Odoo"
            )
        wizard_context = dict(answer.get("context") or {})
        wizard_id = answer.get("res_id")
        if not wizard_id:
            (wizard_id,) = client.create(wizard, [{}], context=wizard_context)
        answer = client.call(wizard, method, [int(wizard_id)], context=wizard_context)
    raise PermanentError(
        f"Odoo kept answering {model}.{button} with wizards ({MAX_WIZARDS} answered): "
        "finish the step in Odoo"
    )


__all__ = ["ANSWERS", "MAX_WIZARDS", "press", "wizard_of"]
