"""Settings of the finance plugin: idle without a URL, the webhook backend, clear errors."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import ConfigurationError
from core.plugins import PluginHost
from core.settings import Settings
from plugins.finance.settings import FinanceSettings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://erp.example/hooks/crm"
TRYTON = {"url": "http://erp:8000", "database": "erp", "username": "crm", "password": "pw"}
ODOO = {
    "url": "https://odoo.example",
    "database": "crm",
    "login": "sync@example.com",
    "api_key": "key",
    "version": 17,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CRM_SYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_without_a_url_the_plugin_is_idle() -> None:
    settings = FinanceSettings()
    assert (settings.backend, settings.url, settings.secret) == (None, None, None)
    assert settings.webhook_target() is None


def test_a_url_alone_selects_the_webhook_backend() -> None:
    settings = FinanceSettings.model_validate({"url": URL, "secret": SECRET})
    assert settings.backend == "webhook"
    target = settings.webhook_target()
    assert target is not None
    assert (str(target.url), target.secret.get_secret_value(), target.batch) == (URL, SECRET, False)


def test_batch_options_reach_the_target() -> None:
    settings = FinanceSettings.model_validate(
        {"url": URL, "secret": SECRET, "batch": True, "max_batch": 250}
    )
    target = settings.webhook_target()
    assert target is not None
    assert (target.batch, target.max_batch) == (True, 250)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"url": URL}, "secret", "secret is required when backend is 'webhook'"),
        ({"backend": "webhook", "secret": SECRET}, "url", "url is required"),
        ({"url": URL, "secret": "not-a-whsec"}, "secret", "must start with whsec_"),
        ({"url": "erp.example", "secret": SECRET}, "url", "valid URL"),
        ({"backend": "ftp", "url": URL, "secret": SECRET}, "backend", "'webhook'"),
        ({"backend": "tryton"}, "tryton", "a [tryton] section"),
        ({"backend": "odoo"}, "odoo", "an [odoo] section"),
        ({"backend": "tryton", "tryton": TRYTON, "taxes": {"ten": "VAT"}}, "taxes", "not a number"),
        ({"backend": "tryton", "tryton": TRYTON, "taxes": {"0": "VAT"}}, "taxes", "above 0"),
        ({"backend": "odoo", "odoo": ODOO, "taxes": {"9": "VAT 9%"}}, "taxes", "account.tax id"),
        ({"url": URL, "secret": SECRET, "max_batch": 5000}, "max_batch", "1000"),
        ({"url": URL, "secret": SECRET, "token": "x"}, "token", "Extra inputs"),
    ],
    ids=[
        "no-secret",
        "no-url",
        "bad-secret",
        "bad-url",
        "bad-backend",
        "no-tryton-section",
        "no-odoo-section",
        "tax-rate-not-a-number",
        "tax-rate-zero",
        "odoo-tax-not-an-id",
        "big-batch",
        "unknown",
    ],
)
def test_bad_settings_name_the_field(values: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        FinanceSettings.model_validate(values)
    text = str(raised.value)
    assert field in text
    assert message in text
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in text


def test_the_host_names_the_plugin_and_the_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_PLUGINS__FINANCE__URL", URL)
    with pytest.raises(ConfigurationError) as raised:
        PluginHost(Settings())
    message = str(raised.value)
    assert message.startswith("plugin 'finance' has invalid settings: plugins.finance")
    assert "secret is required" in message


def test_empty_environment_variables_leave_the_plugin_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docker-compose.yml passes ${FINANCE_WEBHOOK_URL:-}: empty when finance is not set up.
    monkeypatch.setenv("CRM_SYNC_PLUGINS__FINANCE__URL", "")
    monkeypatch.setenv("CRM_SYNC_PLUGINS__FINANCE__SECRET", "")
    host = PluginHost(Settings())
    try:
        assert "finance" in host.names()
        assert "finance" not in host.active()
        assert host.description("finance").target is None
    finally:
        host.close()


def test_an_empty_secret_beside_a_url_is_missing() -> None:
    with pytest.raises(ValidationError, match="secret is required"):
        FinanceSettings.model_validate({"url": URL, "secret": " "})


def test_the_secret_is_hidden_in_representations() -> None:
    settings = FinanceSettings.model_validate({"url": URL, "secret": SECRET})
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


def test_tryton_settings_describe_a_polled_target() -> None:
    settings = FinanceSettings.model_validate(
        {
            "backend": "tryton",
            "tryton": TRYTON,
            "taxes": {"10": "VAT 10%", "9": "VAT 9%"},
            "poll_interval_seconds": 15,
        }
    )
    assert settings.webhook_target() is None
    assert settings.target_description() == "tryton http://erp:8000 (erp)"
    assert settings.tax_rates() == {Decimal("0.10"): "VAT 10%", Decimal("0.09"): "VAT 9%"}


def test_the_plugin_describes_each_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = {
        "webhook": ({"url": URL, "secret": SECRET, "batch": True}, (100, None, True)),
        "tryton": ({"backend": "tryton", "tryton": TRYTON}, (100, 60.0, False)),
        "odoo": ({"backend": "odoo", "odoo": ODOO, "poll_interval_seconds": 5}, (1, 5.0, False)),
    }
    for values, (batch, interval, webhooks) in cases.values():
        host = PluginHost(Settings(plugins={"finance": values}))
        try:
            description = host.description("finance")
            assert description.subscriptions == ("customer", "product", "proforma")
            assert (
                description.max_batch,
                description.poll_interval,
                description.accepts_webhooks,
            ) == (batch, interval, webhooks)
            assert "finance" in host.active()
        finally:
            host.close()
