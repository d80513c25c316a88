"""The KPI dashboard in a real headless Chromium: Persian RTL with Jalali dates, English, roles."""

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
    """The whole app on the seeded history, served on loopback."""
    with seeded_site(request.param, tmp_path_factory.mktemp("kpis-pages")) as served:
        yield served


def row(page: Any, kpi: str) -> Any:
    return page.locator(f"tr[data-kpi={kpi}]")


def test_the_dashboard_in_persian_right_to_left(new_page: Any, base_url: str) -> None:
    page = new_page(locale="fa-IR")
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "fa"
    assert "شاخص‌های فروش" in page.locator("h1").inner_text()
    assert "۱۴۰۴-۰۷" in page.locator("h1").inner_text()
    lead = row(page, "lead_to_opportunity")
    assert lead.get_attribute("data-status") == "green"
    assert lead.locator("[data-field=value]").inner_text() == "۶۶٫۷٪"
    assert "در حد هدف" in lead.inner_text()
    assert row(page, "on_time_follow_up").get_attribute("data-status") == "red"
    assert "۱۵" in row(page, "average_response_time").locator("[data-field=target]").inner_text()
    # Jalali dates of the period's bounds, in the Tehran zone.
    bounds = page.locator("#k-range time").first
    assert bounds.inner_text().startswith("۱۴۰۴/۰۷/۰۱")
    assert bounds.get_attribute("datetime") == "2025-09-22T20:30:00+00:00"
    # The sparkline names every period in words, not only in a drawing.
    spark = row(page, "lead_to_opportunity").locator("svg[role=img]")
    assert "۱۴۰۴-۰۶: ۰٫۰" in (spark.get_attribute("aria-label") or "")
    assert page.locator("#lost-reasons td").first.inner_text() == "price"


def test_english_by_agent_and_an_empty_period(new_page: Any, base_url: str) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    page.select_option("#k-by", "agent")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**by=agent**")
    assert page.get_attribute("html", "dir") == "ltr"
    first = page.locator("section[data-groups=first_response_time]")
    assert first.locator("tr[data-group=A1] [data-field=value]").inner_text() == "25.0 min"
    assert first.locator("tr[data-group=A2] [data-field=value]").inner_text() == "45.0 min"
    assert page.locator("section[data-groups=average_response_time]").count() == 0

    page.fill("#k-period", "1404-01")
    page.select_option("#k-by", "")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**period=1404-01**")
    values = page.locator("#kpis [data-field=value]").all_inner_texts()
    assert values and set(values) == {"no data"}


def test_a_bad_period_is_explained_and_nothing_is_loaded_from_outside(
    new_page: Any, base_url: str
) -> None:
    page = new_page(locale="en-US")
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(base_url) else None,
    )
    sign_in(page, base_url, "/admin/kpis")
    page.fill("#k-period", "<b>1404</b>")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector("#k-error")
    assert "cannot be read" in page.locator("#k-error").inner_text()
    assert page.input_value("#k-period") == "<b>1404</b>", "kept as text"
    assert page.locator("main b").count() == 0
    assert page.locator("#kpis").count() == 0
    assert outside == []
    # The navigation of the console leads here.
    assert page.locator("nav a[href='/admin/kpis']").get_attribute("aria-current") == "page"


def test_a_phone_sees_the_table_scroll_not_the_page(new_page: Any, base_url: str) -> None:
    page = new_page(locale="fa-IR", viewport={"width": 390, "height": 800})
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page itself does not scroll sideways"


def test_the_table_downloads_as_a_right_to_left_workbook(new_page: Any, base_url: str) -> None:
    page = new_page(locale="fa-IR")
    sign_in(page, base_url, "/admin/kpis?period=1404-07&by=agent")
    link = page.locator("#k-exports a[data-export=xlsx]")
    assert link.inner_text() == "دریافت جدول به صورت فایل اکسل (XLSX)"
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    assert download.suggested_filename == "kpis-1404-07-agent.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes())).worksheets[0]
    assert sheet.sheet_view.rightToLeft is True
    values = list(sheet.iter_rows(values_only=True))
    rows = [dict(zip(values[0], line, strict=True)) for line in values[1:]]
    a2 = next(r for r in rows if r["kpi"] == "first_response_time" and r["group"] == "A2")
    assert (a2["value"], a2["start_jalali"]) == (45.0, "1404/07/01")


def test_an_english_page_downloads_csv_and_a_bad_period_downloads_nothing(
    new_page: Any, base_url: str
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    link = page.locator("#k-exports a[data-export=csv]")
    assert link.inner_text() == "Download the table as CSV"
    with page.expect_download() as caught:
        link.click()
    text = Path(caught.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    total = next(r for r in rows if r["kpi"] == "lead_to_opportunity")
    assert (total["numerator"], total["denominator"]) == ("2", "3")
    with page.expect_download() as english:
        page.click("#k-exports a[data-export=xlsx]")
    assert (
        not load_workbook(io.BytesIO(Path(english.value.path()).read_bytes()))
        .worksheets[0]
        .sheet_view.rightToLeft
    )
    answer = page.goto(f"{base_url}/admin/kpis/export.xlsx?period=1404-13")
    assert answer is not None and answer.status == 422
    assert "cannot be read" in page.locator("#k-error").inner_text()


def stage(page: Any, name: str) -> Any:
    return page.locator(f"#funnel tr[data-stage={name}]")


def test_the_funnel_in_persian_and_english(new_page: Any, base_url: str) -> None:
    # Mehr 1404's leads: 4 created, 4 qualified, 3 with an opportunity, 1 won
    # (tests/kpis/test_api.py::test_the_funnel_of_mehr_by_hand computes it).
    page = new_page(locale="fa-IR")
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    funnel = page.locator("section#funnel")
    assert funnel.locator("h2").inner_text() == "قیف سرنخ‌های دوره"
    assert page.get_by_role("region", name="قیف سرنخ‌های دوره").count() == 1
    assert [stage(page, n).locator("[data-field=count]").inner_text() for n in (
        "lead", "qualified", "opportunity", "won")] == ["۴", "۴", "۳", "۱"]  # fmt: skip
    assert stage(page, "qualified").locator("[data-field=drop_off]").inner_text() == "۲۵٫۰٪"
    assert "سرنخ" in stage(page, "lead").locator("th").inner_text()
    assert stage(page, "won").locator("svg[aria-hidden=true]").count() == 1

    english = new_page(locale="en-US")
    sign_in(english, base_url, "/admin/kpis?period=1404-07")
    assert stage(english, "opportunity").locator("th").inner_text() == "Opportunity"
    assert stage(english, "opportunity").locator("[data-field=drop_off]").inner_text() == "66.7%"
    assert stage(english, "qualified").locator("[data-field=days]").inner_text() == "7.0 days"
    widths = [
        float(stage(english, n).locator("rect").get_attribute("width") or "nan")
        for n in ("lead", "opportunity", "won")
    ]
    assert widths == [160, 120, 40], "bars as wide as each stage's share of the leads"
    english.fill("#k-period", "1405-01")
    english.click("form[role=search] button[type=submit]")
    english.wait_for_url("**period=1405-01**")
    assert stage(english, "lead").locator("[data-field=count]").inner_text() == "0"
    assert stage(english, "lead").locator("[data-field=drop_off]").inner_text() == "no data"
