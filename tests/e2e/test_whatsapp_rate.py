"""Meta's throughput limits hold across two worker processes on PostgreSQL + Redis.

Each worker process talks to its own Cloud API double (same phone number, so the same
limits in the database): what each double received shows both workers sent, and the
two lists together keep the number's rate and the pair limit.

Both workers send by construction, not by luck: each double holds its answers until
the other double has accepted a message, and each push carries one message
(``send_batch = 1``). A worker whose double holds its answers has its four threads
waiting on at most four messages and at most eight taken from the broker (Dramatiq's
prefetch, twice the threads), and reserves no further moment of the rate; so of the
fifteen messages at least seven are left to the other worker, at least four of them to
customers with no other message (no pair limit), and its first reservation is granted
within a second. Its double then accepts a message, which releases the first worker's
answers. A hold is bounded (``HOLD``) well inside the push timeout and the lease, so a
failure of the construction shows as a failed assertion, never as a send in doubt.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.testing import whatsapp as meta
from core.testing.receiver import Receiver
from core.testing.whatsapp_api import CloudApi, SentMessage
from tests.e2e.conftest import deployment_env
from tests.e2e.harness import Deployment, Process, wait_until

pytestmark = pytest.mark.slow

TOKEN = "EAAG-e2e-token"
RATE = 4.0
PAIR = 3.0
HOLD = 25.0
TEMPLATE = {"type": "template", "template": {"name": "order_ready", "language": "fa"}}


@pytest.fixture
def doubles() -> Iterator[tuple[CloudApi, CloudApi]]:
    with CloudApi(token=TOKEN) as first, CloudApi(token=TOKEN) as second:
        first.hold_until_accepted_by(second, at_most=HOLD)
        second.hold_until_accepted_by(first, at_most=HOLD)
        yield first, second


@pytest.fixture
def deployment(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    receiver: Receiver,
    webhook_secret: str,
    doubles: tuple[CloudApi, CloudApi],
) -> Iterator[Deployment]:
    env = deployment_env("postgres-redis", request, tmp_path, receiver, webhook_secret)
    prefix = "CRM_SYNC_PLUGINS__WHATSAPP__"
    env.update(
        {
            f"{prefix}ACCESS_TOKEN": TOKEN,
            f"{prefix}PHONE_NUMBER_ID": meta.PHONE_NUMBER_ID,
            f"{prefix}APP_SECRET": "e2e-app-secret",
            f"{prefix}VERIFY_TOKEN": "e2e-verify",
            f"{prefix}GRAPH_URL": doubles[0].graph_url,
            f"{prefix}MESSAGES_PER_SECOND": str(RATE),
            f"{prefix}PAIR_INTERVAL_SECONDS": str(PAIR),
            f"{prefix}SEND_BATCH": "1",
            # A held answer stays well inside the push's timeout and its lease.
            "CRM_SYNC_SYNC__PUSH_TIMEOUT_SECONDS": str(HOLD + 10),
            "CRM_SYNC_SYNC__LEASE_SECONDS": str(3 * HOLD),
        }
    )
    running = Deployment(tmp_path, env)
    try:
        migrated = running.cli("db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        running.serve()
        for name, double in zip(("worker-a", "worker-b"), doubles, strict=True):
            own = {**env, f"{prefix}GRAPH_URL": double.graph_url}
            args = ["worker", "--processes", "1", "--threads", "4", "--metrics-port", "-1"]
            running.processes.append(Process(name, args, own, tmp_path).start())
        yield running
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            print(running.logs())
    finally:
        running.close()


def most_in_one_second(sent: list[SentMessage]) -> int:
    """The most messages that arrived within any one second."""
    moments = sorted(message.received_at for message in sent)
    return max(
        sum(1 for later in moments[index:] if later - moment < 1.0)
        for index, moment in enumerate(moments)
    )


def test_two_workers_share_the_number_s_rate_and_the_pair_limit(
    deployment: Deployment, doubles: tuple[CloudApi, CloudApi]
) -> None:
    for number in range(13):
        body = {"type": "person", "name": "مشتری", "phones": [f"0912{number:07d}"]}
        assert deployment.put("customers", f"C-{number}", body).status_code == 201
    ids = []
    # Three messages to C-0 (the pair limit), one to each other customer (the rate).
    for number, customer in enumerate([0, 0, 0, *range(1, 13)]):
        body = {
            "customer_id": f"C-{customer}",
            "channel": "whatsapp",
            "direction": "outbound",
            "occurred_at": "2026-05-01T09:00:00+03:30",
            "content": TEMPLATE,
        }
        ids.append(f"M-{number}")
        assert deployment.put("interactions", f"M-{number}", body).status_code == 201

    def sent() -> list[SentMessage]:
        return [*doubles[0].sent, *doubles[1].sent]

    wait_until(lambda: len(sent()) >= len(ids), 120, f"every message sent\n{deployment.logs()}")
    wait_until(
        lambda: all(
            deployment.sync_state("interactions", record_id)["whatsapp"]["state"] == "synced"
            for record_id in ids
        ),
        60,
        "every delivery synced",
        interval=0.5,
    )
    assert doubles[0].sent and doubles[1].sent, "both workers sent"
    everything = sent()
    assert sorted(str(m.body["biz_opaque_callback_data"]) for m in everything) == sorted(ids)
    # 4 a second: four moments in any second, one more when a call arrives late.
    assert most_in_one_second(everything) <= RATE + 1
    moments = sorted(message.received_at for message in everything)
    assert moments[-1] - moments[0] >= (len(ids) - 1) / RATE - 0.3
    to_first = sorted(m.received_at for m in everything if m.body["to"] == "+989120000000")
    assert len(to_first) == 3
    assert all(b - a >= PAIR - 0.3 for a, b in itertools.pairwise(to_first))
