"""The README's quick start: a receiver on this machine, serve, one customer signed and synced."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import CLI, Process, base_env, free_port, wait_until

pytestmark = pytest.mark.slow

CUSTOMER = {"type": "person", "name": "علی کریمی", "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷"]}


def test_the_quick_start_shows_a_change_signed_delivered_once_and_synced(tmp_path: Path) -> None:
    env = base_env(tmp_path, "unused", "unused")
    for name in ("API_TOKENS", "PLUGINS__FINANCE__URL", "PLUGINS__FINANCE__SECRET"):
        env.pop(f"CRM_SYNC_{name}")
    data = Path(env["CRM_SYNC_DATA_DIR"])
    receiver_port, api_port = free_port(), free_port()
    receiver = Process("receiver", ["receiver", "--port", str(receiver_port)], env, tmp_path)
    serve_line = " ".join(shlex.quote(part) for part in [*CLI, "serve", "--port", str(api_port)])
    env_file = data / "receiver.env"
    processes = [receiver.start()]
    try:
        wait_until(env_file.exists, 30, f"the receiver's settings\n{receiver.log()}")
        assert env_file.stat().st_mode & 0o777 == 0o600
        source_then_serve = f"source {shlex.quote(str(env_file))} && exec {serve_line}"
        serve = Process("serve", [], env, tmp_path, ["bash", "-c", source_then_serve]).start()
        processes.append(serve)
        api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10)
        wait_until(lambda: _ready(api), 60, f"crm-sync serve\n{serve.log()}")
        token = (data / "admin-token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}

        created = api.put("/v1/customers/C-1001", json=CUSTOMER, headers=auth)
        assert created.status_code == 201, created.text

        def finance() -> dict[str, object]:
            plugins = api.get("/v1/customers/C-1001/sync", headers=auth).json()["plugins"]
            return next(p for p in plugins if p["plugin"] == "finance")

        wait_until(lambda: finance()["state"] == "synced", 30, f"the sync\n{serve.log()}")
        assert (finance()["external_id"], finance()["synced_version"]) == ("ext-C-1001", 1)
        again = api.put("/v1/customers/C-1001", json=CUSTOMER, headers=auth)
        assert again.json()["changed"] is False
        time.sleep(1)
        printed = receiver.log()
        assert printed.count("signed customer C-1001 version 1 -> ext-C-1001") == 1, printed
        assert "علی کریمی" in printed and "+989121234567" in printed
        assert "refused" not in printed
        api.close()
    finally:
        for process in reversed(processes):
            process.stop()


def _ready(api: httpx.Client) -> bool:
    try:
        return api.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False
