import os
from datetime import UTC, datetime

import numpy as np
import pytest

from lead_scoring.bulk import score_many
from lead_scoring.evaluation import retrained_log_odds, roc_auc, time_split, top_decile_lift
from lead_scoring.examples.bank_marketing import (
    CUSTOMER_FEATURES,
    DEFAULT_PATH,
    BankMarketing,
    bank_marketing_rules,
    load_bank_marketing,
)


def brute_force_auc(scores: np.ndarray, outcomes: np.ndarray) -> float:
    positive = scores[outcomes == 1][:, None]
    negative = scores[outcomes == 0][None, :]
    return float(((positive > negative) + 0.5 * (positive == negative)).mean())


def test_auc_matches_its_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, 500).astype(float)
    outcomes = (rng.random(500) < 0.2 + 0.1 * scores).astype(int)
    assert roc_auc(scores, outcomes) == pytest.approx(brute_force_auc(scores, outcomes))
    assert roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert roc_auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5


def test_lift_shares_the_cut_off_tie_fairly() -> None:
    assert top_decile_lift(np.arange(100.0), np.arange(100) >= 90) == pytest.approx(10.0)
    # 20 leads tie at the top for 10 places; half of them converted.
    scores = np.r_[np.full(20, 9.0), np.zeros(80)]
    outcomes = np.r_[np.tile([1, 0], 10), np.zeros(80)].astype(int)
    assert top_decile_lift(scores, outcomes) == pytest.approx(0.5 / 0.1)
    assert top_decile_lift(scores[::-1], outcomes[::-1]) == pytest.approx(5.0)


def test_measures_refuse_one_sided_outcomes() -> None:
    with pytest.raises(ValueError, match="both converted"):
        roc_auc([1, 2], [1, 1])
    with pytest.raises(ValueError, match="same length"):
        roc_auc([1, 2], [1])


def test_time_split() -> None:
    assert time_split(10, 0.8) == (slice(0, 8), slice(8, 10))
    with pytest.raises(ValueError):
        time_split(10, 1.0)


@pytest.fixture(scope="module")
def recent_contacts() -> BankMarketing:
    """The last 8,188 contacts of the bank-marketing set (a fast slice)."""
    if not DEFAULT_PATH.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(DEFAULT_PATH)
        pytest.skip(f"{DEFAULT_PATH} is not here")
    data = load_bank_marketing()
    return BankMarketing(data.rows[33_000:], data.outcomes[33_000:])


def evaluate(data: BankMarketing) -> tuple[float, float]:
    start = int(len(data.rows) * 0.75)
    scores = retrained_log_odds(
        data.rows, data.outcomes, start=start, retrain_every=1000, features=CUSTOMER_FEATURES
    )
    test = data.outcomes[start:]
    return roc_auc(scores, test), top_decile_lift(scores, test)


@pytest.fixture(scope="module")
def model_figures(recent_contacts: BankMarketing) -> tuple[float, float]:
    return evaluate(recent_contacts)


def test_evaluation_is_reproducible(
    recent_contacts: BankMarketing, model_figures: tuple[float, float]
) -> None:
    assert evaluate(recent_contacts) == model_figures


def test_model_beats_the_rules_on_later_rows(
    recent_contacts: BankMarketing, model_figures: tuple[float, float]
) -> None:
    leads = recent_contacts.leads()
    now = datetime(2011, 1, 1, tzinfo=UTC)
    rules = score_many(leads, [[] for _ in leads], bank_marketing_rules(), now).total
    start = int(len(leads) * 0.75)
    rules_auc = roc_auc(rules[start:], recent_contacts.outcomes[start:])
    model_auc, _ = model_figures
    assert model_auc > rules_auc + 0.01
