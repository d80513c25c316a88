"""Evaluate predictive lead scoring against a rules score on the bank-marketing data set.

The rows are in time order. The earlier 80% are history only; the later 20% are the
test rows, on which each score's ROC AUC and top-decile lift are printed:

- rules: ``lead_scoring/examples/bank_marketing_rules.toml``, written by hand;
- model, trained once: fitted on the earlier 80%, then scoring every test row;
- model, retrained every N rows: at each block of N test rows, refitted on every row
  before the block (as a scheduled retraining would), then scoring that block.

The model uses the customer and contact-history columns; ``duration`` is dropped (it
leaks the outcome). ``--economic`` adds the month's economic indicators too, and
``--cut-points`` repeats the comparison with the test rows starting elsewhere.

    .venv/bin/python bench/lead_scoring_eval.py [--data PATH] [--retrain-every 1000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lead_scoring.bulk import score_many
from lead_scoring.evaluation import retrained_log_odds, roc_auc, top_decile_lift
from lead_scoring.examples.bank_marketing import (
    CUSTOMER_FEATURES,
    DEFAULT_PATH,
    BankMarketing,
    bank_marketing_rules,
    load_bank_marketing,
)
from lead_scoring.predictive import LeadModel


def figures(name: str, scores: NDArray[np.float64], outcomes: NDArray[np.int8]) -> str:
    """Return one aligned line with a score's AUC and top-decile lift."""
    auc = roc_auc(scores, outcomes)
    lift = top_decile_lift(scores, outcomes)
    return f"  {name:<38} AUC {auc:.4f}   top-decile lift {lift:.2f}"


def rule_scores(data: BankMarketing) -> NDArray[np.float64]:
    """Return the rules score (total points) of every row."""
    leads = data.leads()
    now = datetime(2011, 1, 1, tzinfo=UTC)
    totals = score_many(leads, [[] for _ in leads], bank_marketing_rules(), now).total
    return totals.astype(np.float64) / 100


def compare(
    data: BankMarketing,
    rules: NDArray[np.float64],
    cut: float,
    retrain_every: int,
    features: tuple[str, ...] | None,
) -> None:
    """Print the three scores' figures with the test rows starting at fraction ``cut``."""
    start = int(len(data.rows) * cut)
    test = data.outcomes[start:]
    print(
        f"cut at {cut:.0%}: history rows 1-{start:,} ({data.outcomes[:start].mean():.1%} "
        f"converted), test rows {start + 1:,}-{len(data.rows):,} ({test.mean():.1%} converted)"
    )
    print(figures("rules", rules[start:], test))
    once = LeadModel.fit(data.rows[:start], data.outcomes[:start], features=features)
    print(figures("model, trained once", once.log_odds(data.rows[start:]), test))
    retrained = retrained_log_odds(
        data.rows, data.outcomes, start=start, retrain_every=retrain_every, features=features
    )
    print(figures(f"model, retrained every {retrain_every:,} rows", retrained, test))


def main() -> None:
    """Load the data, print the comparison and one explained prediction."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--retrain-every", type=int, default=1000)
    parser.add_argument("--economic", action="store_true", help="add the economic indicators")
    parser.add_argument("--cut-points", default="0.8", help="comma-separated, e.g. 0.6,0.7,0.8")
    args = parser.parse_args()

    started = time.perf_counter()
    data = load_bank_marketing(args.data)
    features = None if args.economic else CUSTOMER_FEATURES
    rules = rule_scores(data)
    print(f"{len(data.rows):,} contacts, features: {'all' if features is None else 'customer'}")
    for cut in (float(text) for text in args.cut_points.split(",")):
        compare(data, rules, cut, args.retrain_every, features)

    start = int(len(data.rows) * 0.8)
    model = LeadModel.fit(data.rows[:start], data.outcomes[:start], features=features)
    best = int(np.argmax(model.log_odds(data.rows[start:]))) + start
    probability = float(model.predict_proba([data.rows[best]])[0])
    print(f"top factors of test row {best + 1:,} (probability {probability:.2f}):")
    for factor in model.explain(data.rows[best]):
        print(f"  {factor.condition} ({factor.contribution:+.2f} log-odds)")
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
