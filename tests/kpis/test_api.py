"""``GET /v1/kpis`` and ``/v1/kpis/{name}``: figures, targets, colours, roles, bad input."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.exceptions import StarletteDeprecationWarning

from core.api.app import create_app
from core.settings import Settings
from core.testing.fixtures import migrated_runtime
from kpis.xlsx_export import XLSX_TYPE
from tests.kpis.conftest import database, seed

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

READER = {"Authorization": "Bearer reader-token-0123456789"}
TOKENS = "reader:reader:reader-token-0123456789"
Get = Callable[..., Any]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The API on the seeded history, south's on-time follow-up target lowered to 40%."""
    folder = tmp_path_factory.mktemp("kpis-api")
    with database(request.param, folder) as url:
        settings = Settings(
            data_dir=folder / "data",
            database_url=url,
            api_tokens=TOKENS,
            kpis={
                "targets": {
                    "on_time_follow_up": {
                        "direction": "above",
                        "value": 90,
                        "amber": 5,
                        "teams": {"south": {"value": 40}},
                    }
                }
            },
        )
        runtime = migrated_runtime(settings)
        try:
            seed(runtime.engine)
            with TestClient(create_app(runtime, background=False)) as test_client:
                yield test_client
        finally:
            runtime.close()


@pytest.fixture
def get(client: TestClient) -> Get:
    """GET as a reader; the decoded body, after checking the status."""

    def call(path: str, status: int = 200, **params: str) -> Any:
        answer = client.get(path, params=params, headers=READER)
        assert answer.status_code == status, answer.text
        return answer.json()

    return call


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {kpi["name"]: kpi for kpi in body["kpis"]}


def test_every_kpi_of_mehr_against_its_target(get: Get) -> None:
    body = get("/v1/kpis", period="1404-07")
    assert body["period"] == {
        "label": "1404-07",
        "calendar": "jalali",
        "unit": "month",
        "start": "2025-09-22T20:30:00Z",
        "end": "2025-10-22T20:30:00Z",
        "previous": "1404-06",
    }
    kpis = by_name(body)
    status = {name: kpi["status"] for name, kpi in kpis.items()}
    assert status == {
        "lead_to_opportunity": "green",  # 66.7% >= 35%
        "opportunity_to_order": "green",  # 50% >= 28%
        "first_response_time": "green",  # 31.7 < 60 minutes
        "average_response_time": "amber",  # 17.5 minutes, 2.5 over 15, within 5
        "on_time_follow_up": "red",  # 75%, 15 under 90, beyond 5
        "touchpoints_to_conversion": "amber",  # 2.5, within 1 of 3-5
        "win_rate_by_value": "no_target",
        "average_won_value": "no_target",
        "cycle_length": "no_target",
        "pipeline_velocity": "no_data",  # rising, but Shahrivar had no velocity
        "first_contact_resolution": "red",  # 50%, 25 under 75, beyond 5
        "csat": "amber",  # 4.4, 0.1 under 4.5, within 0.2
        "csat_satisfied": "no_target",
        "nps": "no_target",  # set by the user
        "mrr": "no_target",
        "arr": "no_target",
        "mrr_growth": "green",  # 48% >= 8%
        "customer_churn": "red",  # 33.3%, far above 2.5%
        "revenue_churn": "red",  # 40%
        "customer_lifetime_value": "no_data",  # rising, but Shahrivar lost nobody: no CLV
    }
    lead = kpis["lead_to_opportunity"]
    assert (lead["numerator"], lead["denominator"]) == (2, 3)
    assert (lead["previous"], round(lead["change"], 2)) == (0.0, 66.67)
    assert [p["period"] for p in lead["trend"]] == [
        "1404-02", "1404-03", "1404-04", "1404-05", "1404-06", "1404-07",
    ]  # fmt: skip
    assert [p["value"] for p in lead["trend"]][-2:] == [0.0, lead["value"]]
    assert lead["trend"][0]["value"] is None
    assert lead["target"] == {"direction": "at_least", "value": 35.0, "high": None, "amber": 5.0}
    assert kpis["first_response_time"]["details"] == {"median": 30.0, "unanswered": 1}
    assert body["lost_reasons"] == [
        {"reason": "price", "count": 1},
        {"reason": "timing", "count": 1},
    ]


def test_by_team_uses_each_teams_target(get: Get) -> None:
    kpis = by_name(get("/v1/kpis", period="1404-07", by="team"))
    groups = {g["key"]: (g["value"], g["status"]) for g in kpis["on_time_follow_up"]["groups"]}
    assert groups == {"north": (100.0, "green"), "south": (50.0, "green")}
    # Figures that have no team dimension come without groups, not with an error.
    assert kpis["average_response_time"]["groups"] == []


def test_one_kpi_per_agent(get: Get) -> None:
    kpi = get("/v1/kpis/first_response_time", period="1404-07", by="agent")
    assert [(g["key"], g["value"], g["details"]["unanswered"]) for g in kpi["groups"]] == [
        ("A1", 25.0, 0),
        ("A2", 45.0, 1),
    ]
    lines = get("/v1/kpis/opportunity_to_order", period="۱۴۰۴-۰۷", by="product_line")
    assert {g["key"]: g["value"] for g in lines["groups"]} == {"pumps": 100.0, "valves": 0.0}


def test_an_empty_period_is_no_data_not_zero(get: Get) -> None:
    kpis = by_name(get("/v1/kpis", period="1404-01"))
    assert {kpi["value"] for kpi in kpis.values()} == {None}
    assert {kpi["status"] for kpi in kpis.values()} <= {"no_data", "no_target"}


def test_a_gregorian_quarter(get: Get) -> None:
    # 2025-Q4 from 1 October Tehran time: O1, O4 won, O2, O5 lost (O6 on 30 September).
    kpi = get("/v1/kpis/opportunity_to_order", period="2025-Q4")
    assert (kpi["numerator"], kpi["denominator"]) == (2, 4)


@pytest.mark.parametrize(
    ("path", "params", "status", "slug"),
    [
        ("/v1/kpis", {"period": "1404-13"}, 422, "invalid-period"),
        ("/v1/kpis", {"period": "mehr"}, 422, "invalid-period"),
        ("/v1/kpis", {"by": "planet"}, 422, "validation-error"),
        ("/v1/kpis/average_response_time", {"by": "agent"}, 422, "unsupported-dimension"),
        ("/v1/kpis/nps_of_mars", {}, 404, "not-found"),
        ("/v1/kpis/DROP TABLE", {}, 422, "validation-error"),
    ],
)
def test_bad_input_is_refused_with_a_problem(
    get: Get, path: str, params: dict[str, str], status: int, slug: str
) -> None:
    problem = get(path, status, **params)
    assert problem["type"].endswith(slug)
    assert problem["status"] == status


def test_a_token_is_required(client: TestClient) -> None:
    assert client.get("/v1/kpis").status_code == 401
    bad = client.get("/v1/kpis", headers={"Authorization": "Bearer nope-nope-nope-nope"})
    assert bad.status_code == 401


def test_the_routes_are_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {"/v1/kpis", "/v1/kpis/{name}", "/v1/funnel", "/v1/pipeline"} <= set(document["paths"])
    assert "FunnelReportOut" in document["components"]["schemas"]
    assert "ReportOut" in document["components"]["schemas"]


def test_unknown_kpis_in_the_targets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown KPIs: nps_of_mars"):
        Settings(data_dir=tmp_path, kpis={"targets": {"nps_of_mars": {"direction": "rising"}}})
    with pytest.raises(ValueError, match="needs value <= high"):
        Settings(
            data_dir=tmp_path,
            kpis={"targets": {"touchpoints_to_conversion": {"direction": "between", "value": 5}}},
        )


def test_the_kpi_table_as_csv_for_excel(client: TestClient) -> None:
    answer = client.get(
        "/v1/kpis", params={"period": "1404-07", "by": "agent", "format": "csv"}, headers=READER
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="kpis-1404-07-agent.csv"' in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    total = next(r for r in rows if r["kpi"] == "lead_to_opportunity" and r["group"] == "")
    assert total["start_jalali"] == "1404/07/01"
    assert total["start"] == "2025-09-22T20:30:00Z"
    assert (total["numerator"], total["denominator"], total["status"]) == ("2", "3", "green")
    a2 = next(r for r in rows if r["kpi"] == "first_response_time" and r["group"] == "A2")
    assert (a2["by"], a2["value"]) == ("agent", "45.0")
    empty = next(r for r in rows if r["kpi"] == "pipeline_velocity" and r["group"] == "")
    assert empty["previous"] == "", "no data is an empty cell, not 0"
    by_accept = client.get(
        "/v1/kpis", params={"period": "1404-07"}, headers={**READER, "Accept": "text/csv"}
    )
    assert by_accept.content.startswith("\ufeff".encode())


def test_a_formula_in_a_source_stays_text_in_the_csv(client: TestClient) -> None:
    answer = client.get(
        "/v1/kpis/lead_to_opportunity", params={"period": "1405-02", "by": "source"}, headers=READER
    )
    assert [g["key"] for g in answer.json()["groups"]] == [
        '=HYPERLINK("http://evil.example","مشتری")'
    ]
    exported = client.get(
        "/v1/kpis", params={"period": "1405-02", "by": "source", "format": "csv"}, headers=READER
    )
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    groups = {r["group"] for r in rows if r["kpi"] == "lead_to_opportunity" and r["group"]}
    assert groups == {'\'=HYPERLINK("http://evil.example","مشتری")'}


def sheet_rows(content: bytes) -> tuple[Any, list[dict[str, Any]]]:
    """The first sheet of an XLSX download and its rows as dicts keyed by the header."""
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    return sheet, [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_the_kpi_table_as_xlsx(client: TestClient) -> None:
    answer = client.get(
        "/v1/kpis", params={"period": "1404-07", "by": "agent", "format": "xlsx"}, headers=READER
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX_TYPE
    assert 'filename="kpis-1404-07-agent.xlsx"' in answer.headers["content-disposition"]
    sheet, rows = sheet_rows(answer.content)
    assert sheet.sheet_view.rightToLeft is True, "the console speaks Persian by default"
    assert sheet.freeze_panes == "A2"
    total = next(r for r in rows if r["kpi"] == "lead_to_opportunity" and r["group"] is None)
    assert (total["start"], total["start_jalali"]) == ("2025-09-22T20:30:00Z", "1404/07/01")
    assert (total["numerator"], total["denominator"], total["status"]) == (2, 3, "green")
    a2 = next(r for r in rows if r["kpi"] == "first_response_time" and r["group"] == "A2")
    assert (a2["by"], a2["value"]) == ("agent", 45.0)
    empty = next(r for r in rows if r["kpi"] == "pipeline_velocity" and r["group"] is None)
    assert empty["previous"] is None, "no data is an empty cell, not 0"
    english = client.get(
        "/v1/kpis",
        params={"period": "1404-07"},
        headers={**READER, "Accept": XLSX_TYPE, "Accept-Language": "en-GB"},
    )
    assert english.headers["content-type"] == XLSX_TYPE
    assert not sheet_rows(english.content)[0].sheet_view.rightToLeft
    persian = client.get(
        "/v1/kpis",
        params={"period": "1404-07", "format": "xlsx", "lang": "fa"},
        headers={**READER, "Accept-Language": "en"},
    )
    assert sheet_rows(persian.content)[0].sheet_view.rightToLeft is True
    refused = client.get("/v1/kpis", params={"format": "xls"}, headers=READER)
    assert refused.status_code == 422
    assert (
        client.get(
            "/v1/kpis", params={"period": "1404-13", "format": "xlsx"}, headers=READER
        ).status_code
        == 422
    )


def test_a_formula_in_a_source_stays_text_in_the_xlsx(client: TestClient) -> None:
    exported = client.get(
        "/v1/kpis", params={"period": "1405-02", "by": "source", "format": "xlsx"}, headers=READER
    )
    rows = sheet_rows(exported.content)[1]
    groups = {r["group"] for r in rows if r["kpi"] == "lead_to_opportunity" and r["group"]}
    assert groups == {'\'=HYPERLINK("http://evil.example","مشتری")'}


def test_the_pipeline_board_and_its_forecast(get: Get) -> None:
    # Open: O3 (proposal, 9M, no probability, no expected close) and O7 (deal, 5M at 50%,
    # expected on 2025-11-20 = 29 Aban 1404).
    board = get("/v1/pipeline")
    stages = {s["name"]: s for s in board["stages"]}
    assert [s["name"] for s in board["stages"]] == ["proposal", "deal"], "most valuable first"
    assert (stages["proposal"]["value"], stages["proposal"]["weighted_value"]) == (9e6, 0.0)
    assert stages["proposal"]["without_probability"] == 1
    card = stages["deal"]["cards"][0]
    assert (card["id"], card["owner_id"], card["probability"]) == ("O7", "A1", 50)
    assert card["expected_close_date"] == "2025-11-20"
    assert stages["deal"]["weighted_value"] == 2.5e6
    assert board["forecast"] == [{"month": "1404-08", "weighted_value": 2.5e6}]
    assert board["undated_weighted_value"] == 0.0
    mine = get("/v1/pipeline", owner="A2")
    assert [s["name"] for s in mine["stages"]] == ["proposal"]
    assert get("/v1/pipeline", 422, owner="../x")["status"] == 422
    assert get("/v1/pipeline", 422, limit="0")["status"] == 422


def test_the_funnel_of_mehr_by_hand(get: Get) -> None:
    # Leads created in Mehr 1404: L1, L2, L3, L5 (L4 is of Shahrivar 31, 23:50 Tehran).
    # All four qualified; L1, L3 and L5 got an opportunity; only L1's was won.
    # Days created -> qualified: L1 1.0, L2 1.71, L3 0 (qualified before it was
    # created), L5 0.49; median 0.75. Qualified -> opportunity: L1 1.0, L3 7.04,
    # L5 30.92; median 7.04. Opportunity -> won: L1 10.0.
    body = get("/v1/funnel", period="1404-07")
    assert body["period"]["label"] == "1404-07"
    stages = {s["name"]: s for s in body["funnel"]["stages"]}
    # MQL: L1 two hours after its creation, L2 17 hours after; L3 and L5 were sales
    # qualified without one, so they are MQLs at their qualification. Days created ->
    # MQL: L1 0.08, L2 0.71, L3 0, L5 0.49, median 0.29; MQL -> qualified: L1 0.92,
    # L2 1.0, L3 and L5 0, median 0.46.
    assert [s["name"] for s in body["funnel"]["stages"]] == [
        "lead",
        "mql",
        "qualified",
        "opportunity",
        "won",
    ]
    assert [stages[n]["count"] for n in stages] == [4, 4, 4, 3, 1]
    assert [stages[n]["drop_off"] for n in stages] == [0.0, 0.0, 25.0, 66.7, None]
    assert [stages[n]["median_days"] for n in stages] == [0.29, 0.46, 7.04, 10.0, None]
    assert [stages[n]["timed"] for n in stages] == [4, 4, 3, 1, 0]
    assert body["groups"] == []
    by_source = get("/v1/funnel", period="1404-07", by="source")
    groups = {g["key"]: [s["count"] for s in g["stages"]] for g in by_source["groups"]}
    assert groups == {"expo": [2, 2, 2, 2, 0], "web": [2, 2, 2, 1, 1]}
    # Channels: L1 and L3 came on WhatsApp, L2 on the web form, L5 named none ("").
    by_channel = get("/v1/funnel", period="1404-07", by="channel")
    groups = {g["key"]: [s["count"] for s in g["stages"]] for g in by_channel["groups"]}
    assert groups == {"whatsapp": [2, 2, 2, 2, 1], "web": [1, 1, 1, 0, 0], "": [1, 1, 1, 1, 0]}


def test_an_empty_funnel_is_no_data_and_bad_input_is_refused(get: Get) -> None:
    stages = get("/v1/funnel", period="1405-01")["funnel"]["stages"]
    assert [s["count"] for s in stages] == [0, 0, 0, 0, 0]
    assert {s["drop_off"] for s in stages} == {None}, "no data, not 0%"
    assert {s["median_days"] for s in stages} == {None}
    assert get("/v1/funnel", 422, period="1404-13")["status"] == 422
    assert get("/v1/funnel", 422, by="agent")["status"] == 422


def test_the_pipeline_as_xlsx_and_csv(client: TestClient) -> None:
    # Open: O3 (proposal, 9M, no probability, no expected close) and O7 (deal, 5M at 50%,
    # expected on 2025-11-20 = 1404/08/29).
    answer = client.get("/v1/pipeline", params={"format": "xlsx", "limit": "1"}, headers=READER)
    assert answer.status_code == 200, answer.text
    assert 'filename="pipeline.xlsx"' in answer.headers["content-disposition"]
    sheet, rows = sheet_rows(answer.content)
    assert sheet.sheet_view.rightToLeft is True
    cards = {r["id"]: r for r in rows}
    assert set(cards) == {"O3", "O7"}
    o7 = cards["O7"]
    assert (o7["stage"], o7["owner_id"], o7["amount_rials"], o7["probability"]) == (
        "deal",
        "A1",
        5e6,
        50,
    )
    assert (o7["weighted_rials"], o7["expected_close"]) == (2.5e6, "2025-11-20")
    assert o7["expected_close_jalali"] == "1404/08/29"
    amount = next(c for c in sheet["F"] if c.row > 1 and c.value == 5e6)
    assert amount.number_format in ("#,##0", "#,##0.00")
    assert (cards["O3"]["probability"], cards["O3"]["expected_close"]) == (None, None)
    mine = client.get(
        "/v1/pipeline", params={"owner": "A2"}, headers={**READER, "Accept": "text/csv"}
    )
    assert 'filename="pipeline-A2.csv"' in mine.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(mine.content.decode("utf-8-sig"))))
    assert [line["id"] for line in lines] == ["O3"]
    assert client.get("/v1/pipeline", params={"format": "pdf"}, headers=READER).status_code == 422
