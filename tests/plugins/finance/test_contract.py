"""The finance plugin honours the sync contract with its webhook backend.

The records are linked as in real use: a customer, two products and a pro-forma that
needs them (the Tryton backend runs the same contract in test_tryton.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from core.testing.contract import ContractTarget, PluginContract
from core.testing.receiver import Receiver
from tests.e2e.harness import free_port
from tests.plugins.finance.conftest import linked_records

#: An invoice status the finance system sends back (a valid webhook body).
INVOICE_STATUS: dict[str, Any] = {
    "type": "invoice_status",
    "proforma_id": "pf-1",
    "invoice_number": "INV-1403-0042",
    "invoice_state": "posted",
    "payment_state": "partly_paid",
    "amount_paid": "20000000",
    "invoice_total": "44699998",
    "occurred_at": "2024-03-25T10:00:00+03:30",
}


class TestFinanceWebhookContract(PluginContract):
    plugin_name = "finance"

    def records(self, subscriptions: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
        assert set(subscriptions) == {"customer", "product", "proforma"}
        return linked_records()

    @pytest.fixture
    def target(self, receiver: Receiver, webhook_secret: str) -> ContractTarget:
        return ContractTarget(
            settings={"url": receiver.url, "secret": webhook_secret},
            received=receiver.versions,
            unreachable_settings={
                "url": f"http://127.0.0.1:{free_port()}/",
                "secret": webhook_secret,
            },
            receiver=receiver,
            webhook_body=INVOICE_STATUS,
        )


class TestFinanceWebhookBatchContract(TestFinanceWebhookContract):
    @pytest.fixture
    def target(self, receiver: Receiver, webhook_secret: str) -> ContractTarget:
        return ContractTarget(
            settings={"url": receiver.url, "secret": webhook_secret, "batch": True},
            received=receiver.versions,
            receiver=receiver,
            webhook_body=INVOICE_STATUS,
        )
