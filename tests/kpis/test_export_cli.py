"""``crm-sync export``: leads and opportunities to CSV and XLSX, filters, bad input.

The other lists are in test_record_exports.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from core.cli import app
from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from tests.kpis.conftest import database, seed


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database holding the seeded history."""
    with database(request.param, tmp_path_factory.mktemp("kpis-export")) as found:
        engine = create_db_engine(found)
        upgrade(engine)
        seed(engine)
        engine.dispose()
        yield found


def run(args: list[str], url: str) -> Any:
    return CliRunner().invoke(
        app, ["export", *args], env={"COLUMNS": "300", "CRM_SYNC_DATABASE_URL": url}
    )


def test_leads_to_xlsx_with_jalali_dates_right_to_left(url: str, tmp_path: Path) -> None:
    target = tmp_path / "leads.xlsx"
    done = run(["leads", "--output", str(target)], url)
    assert done.exit_code == 0, done.output
    assert "wrote 6 leads" in done.stderr
    sheet = load_workbook(target).worksheets[0]
    assert sheet.sheet_view.rightToLeft is True, "the console speaks Persian by default"
    values = list(sheet.iter_rows(values_only=True))
    rows = {r["id"]: r for r in (dict(zip(values[0], v, strict=True)) for v in values[1:])}
    assert set(rows) == {"L1", "L2", "L3", "L4", "L5", "L9"}
    # L4 was created on 22 September 2025 at 23:50 in Tehran: 20:20 UTC, 1404/06/31.
    assert rows["L4"]["created_at"] == "2025-09-22T20:20:00Z"
    assert rows["L4"]["created_at_jalali"] == "1404/06/31"
    assert rows["L1"]["converted_at_jalali"] == "1404/07/14"
    assert rows["L2"]["converted_at"] is None
    assert rows["L9"]["source"].startswith("'="), "formula-looking text stays text"


def test_opportunities_to_csv_filtered(url: str, tmp_path: Path) -> None:
    target = tmp_path / "won.csv"
    done = run(["opportunities", "-o", str(target), "--status", "won", "--lang", "en"], url)
    assert done.exit_code == 0, done.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [r["id"] for r in rows] == ["O4", "O1"], "oldest first"
    assert {r["status"] for r in rows} == {"won"}
    assert float(rows[1]["amount_rials"]) == 1e6 and rows[1]["lead_id"] == "L1"
    mine = tmp_path / "mine.xlsx"
    assert (
        run(["opportunities", "-o", str(mine), "--owner", "A2", "--lang", "en"], url).exit_code == 0
    )
    sheet = load_workbook(mine).worksheets[0]
    assert not sheet.sheet_view.rightToLeft
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(ids) == ["O2", "O3", "O4"]
    amount = sheet.cell(row=ids.index("O3") + 2, column=8)
    assert amount.value == 9e6 and amount.data_type == "n" and amount.number_format != "General"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["planets", "-o", "x.csv"], "the list must be one of"),
        (["customers", "-o", "x.csv", "--channel", "call"], "cannot be filtered by channel"),
        (["tasks", "-o", "x.csv", "--q", "call"], "tasks cannot be searched"),
        (["leads", "-o", "x.csv", "--currency", "usd"], "--currency must be rials or toman"),
        (["leads", "-o", "x.pdf"], "--format must be csv or xlsx"),
        (["leads", "-o", "x.csv", "--lang", "de"], "--lang must be fa or en"),
        (["leads", "-o", "missing/x.csv"], "does not exist"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    url: str, tmp_path: Path, args: list[str], reason: str
) -> None:
    args = [str(tmp_path / a) if a.startswith(("x.", "missing/")) else a for a in args]
    done = run(args, url)
    assert done.exit_code == 2
    assert reason in done.stderr
    assert list(tmp_path.iterdir()) == []
