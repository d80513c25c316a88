"""Settings of the sales KPIs (``[kpis]``): the reporting zone and calendar, and the targets.

Each KPI's target has a direction (at least, above, at most, below, between, rising),
a value and an amber band in the KPI's own unit: a figure that misses its target by
no more than the band is amber, by more red. A team may have its own target value.
Targets not configured keep the defaults of the product description.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Direction = Literal["at_least", "above", "at_most", "below", "between", "rising"]


class TeamTarget(BaseModel):
    """A team's own target value (and upper end for ``between``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    high: float | None = None


class KpiTarget(BaseModel):
    """The target of one KPI and the width of its amber band."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction
    value: float | None = None
    high: float | None = Field(default=None, description="upper end of a 'between' target")
    amber: float = Field(default=0.0, ge=0, description="how far off target is still amber")
    teams: dict[str, TeamTarget] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.direction != "rising" and self.value is None:
            raise ValueError(f"a '{self.direction}' target needs a value")
        if self.direction == "between":
            for label, low, high in [("", self.value, self.high)] + [
                (f"team {name}: ", t.value, t.high) for name, t in self.teams.items()
            ]:
                if high is None or low is None or high < low:
                    raise ValueError(f"{label}a 'between' target needs value <= high")
        return self

    def for_team(self, team: str | None) -> KpiTarget:
        """The target as it applies to ``team`` (its own value if it has one)."""
        own = self.teams.get(team) if team is not None else None
        if own is None:
            return self
        return self.model_copy(update={"value": own.value, "high": own.high, "teams": {}})


#: The targets of the product description.
DEFAULT_TARGETS: dict[str, KpiTarget] = {
    "lead_to_opportunity": KpiTarget(direction="at_least", value=35, amber=5),
    "opportunity_to_order": KpiTarget(direction="at_least", value=28, amber=5),
    "first_response_time": KpiTarget(direction="below", value=60, amber=15),
    "average_response_time": KpiTarget(direction="at_most", value=15, amber=5),
    "on_time_follow_up": KpiTarget(direction="above", value=90, amber=5),
    "touchpoints_to_conversion": KpiTarget(direction="between", value=3, high=5, amber=1),
    "pipeline_velocity": KpiTarget(direction="rising"),
    "first_contact_resolution": KpiTarget(direction="at_least", value=75, amber=5),
    "csat": KpiTarget(direction="at_least", value=4.5, amber=0.2),
    "mrr_growth": KpiTarget(direction="at_least", value=8, amber=2),
    "customer_churn": KpiTarget(direction="at_most", value=2.5, amber=0.5),
    "revenue_churn": KpiTarget(direction="at_most", value=2.5, amber=0.5),
    "customer_lifetime_value": KpiTarget(direction="rising"),
}


class KpiSettings(BaseModel):
    """The ``[kpis]`` section."""

    model_config = ConfigDict(extra="forbid")

    time_zone: str = Field(default="Asia/Tehran", description="zone periods are cut in")
    calendar: Literal["jalali", "gregorian"] = "jalali"
    trend_periods: int = Field(default=6, ge=1, le=36, description="periods in a sparkline")
    gross_margin: float = Field(
        default=100, gt=0, le=100, description="gross margin in %, for the customer lifetime value"
    )
    lost_after_days: int = Field(
        default=90, ge=1, le=3660, description="a customer who has not bought for this long is lost"
    )
    currency: Literal["rials", "toman"] = Field(
        default="rials", description="amounts on the pages in Rials or Toman (Rials / 10)"
    )
    targets: dict[str, KpiTarget] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_kpis(self) -> Self:
        # The catalog imports the KPI queries and lead scoring: every command loads these
        # settings, so it is read only when there are targets to check.
        if not self.targets:
            return self
        from kpis.catalog import KPIS

        unknown = sorted(set(self.targets) - set(KPIS))
        if unknown:
            raise ValueError(f"kpis.targets names unknown KPIs: {', '.join(unknown)}")
        return self

    def target(self, name: str) -> KpiTarget | None:
        """The configured target of KPI ``name``, else its default, else None."""
        return self.targets.get(name) or DEFAULT_TARGETS.get(name)


__all__ = ["DEFAULT_TARGETS", "Direction", "KpiSettings", "KpiTarget", "TeamTarget"]
