"""Settings of the WhatsApp plugin: ``[plugins.whatsapp]``, ``CRM_SYNC_PLUGINS__WHATSAPP__*``.

What Meta's app dashboard gives you: the app secret (signs every webhook call), the
verify token you chose for the callback URL, a permanent system-user access token, the
phone number id and the WhatsApp Business Account id. ``graph_url`` is the Graph API
base with its version, so a test double can stand in for it. Without ``access_token``
the plugin is idle, as the other plugins are without a target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from core.plugin_types import PluginSettings

#: Meta's largest webhook payload (3 MB), and the body limit of the webhook route by
#: default: a little above it, so a full payload with its framing always fits.
META_MAX_PAYLOAD = 3 * 1024 * 1024
DEFAULT_BODY_LIMIT = 4 * 1024 * 1024


def template_name(description: str) -> Any:
    """The field of a setting that names an approved template; unset (None) by default.

    Meta's template names are lowercase letters, digits and underscores, at most 512.
    """
    return Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=r"^[a-z0-9_]+$",
        description=description,
    )


class WhatsAppSettings(PluginSettings):
    """Credentials and addresses of one WhatsApp Business phone number."""

    app_secret: SecretStr | None = Field(
        default=None, description="The Meta app's secret: checks X-Hub-Signature-256"
    )
    verify_token: SecretStr | None = Field(
        default=None, description="The token Meta sends when it checks the callback URL"
    )
    access_token: SecretStr | None = Field(
        default=None, description="A permanent system-user token; without it the plugin is idle"
    )
    phone_number_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[0-9]+$"
    )
    business_account_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[0-9]+$"
    )
    graph_url: str = Field(
        default="https://graph.facebook.com/v24.0",
        pattern=r"^https?://[^\s]+[^/\s]$",
        description="The Graph API base with its version, without a trailing slash",
    )
    media_dir: Path | None = Field(
        default=None, description="Where downloaded media files are kept"
    )
    reengagement_template: str | None = template_name(
        "An approved template sent instead of free-form text outside the window"
    )
    reengagement_language: str = Field(
        default="fa", min_length=2, max_length=16, pattern=r"^[A-Za-z_]+$"
    )
    sla_reminder_template: str | None = template_name(
        "An approved template sent to the agent whose lead's first response is late"
    )
    followup_reminder_template: str | None = template_name(
        "An approved template sent to the agent whose follow-up task is overdue"
    )
    sla_warning_template: str | None = template_name(
        "An approved template sent to the agent whose lead's first response is due soon"
    )
    reminder_language: str = Field(
        default="fa", min_length=2, max_length=16, pattern=r"^[A-Za-z_]+$"
    )
    messages_per_second: float = Field(
        default=80.0,
        gt=0,
        le=1000,
        description="Meta's throughput of the phone number: sends at most this many a second",
    )
    pair_interval_seconds: float = Field(
        default=6.0,
        ge=0,
        le=3600,
        description="Meta's pair limit: at most one message to one recipient in this time",
    )
    send_batch: int = Field(
        default=20,
        ge=1,
        le=100,
        description="Messages one push sends (one call each); 1 spreads them over workers",
    )
    max_webhook_bytes: int = Field(
        default=DEFAULT_BODY_LIMIT,
        ge=META_MAX_PAYLOAD,
        le=64 * 1024 * 1024,
        description="The body limit of POST /v1/webhooks/whatsapp; at least Meta's 3 MB",
    )

    def target_description(self) -> str | None:
        """Where messages go, for the plugin list; None (idle) without an access token."""
        if self.access_token is None:
            return None
        number = self.phone_number_id or "no phone number id"
        return f"WhatsApp Cloud API {self.graph_url} (phone number {number})"
