"""``/docs`` renders in a real headless Chromium with nothing loaded from outside the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from core.api.docs import ASSET_DIR, ASSETS
from core.testing.browser import live_server
from tests.core.api.conftest import TestClient


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def test_the_docs_page_renders_every_route_from_the_servers_own_files(
    new_page: Any, base_url: str
) -> None:
    page = new_page(locale="en-US")
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "crm-sync" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-put", timeout=15_000)
    assert page.locator(".opblock").count() > 20, "the operations are listed"
    assert page.locator(".swagger-ui .errors-wrapper").count() == 0, "the document parses"
    assert f"{base_url}{ASSETS}/swagger-ui-bundle.js" in requested
    assert f"{base_url}/openapi.json" in requested
    outside = [url for url in requested if not url.startswith(base_url)]
    assert outside == [] and failed == []


def test_the_docs_page_names_only_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "https://" not in page.text and "http://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert f"{ASSETS}/{asset}" in page.text
        served = client.get(f"{ASSETS}/{asset}")
        assert served.status_code == 200
        assert served.content == (ASSET_DIR / asset).read_bytes()
    assert client.get(f"{ASSETS}/../../__init__.py").status_code == 404
    assert client.get("/redoc").status_code == 404
