"""Schemathesis against a running `crm-sync serve` on PostgreSQL: no server error, no schema lie.

Every operation of ``/openapi.json`` goes through the examples, coverage, fuzzing and
stateful phases (the stateful phase follows the links from a record's PUT to the
operations on the same id), positive and negative data, with every check but
``negative_data_rejection`` (see tests/e2e/schemathesis.toml for why). The hooks of
core.testing.fuzz_hooks sign each webhook body, so the plugins' parsing is fuzzed, not
just the signature check. Seeded and bounded: the same requests on every run, in about
three minutes. The finance, inventory and production plugins take webhooks; pushes go
to a real receiver on loopback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.testing.fuzz_hooks import SECRET_VARIABLE
from core.testing.receiver import Receiver
from tests.e2e.harness import ADMIN_TOKEN, Deployment, base_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CONFIG = Path(__file__).with_name("schemathesis.toml")
PHASES = "examples,coverage,fuzzing,stateful"
SEED = 9


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    tmp_path: Path, postgres_url: str, receiver: Receiver, webhook_secret: str
) -> None:
    env = base_env(
        tmp_path,
        receiver.url,
        webhook_secret,
        CRM_SYNC_DATABASE_URL=postgres_url,
        CRM_SYNC_PLUGINS__INVENTORY__URL=receiver.url,
        CRM_SYNC_PLUGINS__INVENTORY__SECRET=webhook_secret,
        CRM_SYNC_PLUGINS__PRODUCTION__SECRET=webhook_secret,
        CRM_SYNC_LOG_LEVEL="WARNING",
    )
    deployment = Deployment(tmp_path, env)
    try:
        migrated = deployment.cli("db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        deployment.serve()
        fuzz = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(CONFIG),
                "run",
                f"http://127.0.0.1:{deployment.port}/openapi.json",
                "--header",
                f"Authorization: Bearer {ADMIN_TOKEN}",
                "--phases",
                PHASES,
                "--seed",
                str(SEED),
                "--no-color",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "core.testing.fuzz_hooks",
                SECRET_VARIABLE: webhook_secret,
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
        )
        summary = fuzz.stdout[-20000:]
        assert fuzz.returncode == 0, f"{summary}\n{fuzz.stderr[-4000:]}\n{deployment.logs()}"
        operations = sum(
            len(item) for item in deployment.api.get("/openapi.json").json()["paths"].values()
        )
        assert f"Selected: {operations}/{operations}" in summary, summary
        assert re.search(rf"Tested: {operations}\b", summary), summary
        for phase in ("Coverage", "Fuzzing", "Stateful"):
            assert re.search(rf"✅ {phase}\b", summary), summary
    finally:
        deployment.close()
