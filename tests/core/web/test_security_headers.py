"""The console's answers carry the security headers; the API's answers do not."""

from __future__ import annotations

from collections.abc import Callable

from core.api.app import create_app
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from core.web.site import SECURITY_HEADERS
from tests.core.api.conftest import TestClient


def test_pages_get_the_security_headers_and_no_store_static_files_no_store_only(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    runtime = make_runtime(make_settings(), {})
    with TestClient(create_app(runtime, background=False)) as client:
        page = client.get("/admin", follow_redirects=False)
        static = client.get("/admin/static/web.css")
        api = client.get("/healthz")
        missing = client.get("/admin/no-such-page", follow_redirects=False)
    assert static.status_code == 200 and api.status_code == 200
    for answer in (page, static, missing):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value, (answer.url, name)
    assert page.headers["cache-control"] == "no-store"
    assert missing.headers["cache-control"] == "no-store"
    assert static.headers.get("cache-control") != "no-store"
    for name in SECURITY_HEADERS:
        assert name not in api.headers
    assert "cache-control" not in api.headers
