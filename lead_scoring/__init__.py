"""Lead scoring: fit and engagement scores from a rules file, grades, MQL/SQL, prediction.

Core calls the names below; the modules behind them may change. ``docs/lead_scoring.md``
describes the rules file, the grades and thresholds, and the predictive model.
"""

from lead_scoring.bulk import BulkScores, score_columns, score_many
from lead_scoring.columns import EventColumns, LeadColumns
from lead_scoring.evaluation import retrained_log_odds, roc_auc, top_decile_lift
from lead_scoring.facts import EngagementEvent, LeadFacts
from lead_scoring.predictive import Factor, LeadModel, lead_features
from lead_scoring.rules import RulesError, ScoringRules, default_rules, load_rules, parse_rules
from lead_scoring.scoring import (
    QualificationEvent,
    QualificationLevel,
    ScoreLine,
    ScoreResult,
    score,
    threshold_events,
)

__all__ = [
    "BulkScores",
    "EngagementEvent",
    "EventColumns",
    "Factor",
    "LeadColumns",
    "LeadFacts",
    "LeadModel",
    "QualificationEvent",
    "QualificationLevel",
    "RulesError",
    "ScoreLine",
    "ScoreResult",
    "ScoringRules",
    "default_rules",
    "lead_features",
    "load_rules",
    "parse_rules",
    "retrained_log_odds",
    "roc_auc",
    "score",
    "score_columns",
    "score_many",
    "threshold_events",
    "top_decile_lift",
]
