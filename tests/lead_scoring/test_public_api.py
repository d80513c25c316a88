import lead_scoring

PUBLIC = {
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
}


def test_public_api_is_pinned() -> None:
    assert set(lead_scoring.__all__) == PUBLIC
    assert all(hasattr(lead_scoring, name) for name in PUBLIC)
