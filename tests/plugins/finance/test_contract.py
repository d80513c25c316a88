"""The finance plugin honours the sync contract with its webhook backend."""

from __future__ import annotations

import pytest

from core.testing.contract import ContractTarget, PluginContract
from core.testing.receiver import Receiver
from tests.e2e.harness import free_port


class TestFinanceWebhookContract(PluginContract):
    plugin_name = "finance"

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
