"""``crm-sync receiver``: a signed-webhook target on this machine, for a first run.

It verifies each document's Standard Webhooks signature, stores it once per
idempotency key, acknowledges it with an external id and prints what arrived, so a
newcomer sees a change signed, delivered once and bound without an ERP. It writes the
finance plugin's settings (its URL and a secret it keeps between runs) to a shell file
that ``scripts/serve.sh`` is started after: ``source crm-sync-data/receiver.env``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from core.settings import load_settings
from core.testing.receiver import Attempt, Delivery, Receiver

#: The plugin whose documents the quick start sends to the receiver.
PLUGIN = "finance"
ENV_FILE = "receiver.env"
_SECRET_LINE = re.compile(r"^export CRM_SYNC_PLUGINS__FINANCE__SECRET=(whsec_[A-Za-z0-9+/=]+)$")


def read_secret(path: Path) -> str | None:
    """The secret an earlier run wrote to ``path``, or None when there is none."""
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        found = _SECRET_LINE.match(line.strip())
        if found:
            return found.group(1)
    return None


def write_env_file(path: Path, url: str, secret: str) -> None:
    """Write the finance plugin's settings for this receiver as shell exports (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# Written by `crm-sync receiver`: the finance plugin sends its documents there.\n"
        "# Start crm-sync after `source` of this file (it holds the shared secret).\n"
        f"export CRM_SYNC_PLUGINS__FINANCE__URL={url}\n"
        f"export CRM_SYNC_PLUGINS__FINANCE__SECRET={secret}\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def describe(attempt: Attempt, stored: list[Delivery]) -> list[str]:
    """The lines printed for one request: what arrived, and the answer given."""
    when = time.strftime("%H:%M:%S", time.localtime(attempt.received_at))
    if attempt.status == 401:
        return [f"{when}  401 refused: missing or wrong signature ({attempt.path})"]
    if not stored:
        ids = ", ".join(attempt.ids) or "-"
        what = "duplicate, already stored" if attempt.status == 200 else "refused"
        return [f"{when}  {attempt.status} {what}: {ids}"]
    lines = []
    for delivery in stored:
        lines.append(
            f"{when}  {attempt.status} signed {delivery.type} {delivery.id} "
            f"version {delivery.version} -> {delivery.external_id} "
            f"(Idempotency-Key {delivery.idempotency_key})"
        )
        lines.append("    " + json.dumps(delivery.data, ensure_ascii=False, sort_keys=True))
    return lines


def receiver(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="port to listen on (0 picks a free one)")
    ] = 9000,
    env_file: Annotated[
        Path | None,
        typer.Option(help="where to write the finance plugin's settings [data_dir/receiver.env]"),
    ] = None,
) -> None:
    """Receive signed documents on this machine, print and acknowledge each one."""
    if env_file is None:
        try:
            env_file = load_settings().data_dir / ENV_FILE
        except Exception as error:
            typer.echo(f"error: invalid settings: {' '.join(str(error).split())}", err=True)
            raise typer.Exit(2) from None
    path = env_file
    secret = read_secret(path) or "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    lock = threading.Lock()

    def show(attempt: Attempt, stored: list[Delivery]) -> None:
        with lock:
            for line in describe(attempt, stored):
                print(line, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        running = Receiver(secret, host=host, port=port, on_attempt=show).start()
    except OSError as error:
        typer.echo(f"error: cannot listen on {host}:{port}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        url = f"{running.url}/{PLUGIN}"
        write_env_file(path, url, secret)
        print(f"crm-sync receiver on {url}, verifying signatures", flush=True)
        print(f"the {PLUGIN} plugin's settings are in {path}; start crm-sync with:", flush=True)
        print(f"  source {path} && bash scripts/serve.sh", flush=True)
        stop.wait()
    finally:
        running.stop()
