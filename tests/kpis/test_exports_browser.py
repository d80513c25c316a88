"""The console's exports in a real headless Chromium: the exports page, the funnel, customers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.kpis.served import seeded_site, sign_in


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def base_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app on the seeded history."""
    with seeded_site(request.param, tmp_path_factory.mktemp("exports")) as served:
        yield served


def rows_of(download: Any) -> list[dict[str, str]]:
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_a_filtered_list_downloads_from_the_persian_page(new_page: Any, base_url: str) -> None:
    page = new_page(locale="fa-IR")
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base_url) else outside.append(r.url))
    sign_in(page, base_url, "/admin/exports")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator("h1").inner_text() == "خروجی‌ها"
    assert page.locator("#e-kind option[value=tasks]").inner_text() == "کارها"
    assert "کارها" in page.locator("#e-status-help").inner_text()
    page.select_option("#e-kind", "tasks")
    page.fill("#e-owner", "A2")
    page.fill("#e-status", "open")
    with page.expect_download() as caught:
        page.click("#e-form button[type=submit]")
    assert caught.value.suggested_filename == "tasks.xlsx"
    sheet = load_workbook(io.BytesIO(Path(caught.value.path()).read_bytes())).worksheets[0]
    assert sheet.sheet_view.rightToLeft is True
    values = list(sheet.iter_rows(values_only=True))
    assert "due_at_jalali" in values[0]
    assert sorted(row[0] for row in values[1:]) == ["T3", "T6"]
    assert outside == []
    assert page.locator("nav a[href='/admin/exports']").get_attribute("aria-current") == "page"


def test_a_filter_the_list_lacks_is_explained(new_page: Any, base_url: str) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/exports")
    page.select_option("#e-kind", "customers")
    page.select_option("#e-format", "csv")
    page.fill("#e-channel", "call")
    page.click("#e-form button[type=submit]")
    page.wait_for_selector("#e-error")
    assert page.locator("#e-error").inner_text() == (
        "Customers cannot be filtered by Channel; nothing was downloaded."
    )
    assert page.input_value("#e-channel") == "call", "what was chosen stays on the form"
    assert page.locator("#e-kind").input_value() == "customers"
    answer = page.goto(f"{base_url}/admin/exports/download?kind=tasks&q=x")
    assert answer is not None and answer.status == 422
    assert (
        page.locator("#e-error").inner_text() == "Tasks cannot be searched; nothing was downloaded."
    )
    answer = page.goto(f"{base_url}/admin/exports/download?kind=planets")
    assert answer is not None and answer.status == 422


def test_opportunities_in_toman_as_csv(new_page: Any, base_url: str) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/exports")
    page.select_option("#e-kind", "opportunities")
    page.select_option("#e-format", "csv")
    page.select_option("#e-currency", "toman")
    page.fill("#e-stage", "deal")
    with page.expect_download() as caught:
        page.click("#e-form button[type=submit]")
    rows = rows_of(caught.value)
    assert [(r["id"], float(r["amount_toman"])) for r in rows] == [("O7", 500_000)]


def test_the_funnel_and_the_customers_download_from_the_dashboard(
    new_page: Any, base_url: str
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    with page.expect_download() as caught:
        page.click("#funnel-exports a[data-export=csv]")
    assert caught.value.suggested_filename == "funnel-1404-07.csv"
    stages = [(r["stage"], r["leads"], r["drop_off_percent"]) for r in rows_of(caught.value)]
    assert stages == [("lead", "4", "0.0"), ("mql", "4", "0.0"), ("qualified", "4", "25.0"),
                      ("opportunity", "3", "66.7"), ("won", "1", "")]  # fmt: skip
    with page.expect_download() as customers:
        page.click("#customers-exports a[data-export=csv]")
    last = rows_of(customers.value)[-1]
    assert (last["period"], last["new"], last["start_jalali"]) == ("1404-07", "1", "1404/07/01")
