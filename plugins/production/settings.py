"""Settings of the production plugin: ``[plugins.production]``, ``CRM_SYNC_PLUGINS__PRODUCTION__*``.

Production status only comes back from the ERP, so the backends need less than the
shared ``ErpTargetSettings`` asks of a plugin that pushes:

- ``webhook``: the ERP POSTs signed production-status documents to
  ``/v1/webhooks/production``; only ``secret`` (Standard Webhooks, ``whsec_...``) is
  needed to verify them. ``url`` is optional and, when given, is only used by the health
  check. Setting ``secret`` alone selects this backend.
- ``tryton`` / ``odoo``: the ERP is polled every ``poll_interval_seconds``.

Without a backend the plugin is idle.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from core.connectors.targets import ErpTargetSettings
from core.connectors.webhook import WebhookTarget


class ProductionSettings(ErpTargetSettings):
    """Which ERP reports production status, and how often it is polled."""

    poll_batch: int = Field(
        default=200, ge=1, le=5000, description="tryton, odoo: work orders read per poll"
    )
    overlap_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description=(
            "tryton, odoo: how far each poll looks back before the cursor, so a change "
            "committed late by a long ERP transaction is still seen"
        ),
    )

    @field_validator("backend", "url", "secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """Read an empty value (``CRM_SYNC_PLUGINS__PRODUCTION__SECRET=``) as not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _backend_is_complete(self) -> Self:
        """Infer ``webhook`` from a secret; require only what an inbound backend uses.

        Overrides the shared validator of the same name: a webhook backend here receives
        documents instead of sending them, so it needs the secret but no URL.
        """
        if self.backend is None and (self.secret is not None or self.url is not None):
            self.backend = "webhook"
        if self.backend == "webhook":
            if self.secret is None:
                raise ValueError("secret is required when backend is 'webhook'")
            WebhookTarget(url="http://verify.invalid/", secret=self.secret)
        if self.backend == "tryton" and self.tryton is None:
            raise ValueError("a [tryton] section (url, database, username, password) is required")
        if self.backend == "odoo" and self.odoo is None:
            raise ValueError(
                "an [odoo] section (url, database, login, api_key, version) is required"
            )
        return self

    def target_description(self) -> str | None:
        """A short description of where status comes from; None when idle."""
        if self.backend == "webhook":
            return "webhook (inbound: POST /v1/webhooks/production)"
        return super().target_description()
