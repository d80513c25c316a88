"""What every command does first (core/cli_startup.py): settings, logging and the database.

A SQLite database upgrades itself in development, migrations stay quiet unless asked
for, and a database that is not ready or cannot be opened stops the command with one
line naming the setting or the command that fixes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.db.engine import create_db_engine
from core.db.migrate import current_revision, head_revision
from tests.core.test_cli import FINANCE, clean_environment, database, flat, run

__all__ = ["clean_environment", "database"]  # fixtures used here


def test_serve_upgrades_an_explicit_sqlite_database_in_development(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda api, **options: served.append(options))
    result = run(["serve", "--port", "8124"], database)
    assert result.exit_code == 0, result.output
    assert served and served[0]["port"] == 8124
    assert current_revision(create_db_engine(database)) == head_revision()


def test_migrations_stay_quiet_unless_asked_for(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Alembic's "Running upgrade" lines appear with --verbose or a log_level, not by default."""
    import logging

    def migration_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]

    with caplog.at_level(logging.NOTSET):
        assert run(["db", "upgrade"], database).exit_code == 0
        assert migration_lines() == []
        assert logging.getLogger("alembic").getEffectiveLevel() == logging.WARNING
    other = database.replace("crm-sync.db", "other.db")
    with caplog.at_level(logging.NOTSET):
        assert run(["--verbose", "db", "upgrade"], other).exit_code == 0
        assert any(line.startswith("Running upgrade") for line in migration_lines())
    caplog.clear()
    third = database.replace("crm-sync.db", "third.db")
    with caplog.at_level(logging.NOTSET):
        assert run(["db", "upgrade"], third, CRM_SYNC_LOG_LEVEL="info").exit_code == 0
        assert any(line.startswith("Running upgrade") for line in migration_lines())


# -- admin commands on a database that is not ready ------------------------------------

ADMIN_COMMANDS = [
    ["dead", "list"],
    ["dead", "retry", "--all"],
    ["dead", "purge", "--all"],
    ["resync", "finance", "--no-wait"],
    ["inbox", "list"],
    ["inbox", "retry", "--all"],
]


@pytest.mark.parametrize("command", ADMIN_COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_admin_commands_refuse_an_empty_database(database: str, command: list[str]) -> None:
    result = run(command, database, **FINANCE)
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert "the database schema is at revision none" in message
    assert "run `crm-sync db upgrade` first" in message
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ADMIN_COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_admin_commands_say_when_the_database_cannot_be_opened(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "no-such-folder" / "crm-sync.db"
    result = run(command, f"sqlite:///{missing}", **FINANCE)
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert (
        f"cannot open the database sqlite:///{missing}, set by database_url "
        "(CRM_SYNC_DATABASE_URL): unable to open database file"
    ) in message
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["serve"]])
def test_a_data_folder_that_cannot_hold_the_database_is_named(
    tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda api, **options: None)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    data_dir = blocked / "data"
    result = run(command, CRM_SYNC_DATA_DIR=str(data_dir))
    assert result.exit_code != 0
    message = flat(result.stderr)
    assert "data_dir (CRM_SYNC_DATA_DIR" in message, result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_admin_commands_hide_the_database_password(postgres_server_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_server_url).set(password="s3cret-pw", port=1, database="crm")
    result = run(["dead", "list"], url.render_as_string(hide_password=False))
    assert result.exit_code == 2
    assert "cannot open the database" in flat(result.stderr)
    assert "s3cret-pw" not in result.output


@pytest.mark.redis
def test_a_worker_whose_metrics_port_is_taken_says_so_and_starts_nothing(
    database: str, redis_url: str, redis_namespace: str
) -> None:
    import socket

    assert run(["db", "upgrade"], database).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"CRM_SYNC_BROKER_URL": redis_url, "CRM_SYNC_QUEUE_PREFIX": redis_namespace}
        result = run(["worker", "--processes", "1", "--metrics-port", str(port)], database, **env)
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert f"worker metrics cannot listen on 127.0.0.1:{port}" in message
    assert "pass another --metrics-port, or -1 for none" in message
    assert "Traceback" not in result.output
