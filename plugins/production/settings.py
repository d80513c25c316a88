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

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from erp.targets import ErpTargetSettings


class ProductionSettings(ErpTargetSettings):
    """Which ERP reports production status, and how often it is polled."""

    inbound_only = True

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

    time_zone: str = Field(
        default="Asia/Tehran",
        description=(
            "odoo: the company's time zone; Odoo keeps times in UTC and an ETA is the date "
            "the work order finishes in this zone"
        ),
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {value!r} is not an IANA time zone") from None
        return value

    def target_description(self) -> str | None:
        """A short description of where status comes from; None when idle."""
        if self.backend == "webhook":
            return "webhook (inbound: POST /v1/webhooks/production)"
        return super().target_description()
