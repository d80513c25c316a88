"""Settings of the bundled lead-scoring plugin (``[plugins.lead_scoring]``).

Environment variables work as for every plugin: ``CRM_SYNC_PLUGINS__LEAD_SCORING__RULES_FILE``
and so on. The rules file itself is validated when the plugin loads, so a bad rule stops
start-up with an error naming it.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from core.plugin_types import PluginSettings
from lead_scoring.rules import ScoringRules, parse_rules

#: Engagement event type of each interaction, keyed ``<channel>.<direction>``.
#: An interaction whose key is not listed gives no engagement event. A ``visit`` is a
#: meeting in person (``meeting_on_site``); visits to the website are ``web_visit``
#: events that web plugins send, with the seconds spent as their amount.
DEFAULT_INTERACTION_EVENTS: dict[str, str] = {
    "whatsapp.inbound": "whatsapp_reply",
    "sms.inbound": "sms_reply",
    "email.inbound": "email_reply",
    "call.inbound": "call_answered",
    "call.outbound": "call_answered",
    "visit.inbound": "meeting_on_site",
    "visit.outbound": "meeting_on_site",
}


class LeadScoringSettings(PluginSettings):
    """How leads are scored and how the predictive model is trained.

    ``rules_file`` is the TOML rules file (``lead_scoring/default_rules.toml`` when
    unset). ``interaction_events`` turns interactions into engagement events.
    ``retrain_hours`` and ``rescore_hours`` are the scheduler's intervals for
    retraining the model and rescoring every lead (decay makes engagement fade even
    when nothing changes); 0 turns the job off. A model is trained only from at least
    ``min_history`` won and lost leads; ``model_bins``, ``model_min_count`` and
    ``model_l2`` are passed to ``LeadModel.fit``; ``top_factors`` is how many factors
    are stored per lead. ``max_batch`` is how many leads one push rescores.
    """

    rules_file: Path | None = None
    interaction_events: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_INTERACTION_EVENTS)
    )
    retrain_hours: float = Field(default=24.0, ge=0)
    rescore_hours: float = Field(default=24.0, ge=0)
    min_history: int = Field(default=50, ge=2)
    model_bins: int = Field(default=8, ge=1, le=64)
    model_min_count: int = Field(default=20, ge=1)
    model_l2: float = Field(default=10.0, gt=0)
    top_factors: int = Field(default=3, ge=0, le=20)
    max_batch: int = Field(default=50, ge=1, le=1000)

    @field_validator("rules_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """Read an empty value (``..._RULES_FILE=``) as the default rules file."""
        return None if isinstance(value, str) and not value.strip() else value

    def rules_text(self) -> tuple[str, str]:
        """Return the rules file's text and the name to show in errors."""
        if self.rules_file is None:
            resource = resources.files("lead_scoring").joinpath("default_rules.toml")
            return resource.read_text(encoding="utf-8"), "lead_scoring/default_rules.toml"
        return self.rules_file.read_text(encoding="utf-8"), str(self.rules_file)

    def load_rules(self) -> tuple[ScoringRules, str]:
        """Parse and validate the rules file; return the rules and the SHA-256 of its text.

        Raises ``RulesError`` (naming each bad rule) or ``OSError`` (unreadable file).
        """
        text, source = self.rules_text()
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return parse_rules(text, source=source), digest


__all__ = ["DEFAULT_INTERACTION_EVENTS", "LeadScoringSettings"]
