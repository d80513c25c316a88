"""The pipeline board page in a real headless Chromium: Persian RTL, Jalali, Toman, English.

The seeded history has two open opportunities: O3 in ``proposal`` (9,000,000 Rials, no
probability, no expected close, A2) and O7 in ``deal`` (5,000,000 Rials at 50%,
expected to close on 2025-11-20 = 1404/08/29, A1). So ``proposal`` is the more
valuable column (value 9,000,000, weighted 0, one without probability), ``deal`` has
a weighted 2,500,000, and the forecast is 2,500,000 in Aban 1404 (2025-11).
"""

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
    with seeded_site(request.param, tmp_path_factory.mktemp("board")) as served:
        yield served


def column(page: Any, stage: str) -> Any:
    return page.locator(f"#board section[data-stage={stage}]")


def test_the_board_in_persian_right_to_left_with_jalali_dates(new_page: Any, base_url: str) -> None:
    page = new_page(locale="fa-IR")
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base_url) else outside.append(r.url))
    sign_in(page, base_url, "/admin/pipeline")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator("h1").inner_text() == "تابلوی فرصت‌های فروش"
    stages = page.locator("#board section").evaluate_all("s => s.map(e => e.dataset.stage)")
    assert stages == ["proposal", "deal"], "the most valuable stage first"
    proposal = column(page, "proposal")
    assert proposal.locator("[data-field=count]").inner_text() == "۱"
    assert proposal.locator("dd[data-field=value]").first.inner_text() == "۹٬۰۰۰٬۰۰۰ ریال"
    assert proposal.locator("dd[data-field=weighted]").inner_text() == "۰ ریال"
    assert proposal.locator("dd[data-field=without_probability]").inner_text() == "۱"
    assert page.get_by_role("region", name="proposal").count() == 1
    card = column(page, "deal").locator("li[data-card=O7]")
    assert card.locator("h3").inner_text() == "O7"
    assert card.locator("[data-field=amount]").inner_text() == "۵٬۰۰۰٬۰۰۰ ریال"
    assert card.locator("[data-field=probability]").inner_text() == "۵۰٫۰٪"
    close = card.locator("[data-field=expected_close] time")
    assert close.inner_text() == "۱۴۰۴/۰۸/۲۹"
    assert close.get_attribute("datetime") == "2025-11-20"
    assert column(page, "proposal").locator("[data-field=expected_close]").inner_text() == (
        "تعیین نشده"
    )
    month = page.locator("#forecast tr[data-month='1404-08']")
    assert month.locator("th").inner_text() == "۱۴۰۴-۰۸"
    assert month.locator("[data-field=weighted]").inner_text() == "۲٬۵۰۰٬۰۰۰ ریال"
    assert page.locator("#forecast tr[data-month=''] [data-field=weighted]").inner_text() == (
        "۰ ریال"
    )
    assert month.locator("svg[aria-hidden=true] rect").get_attribute("width") == "160"
    assert page.locator("nav a[href='/admin/pipeline']").get_attribute("aria-current") == "page"
    assert outside == []


def test_toman_one_owner_and_the_gregorian_calendar_in_english(
    new_page: Any, base_url: str
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/pipeline")
    page.fill("#b-owner", "A1")
    page.select_option("#b-currency", "toman")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**currency=toman**")
    assert page.locator("#board section").count() == 1, "only A1's opportunity"
    deal = column(page, "deal")
    assert deal.locator("dd[data-field=value]").first.inner_text() == "500,000 Toman"
    assert deal.locator("[data-field=amount]").inner_text() == "500,000 Toman"
    assert page.locator("#b-currency").input_value() == "toman"
    # The calendar preference of the console's footer turns months and dates Gregorian.
    page.click("footer summary")
    page.select_option("select[name=calendar]", "gregorian")
    page.click("footer form.prefs button[type=submit]")
    page.wait_for_url("**currency=toman**")
    assert page.locator(
        "#forecast tr[data-month='2025-11'] [data-field=weighted]"
    ).inner_text() == ("250,000 Toman")
    assert deal.locator("[data-field=expected_close] time").inner_text() == "2025-11-20"
    assert deal.locator("[data-field=expected_close] time").get_attribute("title") == "1404/08/29"
    page.fill("#b-owner", "nobody")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**owner=nobody**")
    assert page.locator("#b-empty").inner_text() == "No opportunity is open."


def test_a_bad_owner_is_explained_and_downloads_nothing(new_page: Any, base_url: str) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/pipeline")
    answer = page.goto(f"{base_url}/admin/pipeline?owner=%3Cb%3Ex%3C/b%3E")
    assert answer is not None and answer.status == 422
    assert "cannot be an agent's id" in page.locator("#b-error").inner_text()
    assert page.input_value("#b-owner") == "<b>x</b>"
    assert page.locator("main b").count() == 0
    assert page.locator("#board").count() == 0
    answer = page.goto(f"{base_url}/admin/pipeline/export.csv?owner=a%20b")
    assert answer is not None and answer.status == 422


def test_the_board_downloads_in_rials_or_in_toman(new_page: Any, base_url: str) -> None:
    page = new_page(locale="fa-IR")
    sign_in(page, base_url, "/admin/pipeline")
    with page.expect_download() as caught:
        page.click("#b-exports a[data-export=xlsx]")
    assert caught.value.suggested_filename == "pipeline.xlsx"
    sheet = load_workbook(io.BytesIO(Path(caught.value.path()).read_bytes())).worksheets[0]
    assert sheet.sheet_view.rightToLeft is True
    values = list(sheet.iter_rows(values_only=True))
    rows = {r[1]: dict(zip(values[0], r, strict=True)) for r in values[1:]}
    assert (rows["O7"]["amount_rials"], rows["O7"]["weighted_rials"]) == (5_000_000, 2_500_000)
    assert rows["O7"]["expected_close_jalali"] == "1404/08/29"

    page.select_option("#b-currency", "toman")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**currency=toman**")
    with page.expect_download() as toman:
        page.click("#b-exports a[data-export=csv]")
    text = Path(toman.value.path()).read_text(encoding="utf-8-sig")
    lines = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert set(lines) == {"O3", "O7"}
    assert (float(lines["O7"]["amount_toman"]), float(lines["O7"]["weighted_toman"])) == (
        500_000,
        250_000,
    )
    assert float(lines["O3"]["amount_toman"]) == 900_000


def test_a_phone_sees_the_columns_stacked(new_page: Any, base_url: str) -> None:
    page = new_page(locale="fa-IR", viewport={"width": 390, "height": 800})
    sign_in(page, base_url, "/admin/pipeline")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_dashboard_shows_and_exports_toman_when_asked(new_page: Any, base_url: str) -> None:
    # Mehr's won opportunities with an amount: O1 1,000,000 and O4 2,000,000 Rials.
    page = new_page(locale="fa-IR")
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    won = page.locator("tr[data-kpi=average_won_value] [data-field=value]")
    assert won.inner_text() == "۱٬۵۰۰٬۰۰۰ ریال"
    page.select_option("#k-currency", "toman")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**currency=toman**")
    assert won.inner_text() == "۱۵۰٬۰۰۰ تومان"
    with page.expect_download() as caught:
        page.click("#k-exports a[data-export=csv]")
    text = Path(caught.value.path()).read_text(encoding="utf-8-sig")
    line = next(r for r in csv.DictReader(io.StringIO(text)) if r["kpi"] == "average_won_value")
    assert (line["unit"], float(line["value"]), float(line["numerator"])) == (
        "toman",
        150_000,
        300_000,
    )


def test_the_dashboard_shows_customers_new_returning_and_lost(new_page: Any, base_url: str) -> None:
    # C1's purchases are O1 (won 6 Oct 2025) and O4 (won 13 Oct 2025), both in Mehr 1404.
    page = new_page(locale="en-US")
    sign_in(page, base_url, "/admin/kpis?period=1404-07")
    section = page.locator("section#customers")
    assert section.locator("h2").inner_text() == "Customers: new, returning and lost"
    periods = section.locator("tbody tr").evaluate_all("r => r.map(e => e.dataset.period)")
    assert periods == ["1404-02", "1404-03", "1404-04", "1404-05", "1404-06", "1404-07"]
    mehr = section.locator("tr[data-period='1404-07']")
    assert mehr.get_attribute("aria-current") == "true"
    cells = [mehr.locator(f"[data-field={f}]").inner_text() for f in ("new", "returning", "lost")]
    assert cells == ["1", "0", "0"]
    assert mehr.locator("[data-field=lost_rate]").inner_text() == "no data"
    spark = section.locator("[data-spark=new] svg[role=img]")
    assert "1404-07: 1.0" in (spark.get_attribute("aria-label") or "")
