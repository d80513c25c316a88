"""Settings of the finance plugin (``[plugins.finance]``, ``CRM_SYNC_PLUGINS__FINANCE__*``).

The connection settings are the shared :class:`~core.connectors.targets.ErpTargetSettings`
(``backend`` webhook, tryton or odoo; flat ``url``/``secret`` for the webhook, a nested
``tryton`` or ``odoo`` section for the ERPs). The finance-specific settings say how the
CRM's documents become the ERP's: which ERP tax carries which rate, which unit of
measure a CRM unit is, and where products are accounted.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Self

from pydantic import Field, field_validator, model_validator

from erp.targets import ErpTargetSettings


class FinanceSettings(ErpTargetSettings):
    """Which backend the finance plugin talks to, and how pro-formas map onto it.

    Without a backend (and without ``url``) the plugin is idle; ``url`` alone selects
    the ``webhook`` backend.
    """

    odoo_pricelists: dict[str, int] = Field(
        default_factory=dict,
        description=(
            'odoo: the product.pricelist id of each currency, e.g. {"IRR": 3}; Odoo takes an '
            "order's currency from its pricelist, so a pro-forma in a currency without one "
            "is refused rather than made in the company currency"
        ),
    )
    odoo_units: dict[str, int] = Field(
        default_factory=dict,
        description=(
            'odoo: the uom.uom id of each CRM unit, e.g. {"عدد": 1}; a product is created in '
            "its unit's id (Odoo's default, Units, when this is empty)"
        ),
    )
    taxes: dict[str, str] = Field(
        default_factory=dict,
        description=(
            'tryton, odoo: the ERP tax for each rate in percent, e.g. {"10": "VAT 10%"} '
            "(Tryton: the tax's name; Odoo: the account.tax id). A line whose tax amount "
            "matches no configured rate is refused with a mapping error."
        ),
    )
    units: dict[str, str] = Field(
        default_factory=dict,
        description="tryton: the ERP unit of measure (symbol or name) for each CRM unit",
    )
    default_unit: str = Field(
        default="u", min_length=1, description="tryton: the unit of products without one"
    )
    account_category: str | None = Field(
        default=None, description="tryton: product category (with accounting) of new products"
    )
    payment_term: str | None = Field(
        default=None, description="tryton: payment term of new sales (the ERP's default if unset)"
    )
    discount_product_id: int | None = Field(
        default=None,
        description=(
            "odoo: product.product id of the service product that carries a discount no "
            "percentage can express exactly"
        ),
    )

    @field_validator("taxes")
    @classmethod
    def _rates_are_numbers(cls, value: dict[str, str]) -> dict[str, str]:
        """Refuse a tax rate that is not a number between 0 and 100."""
        for rate in value:
            try:
                number = Decimal(rate)
            except InvalidOperation:
                raise ValueError(f"tax rate {rate!r} is not a number (percent)") from None
            if not number.is_finite() or not 0 < number <= 100:
                raise ValueError(f"tax rate {rate!r} must be above 0 and at most 100 (percent)")
        return value

    @model_validator(mode="after")
    def _odoo_taxes_are_ids(self) -> Self:
        """With the odoo backend, every configured tax must be an ``account.tax`` id."""
        if self.backend == "odoo":
            for rate, tax in self.taxes.items():
                if not tax.isdigit():
                    raise ValueError(
                        f"taxes[{rate!r}] must be an Odoo account.tax id (digits), not {tax!r}"
                    )
        return self

    def tax_rates(self) -> dict[Decimal, str]:
        """The configured taxes keyed by their rate as an exact fraction (10 -> 0.10)."""
        return {Decimal(rate) / 100: tax for rate, tax in self.taxes.items()}
