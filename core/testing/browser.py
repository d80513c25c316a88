"""Pytest fixtures for page tests: a real headless Chromium through Playwright, a live server.

Load with ``pytest_plugins = ["core.testing.browser"]``. The browser is Debian's
``chromium`` package (``/usr/bin/chromium``, or ``CRM_SYNC_TEST_CHROMIUM``) driven by
the ``playwright`` package; no browser is ever downloaded. A missing browser skips the
test on a developer's machine and fails it under ``CI=true``, like a missing service.
When a test fails, a screenshot of every page it opened is saved under
``test-output/screenshots/`` (or ``CRM_SYNC_TEST_OUTPUT``).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core.testing.services import in_ci

#: Chromium's switches for tests: headless, no sandbox (root in CI), nothing fetched.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """Debian's Chromium, or skip the test (fail it under CI=true) when it is missing."""
    path = os.environ.get("CRM_SYNC_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        message = f"Chromium is not installed at {path} (apt-get install chromium)"
        if in_ci():
            pytest.fail(f"{message}; CI=true, so a missing browser fails", pytrace=False)
        pytest.skip(message)
    return path


def output_dir() -> Path:
    """Where failing page tests leave their screenshots."""
    return Path(os.environ.get("CRM_SYNC_TEST_OUTPUT", "test-output")) / "screenshots"


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn in a thread on loopback; yield its base URL.

    The app's lifespan runs, so ``create_app(runtime)`` starts its background threads
    as ``crm-sync serve`` does.
    """
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open fresh browser contexts (own cookies); screenshots of their pages on failure.

    Call it as ``new_page(locale="fa-IR")``; each call is a new person.
    """
    contexts: list[Any] = []

    def open_page(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        folder = output_dir()
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for number, context in enumerate(contexts):
            for index, page in enumerate(context.pages):
                target = folder / f"{name}-{number}-{index}.png"
                try:
                    page.screenshot(path=str(target), full_page=True)
                    print(f"screenshot of the failed page: {target}")
                except Exception as error:  # a crashed page cannot be shot
                    print(f"no screenshot of {target}: {error}")
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so ``new_page`` knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
