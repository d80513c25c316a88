"""``GET /v1/customer-trend``: the hand-computed months of test_customers, roles, formats."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.exceptions import StarletteDeprecationWarning

from core.api.app import create_app
from core.settings import Settings
from core.testing.fixtures import migrated_runtime
from kpis.xlsx_export import XLSX_TYPE
from tests.kpis.conftest import database
from tests.kpis.test_customers import seed_customers

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

READER = {"Authorization": "Bearer reader-token-0123456789"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The API on the customers' purchases, Gregorian periods by default."""
    folder = tmp_path_factory.mktemp("customers-api")
    with database(request.param, folder) as url:
        settings = Settings(
            data_dir=folder / "data",
            database_url=url,
            api_tokens="reader:reader:reader-token-0123456789",
            kpis={"calendar": "gregorian", "trend_periods": 3},
        )
        runtime = migrated_runtime(settings)
        try:
            seed_customers(runtime.engine)
            with TestClient(create_app(runtime, background=False)) as test_client:
                yield test_client
        finally:
            runtime.close()


def get(client: TestClient, status: int = 200, **params: Any) -> Any:
    answer = client.get("/v1/customer-trend", params=params, headers=READER)
    assert answer.status_code == status, answer.text
    return answer


def test_the_months_as_computed_by_hand(client: TestClient) -> None:
    body = get(client, period="2025-07").json()
    assert body["lost_after_days"] == 90
    months = body["periods"]
    assert [m["period"]["label"] for m in months] == ["2025-05", "2025-06", "2025-07"]
    assert [(m["new"], m["returning"], m["won_back"], m["lost"]) for m in months] == [
        (1, 0, 0, 2),
        (0, 0, 0, 0),
        (0, 1, 1, 1),
    ]
    assert months[2]["lost_rate"] == 50.0
    january = get(client, period="2025-01", periods=1).json()["periods"][0]
    assert (january["active_at_start"], january["lost_rate"]) == (0, None)


def test_the_trend_as_csv_and_xlsx(client: TestClient) -> None:
    answer = get(client, period="2025-07", format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="customers-2025-07.csv"' in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["period"], r["lost"], r["lost_rate"]) for r in rows] == [
        ("2025-05", "2", "66.66666666666667"),
        ("2025-06", "0", "0.0"),  # K3 and K4 active, none lost
        ("2025-07", "1", "50.0"),
    ]
    assert rows[2]["start_jalali"] == "1404/04/10"
    sheet_answer = client.get(
        "/v1/customer-trend",
        params={"period": "2025-07", "lang": "fa"},
        headers={**READER, "Accept": XLSX_TYPE},
    )
    sheet = load_workbook(io.BytesIO(sheet_answer.content)).worksheets[0]
    assert sheet.sheet_view.rightToLeft is True
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[4]][:7] == ["2025-07", "2025-06-30T20:30:00Z", "1404/04/10",
                                               0, 1, 1, 1]  # fmt: skip


def test_bad_input_and_no_token_are_refused(client: TestClient) -> None:
    assert client.get("/v1/customer-trend").status_code == 401
    assert get(client, 422, period="2025-13").json()["type"].endswith("invalid-period")
    assert get(client, 422, periods=0).status_code == 422
    assert get(client, 422, periods=37).status_code == 422


def test_the_route_is_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    route = document["paths"]["/v1/customer-trend"]["get"]
    assert "CustomerTrendOut" in document["components"]["schemas"]
    assert {p["name"] for p in route["parameters"]} >= {"period", "periods", "format", "lang"}
