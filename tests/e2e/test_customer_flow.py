"""A customer written through the API reaches the finance system, signed, in every run mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.testing.receiver import Receiver
from tests.e2e.conftest import MODES
from tests.e2e.harness import Deployment, wait_until

pytestmark = pytest.mark.slow

CUSTOMER = {
    "type": "organization",
    "name": "شركت نمونه‌ی يكم",
    "national_id": "10101010103",
    "phones": ["۰۲۱-۸۸۸۸-۱۲۳۴", "+98 912 123 4567"],
    "emails": ["info@example.ir"],
    "addresses": [
        {"line1": "خیابان ولیعصر، پلاک ۱۲", "city": "تهران", "postal_code": "۱۲۳۴۵۶۷۸۹۰"}
    ],
}


@pytest.mark.parametrize("mode", MODES)
def test_customer_flow_end_to_end(
    mode: str, start_deployment: Callable[..., Deployment], receiver: Receiver
) -> None:
    deployment = start_deployment(mode)
    created = deployment.put("customers", "C-1001", CUSTOMER)
    assert created.status_code == 201, created.text
    [delivery] = receiver.wait_for_deliveries(1, timeout=30)
    assert (delivery.type, delivery.id, delivery.version) == ("customer", "C-1001", 1)
    assert delivery.data["name"] == CUSTOMER["name"]
    assert delivery.data["phones"] == CUSTOMER["phones"]
    assert delivery.data["phones_e164"] == ["+982188881234", "+989121234567"]
    assert delivery.webhook_id == delivery.idempotency_key
    assert receiver.counters.rejected == 0

    wait_until(
        lambda: deployment.sync_state("customers", "C-1001")["finance"]["state"] == "synced",
        15,
        "the binding to be recorded",
    )
    binding = deployment.sync_state("customers", "C-1001")["finance"]
    assert (binding["external_id"], binding["synced_version"]) == ("ext-C-1001", 1)

    unchanged = deployment.put("customers", "C-1001", CUSTOMER)
    assert unchanged.json()["changed"] is False
    updated = deployment.put("customers", "C-1001", {**CUSTOMER, "status": "inactive"})
    assert updated.json()["version"] == 2
    deliveries = receiver.wait_for_deliveries(2, timeout=30)
    assert [d.version for d in deliveries] == [1, 2]
    assert deliveries[1].document["external_id"] == "ext-C-1001"
    assert receiver.counters.accepted == 2
