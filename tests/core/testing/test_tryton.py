"""The Tryton test fixtures: skip locally and fail in CI without trytond; usable as a plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

import core.testing.tryton as tryton_testing


def test_missing_trytond_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(tryton_testing, "trytond_version", lambda: None)

    with pytest.raises(pytest.skip.Exception, match="trytond is not installed"):
        tryton_testing.require_trytond()


def test_missing_trytond_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(tryton_testing, "trytond_version", lambda: None)

    with pytest.raises(pytest.fail.Exception, match=r"run scripts/setup-tryton\.sh"):
        tryton_testing.require_trytond()


def test_missing_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(tryton_testing, "_missing_modules", lambda: ["trytond-sale"])

    with pytest.raises(pytest.skip.Exception, match="missing trytond-sale"):
        tryton_testing.require_trytond()


def test_fixtures_work_through_pytest_plugins(
    tryton_template: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytester gives the inner run its own HOME: point it at the cache this session built.
    monkeypatch.setenv("CRM_SYNC_TRYTON_CACHE", str(tryton_template.parent.parent))
    pytester.makepyfile(
        """
        import httpx

        pytest_plugins = ["core.testing.tryton"]


        def test_server(tryton_server):
            with httpx.Client(timeout=30) as http:
                client = tryton_server.client(http)
                client.login()
                assert client.search("company.company", []) == [1]
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
