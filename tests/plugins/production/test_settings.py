"""Production settings: idle without a backend, a secret selects webhook, errors name the field."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import ConfigurationError
from core.sync.runtime import SyncRuntime
from plugins.production.settings import ProductionSettings

SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


def test_idle_without_a_backend(make_production: Callable[..., SyncRuntime]) -> None:
    runtime = make_production({})
    assert runtime.host.description("production").target is None
    assert "production" not in runtime.host.active()
    assert runtime.host.health("production").detail == "idle: no backend configured"


def test_empty_values_read_as_unset() -> None:
    assert ProductionSettings.model_validate({"secret": "", "backend": " "}).backend is None


def test_a_secret_alone_selects_the_inbound_webhook_backend() -> None:
    settings = ProductionSettings.model_validate({"secret": SECRET})
    assert settings.backend == "webhook" and settings.url is None
    assert settings.target_description() == "webhook (inbound: POST /v1/webhooks/production)"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"backend": "webhook"}, "secret is required"),
        ({"secret": "not-a-standard-webhooks-secret"}, "whsec_"),
        ({"backend": "tryton"}, "[tryton] section"),
        ({"backend": "odoo"}, "[odoo] section"),
        ({"backend": "sap"}, "backend"),
        ({"secret": SECRET, "poll_batch": 0}, "poll_batch"),
    ],
)
def test_bad_settings_stop_start_up_naming_the_field(
    make_production: Callable[..., SyncRuntime], values: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigurationError, match="production") as raised:
        make_production(values)
    assert field in str(raised.value)
