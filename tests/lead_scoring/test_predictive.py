import json
import math
import random
from decimal import Decimal

import numpy as np
import pytest

from lead_scoring.predictive import (
    MISSING,
    OTHER,
    FeatureEncoding,
    LeadModel,
    Row,
    _bin_edges,
)


def history(size: int, seed: int) -> tuple[list[Row], list[int]]:
    """Leads where referrals and big budgets convert more; colour means nothing."""
    rng = random.Random(seed)
    rows: list[Row] = []
    outcomes = []
    for _ in range(size):
        source = rng.choice(["referral", "website", "instagram", None])
        budget = rng.choice([None, Decimal(rng.randrange(1, 100)) * 10**8])
        colour = rng.choice(["red", "blue"])
        logit = -2.0 + (1.5 if source == "referral" else 0) + (1.0 if (budget or 0) > 5e9 else 0)
        outcomes.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
        rows.append({"source": source, "budget": budget, "colour": colour})
    return rows, outcomes


ROWS, OUTCOMES = history(4000, seed=1)
MODEL = LeadModel.fit(ROWS, OUTCOMES)


def test_learns_the_direction_of_each_feature() -> None:
    referral, web = MODEL.predict_proba(
        [{"source": "referral", "budget": 1, "colour": "red"}, {"source": "website"}]
    )
    assert referral > 0.3 > web
    factors = MODEL.explain({"source": "referral", "budget": Decimal(9 * 10**9), "colour": "red"})
    assert [factor.feature for factor in factors[:2]] == ["source", "budget"]
    assert factors[0].condition == "source = referral"
    assert factors[0].contribution > 0.5
    lowest, name, *_ = factors[1].condition.split(" <= ")
    assert name.startswith("budget") and int(lowest) > 5 * 10**9


def test_contributions_add_up_to_the_log_odds() -> None:
    for row in ROWS[:50]:
        factors = MODEL.explain(row, top=None)
        total = MODEL.base_log_odds + sum(factor.contribution for factor in factors)
        assert total == pytest.approx(float(MODEL.log_odds([row])[0]), abs=1e-12)


def test_unseen_and_missing_values_have_their_own_levels() -> None:
    factors = {f.feature: f for f in MODEL.explain({"source": "tv", "budget": None}, top=None)}
    assert factors["source"].value == OTHER
    assert factors["source"].condition == "source is a rare value"
    assert factors["budget"].value == MISSING
    assert factors["colour"].condition == "colour is missing"
    assert MODEL.predict_proba([{"budget": Decimal(10**15)}])[0] > 0


def test_json_round_trip_gives_the_same_model() -> None:
    text = MODEL.to_json()
    again = LeadModel.from_json(text)
    assert again == MODEL
    assert (again.predict_proba(ROWS) == MODEL.predict_proba(ROWS)).all()
    assert json.loads(text)["format"] == "crm-sync.lead-model"
    with pytest.raises(ValueError, match=r"not a crm-sync\.lead-model"):
        LeadModel.from_json('{"format": "other"}')


def test_fitting_is_deterministic() -> None:
    assert LeadModel.fit(ROWS, OUTCOMES).to_json() == MODEL.to_json()


def test_bad_histories_are_refused() -> None:
    with pytest.raises(ValueError, match="both converted and not converted"):
        LeadModel.fit(ROWS, [0] * len(ROWS))
    with pytest.raises(ValueError, match="one outcome per row"):
        LeadModel.fit(ROWS, OUTCOMES[:-1])
    with pytest.raises(ValueError, match="feature 'x' mixes text and numbers"):
        LeadModel.fit([{"x": "a"}, {"x": 1}], [0, 1])


def test_bins_keep_a_dominant_value_and_its_rare_neighbours_apart() -> None:
    previous = [0.0] * 860 + [1.0] * 110 + [2.0] * 20 + [3.0] * 10
    assert _bin_edges(previous, bins=8, min_count=20) == (1.0, 2.0)
    pdays = [float(day) for day in range(40)] + [999.0] * 960
    assert _bin_edges(pdays, bins=8, min_count=20) == (999.0,)
    assert len(_bin_edges([float(v) for v in range(1000)], bins=8, min_count=20)) == 7
    assert _bin_edges([5.0] * 100, bins=8, min_count=20) == ()


def test_number_levels() -> None:
    encoding = FeatureEncoding.learn("age", [20, 30, 40, None] * 50, bins=3, min_count=10)
    assert encoding.levels == ("age < 30", "30 <= age < 40", "age >= 40", MISSING)
    codes = encoding.codes([19, 30, 39.5, 41, None, "x"])
    assert codes.tolist() == [0, 1, 1, 2, 3, 3]
    assert np.issubdtype(codes.dtype, np.integer)


def test_top_factors_of_many_rows_are_each_row_s_explanation() -> None:
    rows, _ = history(500, seed=9)
    rows = [*rows, {}, {"source": "tv", "colour": "red"}]
    for top in (1, 3, 10):
        many = MODEL.top_factors(rows, top)
        assert many == [MODEL.explain(row, top=top) for row in rows]
    assert MODEL.top_factors(rows, 0) == [[] for _ in rows]


def test_columns_give_the_same_model_and_predictions_as_rows() -> None:
    rows, outcomes = history(1500, seed=4)
    budget = np.array([np.nan if row["budget"] is None else float(row["budget"]) for row in rows])
    columns = {
        "source": [row["source"] for row in rows],
        "budget": budget,
        "colour": [row["colour"] for row in rows],
    }
    from_columns = LeadModel.fit_columns(columns, outcomes, size=len(rows))
    assert from_columns.to_json() == LeadModel.fit(rows, outcomes).to_json()
    scores = MODEL.predict_columns(columns, len(rows), 2)
    probabilities, factors = MODEL.predict_with_factors(rows, 2)
    assert np.array_equal(scores.probabilities, probabilities)
    assert [scores.factors(row) for row in range(len(rows))] == factors
    without_colour = MODEL.predict_columns({"source": columns["source"]}, len(rows), 0)
    expected = MODEL.predict_proba([{"source": row["source"]} for row in rows])
    assert np.array_equal(without_colour.probabilities, expected)
    assert without_colour.factors(0) == []


def test_columns_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="one value of each feature per row"):
        LeadModel.fit_columns({"source": ["a", "b"]}, [0, 1, 1], size=3)
