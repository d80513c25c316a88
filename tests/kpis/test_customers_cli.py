"""``crm-sync customers`` prints the hand-computed months of test_customers; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from core.cli import app
from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from tests.kpis.test_customers import seed_customers


def run(args: list[str], database: str) -> object:
    env = {"COLUMNS": "200", "CRM_SYNC_DATABASE_URL": database}
    return CliRunner().invoke(app, args, env=env)


def test_the_trend_as_a_table_and_as_json(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = create_db_engine(database)
    upgrade(engine)
    seed_customers(engine)
    engine.dispose()
    table = run(["customers", "--period", "2025-07", "--periods", "3"], database)
    assert table.exit_code == 0, table.output  # type: ignore[attr-defined]
    out = table.stdout  # type: ignore[attr-defined]
    assert "Customers to 2025-07 (lost after 90 days)" in out
    may = next(row for row in out.splitlines() if "2025-05" in row).split()
    assert [cell for cell in may if cell not in "│┃"] == ["2025-05", "1", "0", "0", "2", "66.7%"]
    july = next(row for row in out.splitlines() if "2025-07" in row and "Customers" not in row)
    assert july.split("│")[-2].strip() == "50.0%"
    answer = run(["customers", "--period", "2025-01", "--periods", "1", "--json"], database)
    rows = json.loads(answer.stdout)  # type: ignore[attr-defined]
    assert rows == [{"period": "2025-01", "start": "2024-12-31T20:30:00Z",
                     "start_jalali": "1403/10/12", "new": 1, "returning": 0, "won_back": 0,
                     "lost": 0, "active": 1, "active_at_start": 0, "lost_rate": None}]  # fmt: skip


def test_bad_input_exits_with_the_reason(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(["db", "upgrade"], database).exit_code == 0  # type: ignore[attr-defined]
    bad = run(["customers", "--period", "1404-13"], database)
    assert bad.exit_code == 2  # type: ignore[attr-defined]
    assert "month 13 does not exist" in bad.stderr  # type: ignore[attr-defined]
    zero = run(["customers", "--periods", "0"], database)
    assert zero.exit_code == 2  # type: ignore[attr-defined]
    stale = run(["customers"], f"sqlite:///{tmp_path / 'empty.db'}")
    assert stale.exit_code == 2 and "crm-sync db upgrade" in stale.stderr  # type: ignore[attr-defined]
