"""Settings of a plugin that reaches an ERP through one of the shared backends.

The finance, inventory and production plugins (and any third-party plugin for the same
ERPs) subclass ``ErpTargetSettings``: ``backend`` picks ``webhook`` (flat ``url``,
``secret``, ``batch`` and ``max_batch``, as ``CRM_SYNC_PLUGINS__FINANCE__URL``),
``tryton`` (a ``[plugins.NAME.tryton]`` section) or ``odoo`` (``[plugins.NAME.odoo]``).
Without a backend the plugin is idle.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from core.connectors.webhook import WebhookTarget
from core.plugin_types import PluginSettings
from erp.odoo.client import OdooSettings
from erp.tryton.client import TrytonSettings

Backend = Literal["webhook", "tryton", "odoo"]


class ErpTargetSettings(PluginSettings):
    """Which backend a plugin talks to, and its connection settings.

    A plugin whose webhook backend only receives (the ERP POSTs to crm-sync) sets
    ``inbound_only``: its webhook backend then needs the secret but no URL, and the
    secret alone selects it.
    """

    inbound_only: ClassVar[bool] = False

    backend: Backend | None = None
    url: HttpUrl | None = Field(default=None, description="webhook: where documents are POSTed")
    secret: SecretStr | None = Field(default=None, description="webhook: whsec_... signing secret")
    batch: bool = Field(default=False, description="webhook: send backlogs as JSON arrays")
    max_batch: int = Field(default=100, ge=1, le=1000)
    tryton: TrytonSettings | None = None
    odoo: OdooSettings | None = None
    poll_interval_seconds: float = Field(
        default=60.0, gt=0, description="tryton, odoo: how often the ERP is polled for changes"
    )

    @field_validator("backend", "url", "secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """Read an empty value (``..._URL=``, as compose files pass it) as unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _backend_is_complete(self) -> Self:
        """Infer ``webhook`` from a URL and require the section of the chosen backend."""
        selects_webhook = self.url is not None or (self.inbound_only and self.secret is not None)
        if self.backend is None and selects_webhook:
            self.backend = "webhook"
        if self.backend == "webhook":
            if self.url is None and not self.inbound_only:
                raise ValueError("url is required when backend is 'webhook'")
            if self.secret is None:
                raise ValueError("secret is required when backend is 'webhook'")
            WebhookTarget(url=self.url or "http://verify.invalid/", secret=self.secret)
        if self.backend == "tryton" and self.tryton is None:
            raise ValueError("a [tryton] section (url, database, username, password) is required")
        if self.backend == "odoo" and self.odoo is None:
            raise ValueError(
                "an [odoo] section (url, database, login, api_key, version) is required"
            )
        return self

    def webhook_target(self) -> WebhookTarget | None:
        """The webhook target, when that is the backend."""
        if self.backend != "webhook" or self.url is None or self.secret is None:
            return None
        return WebhookTarget(
            url=self.url, secret=self.secret, batch=self.batch, max_batch=self.max_batch
        )

    def target_description(self) -> str | None:
        """A short description of the target for ``crm-sync plugins``; None when idle."""
        if self.backend == "webhook":
            return f"webhook {self.url}"
        if self.backend == "tryton" and self.tryton is not None:
            return f"tryton {self.tryton.url} ({self.tryton.database})"
        if self.backend == "odoo" and self.odoo is not None:
            return f"odoo {self.odoo.version} {self.odoo.url} ({self.odoo.database})"
        return None
