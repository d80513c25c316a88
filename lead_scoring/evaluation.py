"""How well a score ranks the leads that convert, measured on later rows than it learned from.

ROC AUC and top-decile lift both treat tied scores fairly (as if ties were broken at
random, in expectation), which matters for rule scores, where thousands of leads share
a few values. :func:`retrained_log_odds` replays a scheduled retraining over history.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lead_scoring.predictive import LeadModel, Row


def _as_arrays(
    scores: ArrayLike, outcomes: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    score_array = np.asarray(scores, dtype=np.float64)
    outcome_array = np.asarray(outcomes).astype(np.bool_)
    if score_array.shape != outcome_array.shape or score_array.ndim != 1:
        raise ValueError("scores and outcomes must be 1-d arrays of the same length")
    positives = int(outcome_array.sum())
    if positives == 0 or positives == outcome_array.size:
        raise ValueError("outcomes must hold both converted and not converted leads")
    return score_array, outcome_array


def roc_auc(scores: ArrayLike, outcomes: ArrayLike) -> float:
    """Return the probability that a random converted lead outscores a random other one.

    Ties count one half (the Mann-Whitney statistic with average ranks).
    """
    score_array, outcome_array = _as_arrays(scores, outcomes)
    _, inverse, counts = np.unique(score_array, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1
    average_rank = first_rank + (counts - 1) / 2
    ranks = average_rank[inverse]
    positives = int(outcome_array.sum())
    negatives = outcome_array.size - positives
    rank_sum = float(ranks[outcome_array].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def top_decile_lift(scores: ArrayLike, outcomes: ArrayLike, fraction: float = 0.1) -> float:
    """Return the conversion rate of the best-scored ``fraction`` over the overall rate.

    Leads tied at the cut-off contribute their group's average rate for the places left,
    so the figure does not depend on row order.
    """
    score_array, outcome_array = _as_arrays(scores, outcomes)
    take = max(1, round(score_array.size * fraction))
    cutoff = np.sort(score_array)[::-1][take - 1]
    above = score_array > cutoff
    at_cutoff = score_array == cutoff
    places_left = take - int(above.sum())
    converted = float(outcome_array[above].sum())
    converted += places_left * float(outcome_array[at_cutoff].mean())
    return (converted / take) / float(outcome_array.mean())


def time_split(size: int, train_fraction: float) -> tuple[slice, slice]:
    """Return slices for the earlier ``train_fraction`` of rows and the later rest."""
    if not 0 < train_fraction < 1:
        raise ValueError("train_fraction must be between 0 and 1")
    cut = int(size * train_fraction)
    return slice(0, cut), slice(cut, size)


def describe(name: str, scores: Sequence[float] | ArrayLike, outcomes: ArrayLike) -> str:
    """Return one line with a score's AUC and top-decile lift, for reports."""
    return (
        f"{name}: AUC {roc_auc(scores, outcomes):.4f}, "
        f"top-decile lift {top_decile_lift(scores, outcomes):.2f}"
    )


def retrained_log_odds(
    rows: Sequence[Row],
    outcomes: ArrayLike,
    *,
    start: int,
    retrain_every: int,
    features: Sequence[str] | None = None,
) -> NDArray[np.float64]:
    """Score ``rows[start:]`` as a scheduled retraining would, and return their log-odds.

    The rows are in time order. Every ``retrain_every`` rows a model is fitted on all
    rows before that point and scores the next block, so no row is ever scored by a
    model that saw it or anything after it.
    """
    outcome_array = np.asarray(outcomes)
    scores = np.empty(len(rows) - start, dtype=np.float64)
    for block_start in range(start, len(rows), retrain_every):
        block_end = min(block_start + retrain_every, len(rows))
        model = LeadModel.fit(rows[:block_start], outcome_array[:block_start], features=features)
        scores[block_start - start : block_end - start] = model.log_odds(
            rows[block_start:block_end]
        )
    return scores
