"""The production plugin against the reusable plugin contract.

Production is inbound only: it subscribes to no canonical records and pushes nothing,
so the contract tests about subscriptions, mapping and pushes do not apply; each is
overridden below with the reason, and with a check of what holds instead. Settings,
idleness and health run as inherited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import TransientError
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import poll_once
from core.testing.contract import ContractTarget, PluginContract

#: A work order's status as the ERP sends it (a valid webhook body).
WORK_ORDER_STATUS: dict[str, Any] = {
    "type": "work_order_status",
    "id": "wo-77",
    "version": 3,
    "occurred_at": "2024-03-25T10:00:00+03:30",
    "idempotency_key": "erp-wo-77-3",
    "data": {"order_id": "SO-1", "work_order": "WO-۷۷", "stage": "مونتاژ", "progress": 45},
}


class TestProductionWebhookContract(PluginContract):
    plugin_name = "production"

    @pytest.fixture
    def target(self, webhook_secret: str) -> ContractTarget:
        return ContractTarget(
            settings={"secret": webhook_secret},
            received=lambda t, i: [],
            webhook_body=WORK_ORDER_STATUS,
        )

    def test_describes_known_subscriptions(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Inbound only: a configured plugin has a target, takes webhooks, subscribes to nothing."""
        description = make(target.settings).host.description(self.plugin_name)
        assert description.target
        assert description.subscriptions == ()
        assert description.accepts_webhooks

    def test_maps_every_subscribed_record_to_json(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Not applicable: with no subscriptions nothing is ever mapped."""
        runtime = make(target.settings)
        assert runtime.host.subscribers("order") == []
        assert runtime.host.subscribers("production_status") == []

    def test_each_version_reaches_the_target_once(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Not applicable: nothing is pushed; the webhook tests prove events apply once."""
        runtime = make(target.settings)
        assert runtime.sync.process(self.plugin_name, []).pushed == 0

    def test_an_unreachable_target_is_a_transient_failure(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Not applicable: the ERP calls crm-sync, there is no target that can be down."""
        assert make(target.settings).host.health(self.plugin_name).ok


class TestProductionTrytonContract(TestProductionWebhookContract):
    @pytest.fixture
    def target(self) -> ContractTarget:
        tryton = {"url": "http://127.0.0.1:9", "database": "erp", "username": "a", "password": "b"}
        return ContractTarget(
            settings={"backend": "tryton", "tryton": tryton},
            received=lambda t, i: [],
            unreachable_settings={"backend": "tryton", "tryton": tryton},
        )

    def test_describes_known_subscriptions(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """Inbound only: a configured Tryton backend is polled and subscribes to nothing."""
        description = make(target.settings).host.description(self.plugin_name)
        assert description.target and description.subscriptions == ()
        assert description.poll_interval == 60.0 and not description.accepts_webhooks

    def test_an_unreachable_target_is_a_transient_failure(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """A Tryton that is down makes the poll fail transiently (no push to fail)."""
        assert target.unreachable_settings is not None
        with pytest.raises(TransientError):
            poll_once(make(target.unreachable_settings), self.plugin_name)

    def test_health_check_answers(
        self, make: Callable[..., SyncRuntime], target: ContractTarget
    ) -> None:
        """The health check never raises on a Tryton that is down (the real one: test_tryton)."""
        assert target.unreachable_settings is not None
        report = make(target.unreachable_settings).host.health(self.plugin_name)
        assert not report.ok and "tryton" in report.detail
