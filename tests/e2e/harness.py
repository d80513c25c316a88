"""Real crm-sync processes for end-to-end tests: serve and worker, started and killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ADMIN_TOKEN = "e2e-admin-token-0123456789"
CLI = [sys.executable, "-m", "core"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


class Process:
    """One crm-sync command running in its own process group, logging to a file."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        logs: Path,
        command: list[str] | None = None,
    ) -> None:
        self.name = name
        self.args = args
        self.command = CLI + args if command is None else command
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no goodbye."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            assert self.popen is not None
            self.popen.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Deployment:
    """A crm-sync deployment on this machine: one API process and optional worker processes."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.env = env
        self.processes: list[Process] = []
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )

    def run(self, name: str, *args: str) -> Process:
        process = Process(name, list(args), self.env, self.tmp).start()
        self.processes.append(process)
        return process

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            CLI + list(args), env=self.env, capture_output=True, text=True, timeout=120
        )

    def serve(self) -> Process:
        process = self.run("serve", "serve", "--port", str(self.port))
        wait_until(self._healthy, 30, f"crm-sync serve to answer\n{process.log()}")
        return process

    def worker(
        self, processes: int = 1, threads: int = 4, name: str = "worker", metrics_port: int = -1
    ) -> Process:
        return self.run(
            name, "worker", "--processes", str(processes), "--threads", str(threads),
            "--metrics-port", str(metrics_port),
        )  # fmt: skip

    def _healthy(self) -> bool:
        try:
            return self.api.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def put(self, kind: str, record_id: str, body: dict[str, Any]) -> httpx.Response:
        return self.api.put(f"/v1/{kind}/{record_id}", json=body)

    def sync_state(self, kind: str, record_id: str) -> dict[str, Any]:
        plugins = self.api.get(f"/v1/{kind}/{record_id}/sync").json()["plugins"]
        return {entry["plugin"]: entry for entry in plugins}

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.api.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-4000:]}" for p in self.processes)


def base_env(tmp: Path, receiver_url: str, secret: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_SYNC_")}
    env.update(
        {
            "CRM_SYNC_DATA_DIR": str(tmp / "data"),
            "CRM_SYNC_API_TOKENS": f"admin:admin:{ADMIN_TOKEN}",
            "CRM_SYNC_PLUGINS__FINANCE__URL": receiver_url,
            "CRM_SYNC_PLUGINS__FINANCE__SECRET": secret,
            "CRM_SYNC_SYNC__PUSH_TIMEOUT_SECONDS": "2",
            "CRM_SYNC_SYNC__LEASE_SECONDS": "6",
            "CRM_SYNC_SYNC__REQUEUE_AFTER_SECONDS": "2",
            "CRM_SYNC_SYNC__SWEEP_INTERVAL_SECONDS": "0.5",
            "CRM_SYNC_SYNC__MIN_BACKOFF_SECONDS": "0.3",
            "CRM_SYNC_SYNC__MAX_BACKOFF_SECONDS": "2",
            "CRM_SYNC_LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env
