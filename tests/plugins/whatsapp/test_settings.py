"""WhatsApp settings: idle without a token, secrets hidden, bad values refused by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings
from plugins.whatsapp.settings import META_MAX_PAYLOAD, WhatsAppSettings


def test_without_an_access_token_the_plugin_is_idle() -> None:
    settings = WhatsAppSettings.model_validate({"app_secret": "s", "verify_token": "t"})
    assert settings.target_description() is None
    active = WhatsAppSettings.model_validate({"access_token": "EAAG", "phone_number_id": "1"})
    assert active.target_description() == (
        "WhatsApp Cloud API https://graph.facebook.com/v24.0 (phone number 1)"
    )


def test_secrets_never_show_in_the_settings_text() -> None:
    settings = WhatsAppSettings.model_validate(
        {"app_secret": "app-secret-x", "verify_token": "verify-x", "access_token": "EAAG-x"}
    )
    shown = repr(settings) + str(settings.model_dump())
    assert "app-secret-x" not in shown and "verify-x" not in shown and "EAAG-x" not in shown


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_PLUGINS__WHATSAPP__ACCESS_TOKEN", "EAAG-env")
    monkeypatch.setenv("CRM_SYNC_PLUGINS__WHATSAPP__PHONE_NUMBER_ID", "106540352242922")
    plugins = Settings().plugins
    values = WhatsAppSettings.model_validate(plugins["whatsapp"])
    assert values.access_token is not None
    assert values.access_token.get_secret_value() == "EAAG-env"
    assert values.phone_number_id == "106540352242922"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"phone_number_id": "+98 912"}, "phone_number_id"),
        ({"graph_url": "graph.facebook.com/v24.0"}, "graph_url"),
        ({"graph_url": "https://graph.facebook.com/v24.0/"}, "graph_url"),
        ({"max_webhook_bytes": META_MAX_PAYLOAD - 1}, "max_webhook_bytes"),
        ({"reengagement_template": "Order Update"}, "reengagement_template"),
        ({"sla_reminder_template": "SLA!"}, "sla_reminder_template"),
        ({"send_batch": 0}, "send_batch"),
        ({"send_batch": 101}, "send_batch"),
        ({"app_secrte": "typo"}, "app_secrte"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        WhatsAppSettings.model_validate(values)


def test_one_push_sends_send_batch_messages() -> None:
    assert WhatsAppSettings().send_batch == 20
    assert WhatsAppSettings(send_batch=1).send_batch == 1
