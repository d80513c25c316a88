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
        )


class TestFinanceWebhookBatchContract(TestFinanceWebhookContract):
    @pytest.fixture
    def target(self, receiver: Receiver, webhook_secret: str) -> ContractTarget:
        return ContractTarget(
            settings={"url": receiver.url, "secret": webhook_secret, "batch": True},
            received=receiver.versions,
        )
