"""Lead scoring: fit and engagement scores from a rules file, grades, MQL/SQL, prediction.

Core calls the names below; the modules behind them may change. ``docs/lead_scoring.md``
describes the rules file, the grades and thresholds, and the predictive model.
"""

from lead_scoring.bulk import BulkScores, score_columns, score_many
from lead_scoring.columns import EventColumns, LeadColumns
from lead_scoring.evaluation import retrained_log_odds, roc_auc, top_decile_lift
from lead_scoring.facts import EngagementEvent, LeadFacts, TaskFacts
from lead_scoring.model_columns import model_columns
from lead_scoring.predictive import Factor, LeadModel, ModelScores, lead_features
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
    "ModelScores",
    "QualificationEvent",
    "QualificationLevel",
    "RulesError",
    "ScoreLine",
    "ScoreResult",
    "ScoringRules",
    "TaskFacts",
    "default_rules",
    "lead_features",
    "load_rules",
    "model_columns",
    "parse_rules",
    "retrained_log_odds",
    "roc_auc",
    "score",
    "score_columns",
    "score_many",
    "threshold_events",
    "top_decile_lift",
]
