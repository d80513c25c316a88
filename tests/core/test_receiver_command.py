"""``crm-sync receiver``: its settings file, a secret kept between runs, what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.receiver_command import describe, read_secret, write_env_file
from core.testing.receiver import Attempt, Delivery
from tests.e2e.harness import free_port


def test_the_settings_file_is_private_and_its_secret_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "receiver.env"
    write_env_file(path, "http://127.0.0.1:9000/finance", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")

    assert path.stat().st_mode & 0o777 == 0o600
    assert read_secret(path) == "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    assert "export CRM_SYNC_PLUGINS__FINANCE__URL=http://127.0.0.1:9000/finance" in path.read_text()
    assert read_secret(tmp_path / "missing.env") is None
    path.write_text("export CRM_SYNC_PLUGINS__FINANCE__SECRET=not-a-secret\n")
    assert read_secret(path) is None


def test_a_restart_keeps_the_secret_serve_was_started_with(tmp_path: Path) -> None:
    path = tmp_path / "receiver.env"
    secrets = []
    for _ in range(2):
        command = [sys.executable, "-m", "core", "receiver", "--port", str(free_port())]
        with subprocess.Popen(
            [*command, "--env-file", str(path)], stdout=subprocess.PIPE, text=True
        ) as process:
            assert process.stdout is not None
            first = process.stdout.readline()
            process.terminate()
            process.wait(10)
        assert first.startswith("crm-sync receiver on http://127.0.0.1:")
        secrets.append(read_secret(path))
    assert secrets[0] is not None and secrets[0] == secrets[1]


def test_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "core", "receiver", "--port", str(port), "--env-file",
             str(tmp_path / "r.env")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def _delivery() -> Delivery:
    return Delivery(
        type="customer",
        id="C-1",
        version=2,
        idempotency_key="k-1",
        external_id="ext-C-1",
        received_at=0.0,
        path="/finance",
        webhook_id="k-1",
        document={"data": {"name": "علی"}},
    )


@pytest.mark.parametrize(
    ("status", "stored", "expected"),
    [
        (200, True, "200 signed customer C-1 version 2 -> ext-C-1 (Idempotency-Key k-1)"),
        (200, False, "200 duplicate, already stored: C-1"),
        (422, False, "422 refused: C-1"),
        (401, False, "401 refused: missing or wrong signature (/finance)"),
    ],
)
def test_each_answer_is_printed(status: int, stored: bool, expected: str) -> None:
    attempt = Attempt(0.0, "/finance", status, ("C-1",), ("k-1",), "application/json", True)
    lines = describe(attempt, [_delivery()] if stored else [])

    assert lines[0].endswith(expected)
    assert lines[1:] == (['    {"name": "علی"}'] if stored else [])


def test_bad_settings_or_a_port_out_of_range_are_one_clear_error(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_SYNC_")}
    bad_config = subprocess.run(
        [sys.executable, "-m", "core", "receiver"],
        env={**env, "CRM_SYNC_CONFIG": str(tmp_path / "missing.toml")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out_of_range = subprocess.run(
        [sys.executable, "-m", "core", "receiver", "--port", "70000"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert bad_config.returncode == 2
    assert bad_config.stderr.strip() == (
        f"error: invalid settings: CRM_SYNC_CONFIG names {tmp_path / 'missing.toml'}, "
        "which does not exist"
    )
    assert out_of_range.returncode == 2 and "65535" in out_of_range.stderr
    assert "Traceback" not in bad_config.stderr + out_of_range.stderr
