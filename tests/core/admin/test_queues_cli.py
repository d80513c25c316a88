"""crm-sync queues, queues pause|resume and audit; serve refuses production without tokens."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from core.cli import app
from core.db.engine import create_db_engine
from core.sync.pause import pause_of


def run(args: list[str], database: str, **env: str) -> object:
    variables = {"COLUMNS": "200", "CRM_SYNC_DATABASE_URL": database, **env}
    return CliRunner().invoke(app, args, env=variables)


def test_pause_resume_and_the_audit_from_the_command_line(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(["db", "upgrade"], database).exit_code == 0  # type: ignore[attr-defined]
    paused = run(["queues", "pause", "finance", "--reason", "ERP upgrade"], database)
    assert paused.exit_code == 0, paused.output  # type: ignore[attr-defined]
    engine = create_db_engine(database)
    pause = pause_of(engine, "finance")
    assert pause is not None and pause.reason == "ERP upgrade"
    assert pause.paused_by.startswith("cli:")
    again = run(["queues", "pause", "finance", "--reason", "again"], database)
    assert "already paused" in again.stdout  # type: ignore[attr-defined]
    listed = run(["queues", "--json"], database)
    rows = json.loads(listed.stdout)  # type: ignore[attr-defined]
    assert [row["paused"]["reason"] for row in rows if row["plugin"] == "finance"] == [
        "ERP upgrade"
    ]
    resumed = run(["queues", "resume", "finance"], database)
    assert "finance resumed" in resumed.stdout  # type: ignore[attr-defined]
    assert pause_of(engine, "finance") is None
    audit = json.loads(run(["audit", "--json"], database).stdout)  # type: ignore[attr-defined]
    assert [(e["action"], e["target"], e["channel"]) for e in audit] == [
        ("resume", "finance", "cli"),
        ("pause", "finance", "cli"),
    ]
    engine.dispose()


def test_serve_refuses_production_without_tokens(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["serve"],
        env={
            "CRM_SYNC_ENVIRONMENT": "production",
            "CRM_SYNC_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "CRM_SYNC_BROKER_URL": "redis://127.0.0.1:1/0",
            "CRM_SYNC_API_TOKENS": "",
            "CRM_SYNC_DATA_DIR": str(tmp_path),
        },
    )
    assert result.exit_code == 2
    assert "production needs CRM_SYNC_API_TOKENS" in " ".join(result.stderr.split())
