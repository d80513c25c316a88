"""Searching records: Persian and Arabic letters and digits, and phones in any spelling."""

from __future__ import annotations

from tests.core.api.conftest import READER, WRITER, TestClient


def names(client: TestClient, kind: str, query: str) -> list[str]:
    answer = client.get(f"/v1/{kind}", params={"q": query}, headers=READER)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_search_matches_across_persian_and_arabic_forms_and_phone_spellings(
    client: TestClient,
) -> None:
    bodies = {
        "C-1": {"type": "person", "name": "علي كريمي", "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷"]},
        "C-2": {"type": "person", "name": "مریم کاظمی", "phones": ["+98 935 000 1111"]},
    }
    for record_id, body in bodies.items():
        assert (
            client.put(f"/v1/customers/{record_id}", json=body, headers=WRITER).status_code == 201
        )
    assert names(client, "customers", "علی کریمی") == ["C-1"]
    assert names(client, "customers", "کریمی") == ["C-1"]
    assert names(client, "customers", "00989121234567") == ["C-1"]
    assert names(client, "customers", "۰۹۳۵-۰۰۰-۱۱۱۱") == ["C-2"]
    assert names(client, "customers", "ی") == ["C-1", "C-2"]
    assert names(client, "customers", "%") == []
    stored = client.get("/v1/customers/C-1", headers=READER).json()
    assert stored["data"]["name"] == "علي كريمي"


def test_a_kind_without_search_text_refuses_q(client: TestClient) -> None:
    answer = client.get("/v1/products", params={"q": "pump"}, headers=READER)
    assert answer.status_code == 400
    assert answer.json()["type"].endswith("not-searchable")
