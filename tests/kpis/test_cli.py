"""``crm-sync kpis`` prints the table of a period, per agent, or as JSON; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from core.cli import app
from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from tests.kpis.conftest import seed


def run(args: list[str], database: str) -> object:
    return CliRunner().invoke(app, args, env={"COLUMNS": "200", "CRM_SYNC_DATABASE_URL": database})


def test_the_table_per_period_and_agent(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = create_db_engine(database)
    upgrade(engine)
    seed(engine)
    engine.dispose()
    table = run(["kpis", "--period", "1404-07"], database)
    assert table.exit_code == 0, table.output  # type: ignore[attr-defined]
    out = table.stdout  # type: ignore[attr-defined]
    assert "KPIs 1404-07 (previous 1404-06)" in out
    line = next(row for row in out.splitlines() if "lead_to_opportunity" in row)
    assert "66.7%" in line and "on target" in line and "0.0%" in line
    assert "off target" in next(row for row in out.splitlines() if "on_time_follow_up" in row)
    by_agent = run(["kpis", "--period", "1404-07", "--by", "agent"], database)
    assert "first_response_time by agent" in by_agent.stdout  # type: ignore[attr-defined]
    answer = json.loads(run(["kpis", "--period", "1404-07", "--json"], database).stdout)  # type: ignore[attr-defined]
    assert answer["kpis"][0]["name"] == "lead_to_opportunity"
    assert answer["kpis"][0]["numerator"] == 2


def test_bad_input_exits_with_the_reason(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(["db", "upgrade"], database).exit_code == 0  # type: ignore[attr-defined]
    bad = run(["kpis", "--period", "1404-13"], database)
    assert bad.exit_code == 2  # type: ignore[attr-defined]
    assert "month 13 does not exist" in bad.stderr  # type: ignore[attr-defined]
    planet = run(["kpis", "--by", "planet"], database)
    assert planet.exit_code == 2 and "--by must be one of" in planet.stderr  # type: ignore[attr-defined]
    stale = run(["kpis"], f"sqlite:///{tmp_path / 'empty.db'}")
    assert stale.exit_code == 2 and "crm-sync db upgrade" in stale.stderr  # type: ignore[attr-defined]
