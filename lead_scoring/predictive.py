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
        """Learn the levels of feature ``name`` from its training ``values``."""
        texts = [text_value(value) for value in values]
        numbers = [number_value(value) for value in values]
        has_text = any(text is not None for text in texts)
        has_number = any(number is not None for number in numbers)
        if has_text and has_number:
            raise ValueError(f"feature {name!r} mixes text and numbers; give it one kind")
        if has_number:
            edges = _bin_edges([n for n in numbers if n is not None], bins, min_count)
            labels = tuple(_number_label(name, edges, level) for level in range(len(edges) + 1))
            return cls(name, "number", (*labels, MISSING), edges)
        counts = Counter(text for text in texts if text is not None)
        frequent = sorted(value for value, count in counts.items() if count >= min_count)
        return cls(name, "category", (*frequent, OTHER, MISSING))

    def codes(self, values: Sequence[FeatureValue]) -> NDArray[np.intp]:
        """Return the level index of each value."""
        missing = len(self.levels) - 1
        if self.kind == "number":
            numbers = np.array(
                [np.nan if (n := number_value(v)) is None else n for v in values], dtype=np.float64
            )
            bins = np.searchsorted(np.array(self.edges), numbers, side="right")
            return np.where(np.isnan(numbers), missing, bins).astype(np.intp)
        index = {level: i for i, level in enumerate(self.levels[:-2])}
        other = missing - 1
        return np.array(
            [missing if (t := text_value(v)) is None else index.get(t, other) for v in values],
            dtype=np.intp,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the encoding as JSON-ready data."""
        return {"name": self.name, "kind": self.kind, "levels": self.levels, "edges": self.edges}


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
    design: NDArray[np.float64], outcomes: NDArray[np.float64], l2: float, max_steps: int = 100
) -> NDArray[np.float64]:
    """Minimise the L2-penalised logistic loss; column 0 (the intercept) is not penalised."""
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 1e-9
    coef = np.zeros(design.shape[1])

    def loss(c: NDArray[np.float64]) -> float:
        logits = design @ c
        return float(np.sum(np.logaddexp(0.0, logits) - outcomes * logits) + 0.5 * penalty @ c**2)

    current = loss(coef)
    for _ in range(max_steps):
        prob = _sigmoid(design @ coef)
        gradient = design.T @ (prob - outcomes) + penalty * coef
        hessian = design.T @ (design * (prob * (1 - prob))[:, None]) + np.diag(penalty)
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
        offsets = np.cumsum([1] + [len(encoding.levels) for encoding in encodings])
        design = np.zeros((len(rows), int(offsets[-1])))
        design[:, 0] = 1.0
        for feature_codes, offset in zip(codes, offsets[:-1], strict=True):
            design[np.arange(len(rows)), offset + feature_codes] = 1.0
        coef = _newton(design, outcome_array, l2)
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

    def _contributions(self, rows: Sequence[Row]) -> NDArray[np.float64]:
        """Return an (rows x features) array of each feature's contribution."""
        columns = [
            np.array(weights)[encoding.codes([row.get(encoding.name) for row in rows])] - baseline
            for encoding, weights, baseline in zip(
                self.encodings, self.weights, self.baselines, strict=True
            )
        ]
        return np.column_stack(columns) if columns else np.zeros((len(rows), 0))

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
            level = int(encoding.codes([row.get(encoding.name)])[0])
            factors.append(Factor(encoding.name, encoding.levels[level], float(contribution)))
        factors.sort(key=lambda factor: (-abs(factor.contribution), factor.feature))
        return factors if top is None else factors[:top]

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
