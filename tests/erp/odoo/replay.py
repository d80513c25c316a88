"""The Odoo rooms on a strict replay of one recorded flow from ``recordings/``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from core.testing.odoo_replay import URL, Replay
from erp.odoo import Odoo, OdooClient

RECORDINGS = Path(__file__).parent / "recordings"


def recording_files() -> dict[str, dict[str, Any]]:
    """Every recordings file by name, parsed."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(RECORDINGS.glob("*.json"))
    }


@contextmanager
def recorded(file: str, flow: str) -> Iterator[Odoo]:
    """Yield the Odoo rooms whose HTTP goes to one recorded flow; check it was all used."""
    replay = Replay(RECORDINGS / file, flow)
    with httpx.Client(transport=httpx.MockTransport(replay)) as http:
        client = OdooClient(
            http,
            url=URL,
            database="crm",
            login="sync@example.com",
            api_key="key-123",
            version=replay.version,
        )
        yield Odoo(client)
    replay.assert_done()
