"""Every record list exports: customers, contacts, interactions, tasks and the rest.

Through ``crm-sync export <kind>`` and ``GET /v1/<kind>?format=`` (or Accept), with each
list's filters, on the seeded history of conftest plus two contacts and a customer
whose name a spreadsheet would evaluate; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from core.api.app import create_app
from core.cli import app
from core.settings import Settings
from core.testing.fixtures import migrated_runtime
from kpis.xlsx_export import XLSX_TYPE
from tests.kpis.conftest import database, put, seed, tehran

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

READER = {"Authorization": "Bearer reader-token-0123456789"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str]]:
    """The API on the seeded history, and the database's URL for the command line."""
    folder = tmp_path_factory.mktemp("record-exports")
    with database(request.param, folder) as url:
        settings = Settings(
            data_dir=folder / "data",
            database_url=url,
            api_tokens="reader:reader:reader-token-0123456789",
            console={"language": "fa"},
        )
        runtime = migrated_runtime(settings)
        try:
            seed(runtime.engine)
            at = tehran(9, 2)
            put(runtime.engine, "customer", "C2", {"type": "organization", "name": "=1+2",
                "status": "inactive", "phones": ["09121234567", "02188776655"]}, at)  # fmt: skip
            put(runtime.engine, "contact", "P1", {"customer_id": "C1", "name": "مریم",
                "job_title": "خرید", "emails": ["m@example.com"]}, at)  # fmt: skip
            put(runtime.engine, "contact", "P2", {"customer_id": "C2", "name": "Omid"}, at)
            with TestClient(create_app(runtime, background=False)) as client:
                yield client, url
        finally:
            runtime.close()


def run(url: str, *args: str) -> Any:
    env = {"COLUMNS": "300", "CRM_SYNC_DATABASE_URL": url}
    return CliRunner().invoke(app, ["export", *args], env=env)


def sheet_rows(content: bytes) -> tuple[Any, list[dict[str, Any]]]:
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    return sheet, [dict(zip(values[0], v, strict=True)) for v in values[1:]]


def csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff"), "a BOM so Excel reads UTF-8"
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_customers_from_the_command_line_filtered_and_neutralised(
    served: tuple[TestClient, str], tmp_path: Path
) -> None:
    _, url = served
    target = tmp_path / "customers.csv"
    done = run(url, "customers", "-o", str(target))
    assert done.exit_code == 0, done.output
    assert "wrote 5 customers" in done.stderr, "C1 and the service history's C2 to C5"
    rows = {r["id"]: r for r in csv_rows(target.read_text(encoding="utf-8"))}
    assert rows["C2"]["name"] == "'=1+2", "formula-looking text stays text"
    assert rows["C2"]["phones"] == "09121234567; 02188776655", "as the CRM sent them"
    assert rows["C1"]["name"] == "رضا"
    # C1 was written on 1 September 2025 at 10:00 Tehran time: 1404/06/10.
    assert rows["C1"]["created_at_jalali"] == "1404/06/10"
    inactive = tmp_path / "inactive.xlsx"
    assert run(url, "customers", "-o", str(inactive), "--status", "inactive").exit_code == 0
    sheet, lines = sheet_rows(inactive.read_bytes())
    assert sheet.sheet_view.rightToLeft is True and sheet.freeze_panes == "A2"
    assert [r["id"] for r in lines] == ["C2"]


def test_contacts_interactions_and_tasks_from_the_command_line(
    served: tuple[TestClient, str], tmp_path: Path
) -> None:
    _, url = served
    contacts = tmp_path / "contacts.csv"
    assert run(url, "contacts", "-o", str(contacts), "--customer", "C1").exit_code == 0
    assert [(r["id"], r["job_title"], r["emails"]) for r in csv_rows(
        contacts.read_text(encoding="utf-8"))] == [("P1", "خرید", "m@example.com")]  # fmt: skip
    talks = tmp_path / "talks.xlsx"
    done = run(url, "interactions", "-o", str(talks), "--channel", "whatsapp", "--lang", "en")
    assert done.exit_code == 0, done.output
    sheet, lines = sheet_rows(talks.read_bytes())
    assert not sheet.sheet_view.rightToLeft
    assert [r["id"] for r in lines] == ["M1", "M2", "M3", "M4", "M5", "I6", "I2"]
    m1 = lines[0]
    assert (m1["occurred_at"], m1["occurred_at_jalali"]) == ("2025-09-24T05:30:00Z", "1404/07/02")
    assert (m1["direction"], m1["customer_id"], m1["lead_id"]) == ("inbound", "C1", None)
    tasks = tmp_path / "tasks.csv"
    assert run(url, "tasks", "-o", str(tasks), "--owner", "A2", "--status", "open").exit_code == 0
    assert sorted(r["id"] for r in csv_rows(tasks.read_text(encoding="utf-8"))) == ["T3", "T6"]


def test_a_kind_without_its_own_columns_exports_its_documents(
    served: tuple[TestClient, str], tmp_path: Path
) -> None:
    _, url = served
    target = tmp_path / "agents.csv"
    assert run(url, "agents", "-o", str(target)).exit_code == 0
    rows = csv_rows(target.read_text(encoding="utf-8"))
    assert list(rows[0]) == ["id", "version", "created_at", "created_at_jalali", "updated_at",
                             "updated_at_jalali", "data"]  # fmt: skip
    assert json.loads(rows[0]["data"])["team"] in ("north", "south")


def test_opportunities_in_toman_when_asked(served: tuple[TestClient, str], tmp_path: Path) -> None:
    _, url = served
    target = tmp_path / "won.csv"
    done = run(url, "opportunities", "-o", str(target), "--status", "won", "--currency", "toman")
    assert done.exit_code == 0, done.output
    rows = {r["id"]: r for r in csv_rows(target.read_text(encoding="utf-8"))}
    assert "amount_rials" not in rows["O1"]
    assert float(rows["O1"]["amount_toman"]) == 100_000


def test_the_api_exports_a_list_with_its_filters(served: tuple[TestClient, str]) -> None:
    client, _ = served
    answer = client.get("/v1/tasks", params={"status": "done", "format": "csv"}, headers=READER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="tasks.csv"' in answer.headers["content-disposition"]
    assert [r["id"] for r in csv_rows(answer.content.decode("utf-8"))] == ["T1", "T2", "T5"]
    sheet_answer = client.get(
        "/v1/interactions",
        params={"customer": "C1", "direction": "inbound"},
        headers={**READER, "Accept": XLSX_TYPE, "Accept-Language": "en-US"},
    )
    assert sheet_answer.headers["content-type"] == XLSX_TYPE
    sheet, lines = sheet_rows(sheet_answer.content)
    assert not sheet.sheet_view.rightToLeft
    assert [r["id"] for r in lines] == ["M1", "M2", "M4", "M6"]
    found = client.get("/v1/customers", params={"q": "رضا", "format": "xlsx"}, headers=READER)
    assert [r["id"] for r in sheet_rows(found.content)[1]] == ["C1"]


def test_the_json_list_takes_the_same_filters(served: tuple[TestClient, str]) -> None:
    client, _ = served
    page = client.get("/v1/tasks", params={"status": "open"}, headers=READER).json()
    assert sorted(item["id"] for item in page["items"]) == ["T3", "T6"]
    contacts = client.get("/v1/contacts", params={"customer": "C2"}, headers=READER).json()
    assert [item["id"] for item in contacts["items"]] == ["P2"]


def test_bad_filters_and_formats_are_refused(served: tuple[TestClient, str]) -> None:
    client, _ = served
    wrong = client.get("/v1/customers", params={"channel": "call"}, headers=READER)
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "customers cannot be filtered by channel"
    search = client.get("/v1/tasks", params={"q": "x", "format": "csv"}, headers=READER)
    assert (search.status_code, search.json()["type"]) == (
        400,
        "urn:crm-sync:problem:not-searchable",
    )
    assert client.get("/v1/tasks", params={"format": "pdf"}, headers=READER).status_code == 422
    assert client.get("/v1/tasks", params={"format": "csv"}).status_code == 401


def test_each_list_documents_its_own_filters(served: tuple[TestClient, str]) -> None:
    client, _ = served
    document = client.get("/openapi.json").json()

    def names(path: str) -> set[str]:
        return {p["name"] for p in document["paths"][path]["get"]["parameters"]}

    assert {"status", "owner", "format", "lang", "currency"} <= names("/v1/tasks")
    assert "channel" not in names("/v1/tasks")
    assert {"customer", "lead", "channel", "direction"} <= names("/v1/interactions")
    content = document["paths"]["/v1/contacts"]["get"]["responses"]["200"]["content"]
    assert {"text/csv", XLSX_TYPE} <= set(content)


def test_the_funnel_exports_through_the_api(served: tuple[TestClient, str]) -> None:
    client, _ = served
    answer = client.get(
        "/v1/funnel", params={"period": "1404-07", "by": "source", "format": "csv"}, headers=READER
    )
    assert answer.status_code == 200, answer.text
    assert 'filename="funnel-1404-07-source.csv"' in answer.headers["content-disposition"]
    rows = csv_rows(answer.content.decode("utf-8"))
    whole = [r for r in rows if r["group"] == ""]
    assert [(r["stage"], r["leads"]) for r in whole] == [
        ("lead", "4"), ("mql", "4"), ("qualified", "4"), ("opportunity", "3"),
        ("won", "1")]  # fmt: skip
    web = {r["stage"]: r for r in rows if r["group"] == "web"}
    assert (web["lead"]["by"], web["lead"]["leads"], web["won"]["leads"]) == ("source", "2", "1")
    sheet_answer = client.get(
        "/v1/funnel", params={"period": "1404-07", "lang": "fa"},
        headers={**READER, "Accept": XLSX_TYPE},
    )  # fmt: skip
    sheet, lines = sheet_rows(sheet_answer.content)
    assert sheet.sheet_view.rightToLeft is True
    assert (lines[0]["start_jalali"], lines[2]["drop_off_percent"]) == ("1404/07/01", 25.0)
    bad = client.get("/v1/funnel", params={"period": "1404-13", "format": "csv"}, headers=READER)
    assert bad.status_code == 422
