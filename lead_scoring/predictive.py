"""Predictive lead scoring: a conversion probability learned from won and lost leads.

The model is a logistic regression on one-hot features, written with numpy so that
every prediction can be explained. Text fields keep their frequent values (rarer ones
share one "(other)" level); numbers are cut into bins at the training data's quantiles;
a missing value is a level of its own. Each level has a weight, so a lead's log-odds
is a base value plus one contribution per feature, and the largest contributions are
the lead's top factors ("job = student: +0.9").

Odoo's predictive lead scoring uses naive Bayes over the same kind of per-value
statistics; a logistic regression keeps that explainability while not counting twice
features that say the same thing (region and city, the month's economic indicators).

Fitting is full-batch Newton's method from zero weights: no random step, so the same
history always gives the same model, bit for bit. The model serialises to JSON, for
storage and scheduled retraining.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lead_scoring.facts import ATTRIBUTE_PREFIX, LeadFacts, number_value
from lead_scoring.text import text_value

#: A feature's value in a row: text, a number, or None when missing.
FeatureValue = str | int | float | Decimal | None

#: One lead as the model sees it: feature name -> value.
Row = Mapping[str, FeatureValue]

MISSING = "(missing)"
OTHER = "(other)"
FORMAT = "crm-sync.lead-model"
FORMAT_VERSION = 1


def lead_features(lead: LeadFacts) -> dict[str, FeatureValue]:
    """Return a lead's profile as model features: the canonical fields and its attributes.

    Custom attributes are named as rules name them, ``attributes.<name>``, so a factor
    cannot be mistaken for a canonical field of the same name.
    """
    return {
        "source": lead.source,
        "campaign": lead.campaign,
        "channel": lead.channel,
        "country": lead.country,
        "province": lead.province,
        "city": lead.city,
        "industry": lead.industry,
        "job_title": lead.job_title,
        "company_size": lead.company_size,
        "budget": lead.budget,
        **{f"{ATTRIBUTE_PREFIX}{name}": value for name, value in lead.attributes.items()},
    }


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _number_label(name: str, edges: Sequence[float], level: int) -> str:
    if not edges:
        return f"any {name}"
    if level == 0:
        return f"{name} < {_number(edges[0])}"
    if level == len(edges):
        return f"{name} >= {_number(edges[-1])}"
    return f"{_number(edges[level - 1])} <= {name} < {_number(edges[level])}"


def _bin_edges(values: Sequence[float], bins: int, min_count: int) -> tuple[float, ...]:
    """Return cut points giving about ``bins`` bins of equal counts, never splitting a value.

    Walking the distinct values upwards, a bin closes once it holds ``len(values) / bins``
    rows, or before a value that would overfill it if it already holds ``min_count``;
    a last bin with fewer than ``min_count`` rows joins the one before. So a value that
    fills several bins alone (most leads have 0 previous contacts) gets one bin, and
    the rarer values beside it still get theirs.
    """
    distinct, counts = np.unique(np.asarray(values, dtype=np.float64), return_counts=True)
    target = max(len(values) / bins, min_count)
    edges: list[float] = []
    filled = 0
    for value, count in zip(distinct, counts, strict=True):
        if filled >= target or (filled >= min_count and filled + count > target):
            edges.append(float(value))
            filled = 0
        filled += int(count)
    if edges and filled < min_count:
        edges.pop()
    return tuple(edges)


@dataclass(frozen=True)
class FeatureEncoding:
    """How one feature's values map to levels, learned from the training rows.

    For ``category`` features ``levels`` is the frequent normalised values, then
    ``(other)`` and ``(missing)``; for ``number`` features it is one label per bin
    (cut at ``edges``: a value ``x`` is in bin ``i`` when ``edges[i-1] <= x < edges[i]``),
    then ``(missing)``.
    """

    name: str
    kind: Literal["category", "number"]
    levels: tuple[str, ...]
    edges: tuple[float, ...] = ()

    @classmethod
    def learn(
        cls, name: str, values: Sequence[FeatureValue], *, bins: int, min_count: int
    ) -> FeatureEncoding:
        """Learn the levels of feature ``name`` from its training ``values``.

        Each distinct value is converted once, then weighted by how often it occurs.
        """
        distinct = Counter(values)
        texts: Counter[str] = Counter()
        numbers: dict[float, int] = {}
        for value, count in distinct.items():
            if (text := text_value(value)) is not None:
                texts[text] += count
            elif (number := number_value(value)) is not None:
                numbers[number] = numbers.get(number, 0) + count
        if texts and numbers:
            raise ValueError(f"feature {name!r} mixes text and numbers; give it one kind")
        if numbers:
            keys = sorted(numbers)
            repeated = np.repeat(np.array(keys, dtype=np.float64), [numbers[k] for k in keys])
            edges = _bin_edges(repeated.tolist(), bins, min_count)
            labels = tuple(_number_label(name, edges, level) for level in range(len(edges) + 1))
            return cls(name, "number", (*labels, MISSING), edges)
        frequent = sorted(value for value, count in texts.items() if count >= min_count)
        return cls(name, "category", (*frequent, OTHER, MISSING))

    def codes(self, values: Sequence[FeatureValue]) -> NDArray[np.intp]:
        """Return the level index of each value (each distinct value is looked at once)."""
        table = _LevelTable(self)
        return np.fromiter(map(table.__getitem__, values), dtype=np.intp, count=len(values))

    def level_of(self, value: FeatureValue) -> int:
        """Return the level index of one value."""
        missing = len(self.levels) - 1
        if self.kind == "number":
            number = number_value(value)
            if number is None:
                return missing
            return int(np.searchsorted(np.array(self.edges), number, side="right"))
        text = text_value(value)
        if text is None:
            return missing
        try:
            return self.levels.index(text, 0, missing - 1)
        except ValueError:
            return missing - 1

    def as_dict(self) -> dict[str, Any]:
        """Return the encoding as JSON-ready data."""
        return {"name": self.name, "kind": self.kind, "levels": self.levels, "edges": self.edges}


class _LevelTable(dict[Any, int]):
    """Level index by raw value, filled on first sight of each value.

    Keys are the raw values: within one feature they are all text or all numbers
    (``learn`` refuses a mix), so ``1`` and ``1.0`` sharing a key share a level too.
    """

    def __init__(self, encoding: FeatureEncoding) -> None:
        super().__init__()
        self.encoding = encoding

    def __missing__(self, value: Any) -> int:
        level = self[value] = self.encoding.level_of(value)
        return level


@dataclass(frozen=True)
class Factor:
    """One feature's part in a prediction: its level and what it adds to the log-odds.

    ``contribution`` is relative to an average training lead: positive raises the
    probability, negative lowers it.
    """

    feature: str
    value: str
    contribution: float

    @property
    def condition(self) -> str:
        """Return the factor as a readable condition: ``job = student``, ``age >= 60``."""
        if self.value == MISSING:
            return f"{self.feature} is missing"
        if self.value == OTHER:
            return f"{self.feature} is a rare value"
        if self.feature in self.value:
            return self.value
        return f"{self.feature} = {self.value}"


def _sigmoid(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    result: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * logits))
    return result


def _newton(
    codes: Sequence[NDArray[np.intp]],
    sizes: Sequence[int],
    outcomes: NDArray[np.float64],
    l2: float,
    max_steps: int = 100,
) -> NDArray[np.float64]:
    """Minimise the L2-penalised logistic loss of one-hot features; return the weights.

    Column 0 is the intercept (not penalised), then each feature's levels in turn;
    ``codes[f]`` is each row's level of feature f. The one-hot design matrix is never
    built: every row has exactly one level per feature, so the gradient is a sum per
    level and each block of the Hessian a count per pair of levels (``np.bincount``),
    which keeps a fit at O(rows x features^2) per step instead of O(rows x levels^2).
    """
    offsets = np.cumsum([1, *sizes])
    width = int(offsets[-1])
    rows = len(outcomes)
    columns = (
        np.column_stack([offset + c for offset, c in zip(offsets[:-1], codes, strict=True)])
        if codes
        else np.zeros((rows, 0), dtype=np.intp)
    )
    flat = columns.ravel()
    features = columns.shape[1]
    penalty = np.full(width, l2)
    penalty[0] = 1e-9
    coef = np.zeros(width)

    def logits_of(c: NDArray[np.float64]) -> NDArray[np.float64]:
        result: NDArray[np.float64] = c[0] + c[columns].sum(axis=1)
        return result

    def loss(c: NDArray[np.float64]) -> float:
        logits = logits_of(c)
        return float(np.sum(np.logaddexp(0.0, logits) - outcomes * logits) + 0.5 * penalty @ c**2)

    def per_level(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        repeated = np.repeat(weights, features)
        sums = np.bincount(flat, weights=repeated, minlength=width).astype(np.float64)
        sums[0] = weights.sum()
        return sums

    current = loss(coef)
    for _ in range(max_steps):
        prob = _sigmoid(logits_of(coef))
        weight = prob * (1 - prob)
        gradient = per_level(prob - outcomes) + penalty * coef
        hessian = np.zeros((width, width))
        border = per_level(weight)
        hessian[0, :] = border
        hessian[:, 0] = border
        for f in range(features):
            first, size_f = int(offsets[f]), int(sizes[f])
            for g in range(f, features):
                second, size_g = int(offsets[g]), int(sizes[g])
                pairs = np.bincount(
                    codes[f] * size_g + codes[g], weights=weight, minlength=size_f * size_g
                ).reshape(size_f, size_g)
                hessian[first : first + size_f, second : second + size_g] = pairs
                hessian[second : second + size_g, first : first + size_f] = pairs.T
        hessian[np.diag_indices(width)] += penalty
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while (candidate := loss(coef - scale * step)) > current and scale > 1e-6:
            scale /= 2
        coef, current = coef - scale * step, candidate
        if float(np.max(np.abs(scale * step))) < 1e-9:
            break
    return coef


@dataclass(frozen=True)
class LeadModel:
    """A fitted conversion model: feature encodings, one weight per level, an intercept.

    ``baselines[f]`` is feature f's average weight over the training rows; a lead's
    log-odds is ``base_log_odds`` plus the sum of its factors' contributions.
    """

    encodings: tuple[FeatureEncoding, ...]
    weights: tuple[tuple[float, ...], ...]
    baselines: tuple[float, ...]
    intercept: float
    l2: float
    training_rows: int
    training_conversions: int

    @classmethod
    def fit(
        cls,
        rows: Sequence[Row],
        outcomes: ArrayLike,
        *,
        features: Sequence[str] | None = None,
        bins: int = 8,
        min_count: int = 20,
        l2: float = 10.0,
    ) -> LeadModel:
        """Learn a model from past leads (``rows``) and whether each converted (1) or not (0).

        ``features`` defaults to every key found in ``rows``; numbers are cut into at
        most ``bins`` bins, text values seen fewer than ``min_count`` times become
        ``(other)``, and ``l2`` is the strength of the weights' penalty.
        """
        outcome_array = np.asarray(outcomes, dtype=np.float64)
        if outcome_array.shape != (len(rows),):
            raise ValueError("give one outcome per row")
        if not 0 < outcome_array.sum() < len(rows):
            raise ValueError("the history must hold both converted and not converted leads")
        names = sorted({key for row in rows for key in row}) if features is None else features
        encodings = tuple(
            FeatureEncoding.learn(
                name, [row.get(name) for row in rows], bins=bins, min_count=min_count
            )
            for name in names
        )
        codes = [encoding.codes([row.get(encoding.name) for row in rows]) for encoding in encodings]
        sizes = [len(encoding.levels) for encoding in encodings]
        offsets = np.cumsum([1, *sizes])
        coef = _newton(codes, sizes, outcome_array, l2)
        weights = tuple(
            tuple(float(w) for w in coef[start:stop]) for start, stop in pairwise(offsets)
        )
        baselines = tuple(
            float(np.mean(np.array(w)[c])) for w, c in zip(weights, codes, strict=True)
        )
        return cls(
            encodings=encodings,
            weights=weights,
            baselines=baselines,
            intercept=float(coef[0]),
            l2=l2,
            training_rows=len(rows),
            training_conversions=int(outcome_array.sum()),
        )

    @property
    def base_log_odds(self) -> float:
        """Return the log-odds of a lead whose every factor is zero (an average lead)."""
        return self.intercept + sum(self.baselines)

    def _levels(self, rows: Sequence[Row]) -> NDArray[np.intp]:
        """Return an (rows x features) array of each row's level of each feature."""
        if not self.encodings:
            return np.zeros((len(rows), 0), dtype=np.intp)
        return np.column_stack(
            [
                encoding.codes([row.get(encoding.name) for row in rows])
                for encoding in self.encodings
            ]
        )

    def _contributions_of(self, levels: NDArray[np.intp]) -> NDArray[np.float64]:
        """Return an (rows x features) array of each feature's contribution."""
        if not self.encodings:
            return np.zeros((levels.shape[0], 0))
        columns = [
            np.array(weights)[levels[:, index]] - baseline
            for index, (weights, baseline) in enumerate(
                zip(self.weights, self.baselines, strict=True)
            )
        ]
        return np.column_stack(columns)

    def _contributions(self, rows: Sequence[Row]) -> NDArray[np.float64]:
        """Return an (rows x features) array of each feature's contribution."""
        return self._contributions_of(self._levels(rows))

    def log_odds(self, rows: Sequence[Row]) -> NDArray[np.float64]:
        """Return each row's log-odds of converting."""
        result: NDArray[np.float64] = self.base_log_odds + self._contributions(rows).sum(axis=1)
        return result

    def predict_proba(self, rows: Sequence[Row]) -> NDArray[np.float64]:
        """Return each row's probability of converting, between 0 and 1."""
        return _sigmoid(self.log_odds(rows))

    def explain(self, row: Row, top: int | None = 3) -> list[Factor]:
        """Return the features that moved this lead's probability most, largest first.

        ``top=None`` returns every feature; then ``base_log_odds`` plus the sum of the
        contributions is the row's log-odds.
        """
        contributions = self._contributions([row])[0]
        factors = []
        for encoding, contribution in zip(self.encodings, contributions, strict=True):
            level = encoding.level_of(row.get(encoding.name))
            factors.append(Factor(encoding.name, encoding.levels[level], float(contribution)))
        factors.sort(key=lambda factor: (-abs(factor.contribution), factor.feature))
        return factors if top is None else factors[:top]

    def top_factors(self, rows: Sequence[Row], top: int) -> list[list[Factor]]:
        """Return :meth:`explain` of every row (its ``top`` factors), for many rows at once."""
        return self.predict_with_factors(rows, top)[1]

    def predict_with_factors(
        self, rows: Sequence[Row], top: int
    ) -> tuple[NDArray[np.float64], list[list[Factor]]]:
        """Return every row's probability and its ``top`` factors, reading each row once.

        The contributions of all rows are one array; ties are ordered by feature name,
        as in :meth:`explain`.
        """
        levels = self._levels(rows)
        contributions = self._contributions_of(levels)
        probabilities = _sigmoid(self.base_log_odds + contributions.sum(axis=1))
        if not rows or top <= 0 or not self.encodings:
            return probabilities, [[] for _ in rows]
        by_name = np.array(
            sorted(range(len(self.encodings)), key=lambda i: self.encodings[i].name), dtype=np.intp
        )
        order = by_name[np.argsort(-np.abs(contributions[:, by_name]), axis=1, kind="stable")]
        chosen = order[:, :top]
        picked_levels = np.take_along_axis(levels, chosen, axis=1).tolist()
        picked = np.take_along_axis(contributions, chosen, axis=1).tolist()
        names = [encoding.name for encoding in self.encodings]
        labels = [encoding.levels for encoding in self.encodings]
        factors = [
            [
                Factor(names[f], labels[f][level], value)
                for f, level, value in zip(features, row_levels, row_values, strict=True)
            ]
            for features, row_levels, row_values in zip(
                chosen.tolist(), picked_levels, picked, strict=True
            )
        ]
        return probabilities, factors

    def to_json(self) -> str:
        """Return the model as JSON text; :meth:`from_json` reads it back unchanged."""
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "intercept": self.intercept,
                "l2": self.l2,
                "training_rows": self.training_rows,
                "training_conversions": self.training_conversions,
                "features": [
                    {**encoding.as_dict(), "weights": weights, "baseline": baseline}
                    for encoding, weights, baseline in zip(
                        self.encodings, self.weights, self.baselines, strict=True
                    )
                ],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> LeadModel:
        """Read a model written by :meth:`to_json`."""
        data = json.loads(text)
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} version {FORMAT_VERSION} document")
        features = data["features"]
        return cls(
            encodings=tuple(
                FeatureEncoding(f["name"], f["kind"], tuple(f["levels"]), tuple(f["edges"]))
                for f in features
            ),
            weights=tuple(tuple(float(w) for w in f["weights"]) for f in features),
            baselines=tuple(float(f["baseline"]) for f in features),
            intercept=float(data["intercept"]),
            l2=float(data["l2"]),
            training_rows=int(data["training_rows"]),
            training_conversions=int(data["training_conversions"]),
        )
