"""Lead scoring: rules-based fit and engagement scores, grades, qualification, prediction."""
