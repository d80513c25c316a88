"""The admin console in a real headless Chromium: sign in, search, act, pause, roles, safety."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from core import PermanentError, PushResult
from core.db.sync_tables import SYNCED, SyncState
from core.sync.pause import pause_of
from core.sync.runtime import SyncRuntime
from tests.core.admin.conftest import TOKENS, put
from tests.core.scripted_plugin import ScriptedPlugin

#: Makes the page believe its tab was hidden or shown again.
VISIBILITY = (
    "Object.defineProperty(document, 'visibilityState', {{value: '{state}', configurable: true}});"
    "document.dispatchEvent(new Event('visibilitychange'));"
)


def sign_in(page: Any, base_url: str, role: str, path: str = "/admin") -> None:
    page.goto(f"{base_url}{path}")
    assert "/admin/sign-in" in page.url, "an anonymous visitor is sent to sign in"
    page.fill("#token", TOKENS[role])
    page.click("form[action='/admin/sign-in'] button[type=submit]")
    page.wait_for_url(f"**{path}")


def states(runtime: SyncRuntime, prefix: str) -> dict[str, str]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            select(SyncState.record_id, SyncState.state).where(
                SyncState.record_id.like(f"{prefix}%")
            )
        ).all()
    return {row.record_id: row.state for row in rows}


def wait_for(check: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_an_operator_finds_dead_deliveries_by_error_text_and_retries_the_filtered_set(
    new_page: Any, base_url: str, console_runtime: SyncRuntime
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "operator", "/admin/deliveries")
    page.fill("#f-error", "unknown tax")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**error=unknown+tax**")
    assert page.get_attribute("#total", "data-total") == "6"
    assert page.locator("tr[data-key]").count() == 6
    group = page.locator("ul.groups li[data-class='http-422']")
    assert "HTTP 422" in group.inner_text() and "unknown tax code" in group.inner_text()

    # A delivery that dies after the count is not part of the job.
    page.click("#bulk button[value=retry]")
    page.wait_for_url("**/admin/jobs/*")
    assert page.locator("[data-field=total]").inner_text() in ("6", "۶")
    late = "TAX-LATE"
    put(console_runtime, late)
    with console_runtime.engine.begin() as connection:
        connection.execute(
            SyncState.__table__.update()
            .where(SyncState.record_id == late)
            .values(state="dead", last_error="HTTP 422 from erp.example: unknown tax code")
        )
    page.fill("#job-reason", "tax codes fixed in the ERP")
    page.click("form[action$='/confirm'] button")
    page.wait_for_selector("#job[data-job-state=done]", timeout=20_000)
    assert "6" in page.locator("[data-field=progress]").inner_text()

    wait_for(
        lambda: all(
            state == SYNCED
            for record_id, state in states(console_runtime, "TAX-").items()
            if record_id != late
        ),
        "the retried deliveries to be sent",
    )
    assert states(console_runtime, late)[late] == "dead", "a row counted later is left alone"

    page.goto(f"{base_url}/admin/audit")
    entry = page.locator("tr[data-action=retry]").first
    assert "operator" in entry.inner_text()
    assert "tax codes fixed in the ERP" in entry.inner_text()
    assert "unknown tax" in entry.inner_text(), "the filter is recorded"
    assert page.locator("tr[data-action='retry.finished']").count() == 1


def test_pausing_and_resuming_a_plugin_from_the_overview(
    new_page: Any, base_url: str, console_runtime: SyncRuntime
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "operator")
    card = page.locator("section.plugin[data-plugin=scripted]")
    assert card.locator("[data-paused=no]").count() == 1
    card.locator("input[name=reason]").fill("ERP upgrade tonight")
    card.locator("button[value=pause]").click()
    page.wait_for_url("**notice=pause**")
    assert page.locator("section.plugin[data-plugin=scripted] [data-paused=yes]").count() == 1
    pause = pause_of(console_runtime.engine, "scripted")
    assert pause is not None and pause.paused_by == "operator"
    assert pause.reason == "ERP upgrade tonight"

    page.locator("section.plugin[data-plugin=scripted] button[value=resume]").click()
    page.wait_for_url("**notice=resume**")
    assert pause_of(console_runtime.engine, "scripted") is None
    page.goto(f"{base_url}/admin/audit")
    assert page.locator("tr[data-action=pause]").count() == 1
    assert page.locator("tr[data-action=resume]").count() == 1


def test_a_reader_sees_the_lists_but_cannot_retry(
    new_page: Any, base_url: str, console_runtime: SyncRuntime
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "reader", "/admin/deliveries")
    assert page.locator("tr[data-key]").count() == 6
    assert page.locator("button[value=retry]").count() == 0, "no retry button for a reader"
    csrf = page.get_attribute("input[name=csrf]", "value")
    answer = page.request.post(
        f"{base_url}/admin/deliveries/act",
        form={"csrf": csrf, "action": "retry", "key": "scripted/customer/TAX-0"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert states(console_runtime, "TAX-0")["TAX-0"] == "dead"


def test_a_post_without_the_csrf_token_is_refused_and_get_changes_nothing(
    new_page: Any, base_url: str, console_runtime: SyncRuntime
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "admin")
    refused = page.request.post(
        f"{base_url}/admin/plugins/scripted/pause", form={"reason": "x"}, max_redirects=0
    )
    assert refused.status == 403
    wrong = page.request.post(
        f"{base_url}/admin/plugins/scripted/pause",
        form={"reason": "x", "csrf": "not-the-token"},
        max_redirects=0,
    )
    assert wrong.status == 403
    by_get = page.request.get(f"{base_url}/admin/plugins/scripted/pause", max_redirects=0)
    assert by_get.status == 405
    assert pause_of(console_runtime.engine, "scripted") is None


def test_persian_is_right_to_left_with_jalali_dates_and_english_is_left_to_right(
    new_page: Any, base_url: str
) -> None:
    page = new_page(locale="fa-IR")
    sign_in(page, base_url, "reader", "/admin/deliveries")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "fa"
    direction = page.evaluate("getComputedStyle(document.body).direction")
    assert direction == "rtl"
    first_date = page.locator("tr[data-key] time").first
    assert first_date.inner_text().startswith("۱۴"), "a Jalali year in Persian digits"
    assert first_date.get_attribute("title")[:2] == "۲۰", "the Gregorian date on hover"
    assert "فهرست ناموفق‌ها" in page.inner_text("h1")
    page.click("footer summary")
    page.select_option("select[name=language]", "en")
    page.select_option("select[name=calendar]", "gregorian")
    page.select_option("select[name=digits]", "latin")
    page.click("footer form.prefs button")
    page.wait_for_load_state()
    assert page.get_attribute("html", "dir") == "ltr"
    assert page.locator("tr[data-key] time").first.inner_text().startswith("20")
    phone = new_page(locale="fa-IR", viewport={"width": 390, "height": 844})
    sign_in(phone, base_url, "reader")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the overview fits a phone's width"


def test_markup_in_records_and_errors_stays_text_and_nothing_loads_from_outside(
    new_page: Any, base_url: str, console_runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    hostile = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned=2'>"
    put(console_runtime, "EVIL", name=hostile)
    scripted.script.append(lambda documents: [PushResult(error=PermanentError(hostile))])
    console_runtime.sync.process("scripted", [("customer", "EVIL")])
    page = new_page(locale="en-US")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, base_url, "reader", "/admin/deliveries/scripted/customer/EVIL")
    assert page.evaluate("window.__pwned") is None
    assert hostile in page.inner_text("[data-field=error]")
    assert "<script>window.__pwned" in page.inner_text("#record")
    page.goto(f"{base_url}/admin/deliveries?content=__pwned")
    assert page.locator("tr[data-key]").count() == 1, "found by the record's content"
    assert page.evaluate("window.__pwned") is None
    assert requested and all(url.startswith(base_url) for url in requested)
    answer = page.request.get(f"{base_url}/admin")
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp


def test_the_overview_refreshes_itself_only_while_the_tab_is_visible(
    new_page: Any, base_url: str
) -> None:
    page = new_page(locale="en-US")
    sign_in(page, base_url, "reader")
    page.wait_for_selector("#overview[data-refreshed]", timeout=10_000)
    page.evaluate(VISIBILITY.format(state="hidden"))
    stamp = page.get_attribute("#overview", "data-refreshed")
    page.wait_for_timeout(4500)
    assert page.get_attribute("#overview", "data-refreshed") == stamp
    page.evaluate(VISIBILITY.format(state="visible"))
    wait_for(
        lambda: page.get_attribute("#overview", "data-refreshed") != stamp,
        "a refresh once the tab is visible again",
        timeout=5,
    )


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """SQLite, unless a test asks for PostgreSQL too (the bulk retry flow does)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'console.db'}"
