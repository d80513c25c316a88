"""A worker process that sends the due WhatsApp messages, for the test that SIGKILLs it.

Run as ``python send_worker.py DB_URL DATA_DIR GRAPH_URL``: it builds a runtime with the
WhatsApp plugin against the Cloud API double at GRAPH_URL and runs the plugin's due
deliveries once. The test holds the double's answer, so the process is inside the call
when it is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import select

import lead_scoring.plugin as lead_scoring_plugin
from core.db.sync_tables import SyncState
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from plugins.whatsapp import plugin as whatsapp_plugin
from tests.plugins.whatsapp.conftest import TOKENS, whatsapp_settings

#: The lease both this worker and the test use: short, so the test need not wait long
#: (more than twice the push timeout, which the kill comes well before).
LEASE_SECONDS = 5.0


def settings(database_url: str, data_dir: Path, graph_url: str) -> Settings:
    """What the worker and the test's own runtime both run with."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        plugins={
            "whatsapp": whatsapp_settings(graph_url=graph_url, access_token="EAAG-permanent-token"),
            "lead_scoring": {},
        },
        api_tokens=TOKENS,
        sync={"lease_seconds": LEASE_SECONDS, "push_timeout_seconds": 2.0, "max_attempts": 3},
    )


def main() -> None:
    url, data_dir, graph_url = sys.argv[1:4]
    runtime = SyncRuntime(
        settings(url, Path(data_dir), graph_url),
        extra_plugins={"whatsapp": whatsapp_plugin, "lead_scoring": lead_scoring_plugin},
        load_entry_points=False,
    )
    with runtime.engine.connect() as connection:
        refs = [
            (row.kind, row.record_id)
            for row in connection.execute(
                select(SyncState.kind, SyncState.record_id).where(
                    SyncState.plugin == "whatsapp", SyncState.state == "pending"
                )
            )
        ]
    print("sending", flush=True)
    runtime.sync.process("whatsapp", refs)


if __name__ == "__main__":
    main()
