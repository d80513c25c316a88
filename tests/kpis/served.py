"""The whole app on the seeded sales history, served on loopback, for the page tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.api.app import create_app
from core.settings import Settings
from core.testing.browser import live_server
from core.testing.fixtures import migrated_runtime
from tests.kpis.conftest import database, seed

TOKEN = "reader-token-0123456789"


@contextmanager
def seeded_site(kind: str, folder: Path, **settings: Any) -> Iterator[str]:
    """The base URL of the app on a new ``kind`` database holding the seeded history."""
    with database(kind, folder) as url:
        options = Settings(
            data_dir=folder / "data",
            database_url=url,
            api_tokens=f"reader:reader:{TOKEN}",
            console={"language": "fa"},
            **settings,
        )
        runtime = migrated_runtime(options)
        try:
            seed(runtime.engine)
            with live_server(create_app(runtime, background=False)) as served:
                yield served
        finally:
            runtime.close()


def sign_in(page: Any, base_url: str, path: str) -> None:
    """Open ``path``, be sent to sign in, sign in with the reader token, land on ``path``."""
    page.goto(f"{base_url}{path}")
    assert "/admin/sign-in" in page.url, "an anonymous visitor is sent to sign in"
    page.fill("#token", TOKEN)
    page.click("form[action='/admin/sign-in'] button[type=submit]")
    page.wait_for_url(f"**{path}")


__all__ = ["TOKEN", "seeded_site", "sign_in"]
