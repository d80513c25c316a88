"""Settings of the finance plugin (``[plugins.finance]``, ``CRM_SYNC_PLUGINS__FINANCE__*``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from core.connectors.webhook import WebhookTarget
from core.plugin_types import PluginSettings


class FinanceSettings(PluginSettings):
    """Which backend the finance plugin talks to, and how.

    With no ``url`` the plugin is idle. Setting ``url`` alone selects the ``webhook``
    backend, the only one that exists so far.
    """

    backend: Literal["webhook"] | None = None
    url: HttpUrl | None = None
    secret: SecretStr | None = None
    batch: bool = Field(default=False, description="webhook: send JSON arrays of documents")
    max_batch: int = Field(default=100, ge=1, le=1000)

    @field_validator("backend", "url", "secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """Read an empty value (``CRM_SYNC_PLUGINS__FINANCE__URL=``) as not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _complete(self) -> FinanceSettings:
        if self.backend is None and self.url is not None:
            self.backend = "webhook"
        if self.backend == "webhook":
            if self.url is None:
                raise ValueError("url is required when backend is 'webhook'")
            if self.secret is None:
                raise ValueError("secret is required when backend is 'webhook'")
            WebhookTarget(url=self.url, secret=self.secret)
        return self

    def webhook_target(self) -> WebhookTarget | None:
        """The webhook target these settings describe, or None when idle."""
        if self.backend != "webhook" or self.url is None or self.secret is None:
            return None
        return WebhookTarget(
            url=self.url, secret=self.secret, batch=self.batch, max_batch=self.max_batch
        )
