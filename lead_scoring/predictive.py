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
from functools import cached_property
from itertools import pairwise
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lead_scoring.facts import ATTRIBUTE_PREFIX, LeadFacts, number_value
from lead_scoring.newton import newton, sigmoid
from lead_scoring.text import text_value

#: A feature's value in a row: text, a number, or None when missing.
FeatureValue = str | int | float | Decimal | None

#: One lead as the model sees it: feature name -> value.
Row = Mapping[str, FeatureValue]

#: Many leads as the model sees them: feature name -> one value per lead, in one row
#: order. A number feature may be a float array with NaN for missing, as a query gives.
Columns = Mapping[str, Sequence[FeatureValue] | NDArray[np.float64]]

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


def columns_of(rows: Sequence[Row], names: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Return rows as columns: each feature's values in row order (None where missing).

    ``names`` defaults to every key found in ``rows``, sorted.
    """
    if names is None:
        names = sorted({key for row in rows for key in row})
    return {name: [row.get(name) for row in rows] for name in names}


def _float_array(values: object) -> NDArray[np.float64] | None:
    """Return ``values`` when it is a float array (NaN for missing), else None."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    return None


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


def _bin_edges(values: ArrayLike, bins: int, min_count: int) -> tuple[float, ...]:
    """Return cut points giving about ``bins`` bins of equal counts, never splitting a value.

    Walking the distinct values upwards, a bin closes once it holds ``len(values) / bins``
    rows, or before a value that would overfill it if it already holds ``min_count``;
    a last bin with fewer than ``min_count`` rows joins the one before. So a value that
    fills several bins alone (most leads have 0 previous contacts) gets one bin, and
    the rarer values beside it still get theirs.
    """
    array = np.asarray(values, dtype=np.float64)
    distinct, counts = np.unique(array, return_counts=True)
    target = max(len(array) / bins, min_count)
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
        cls,
        name: str,
        values: Sequence[FeatureValue] | NDArray[np.float64],
        *,
        bins: int,
        min_count: int,
    ) -> FeatureEncoding:
        """Learn the levels of feature ``name`` from its training ``values``.

        Each distinct value is converted once, then weighted by how often it occurs; a
        float array (NaN for missing) is binned without looking at its values one by one.
        """
        array = _float_array(values)
        if array is not None:
            present = array[~np.isnan(array)]
            if len(present) == 0:
                return cls(name, "category", (OTHER, MISSING))
            edges = _bin_edges(np.sort(present), bins, min_count)
            labels = tuple(_number_label(name, edges, level) for level in range(len(edges) + 1))
            return cls(name, "number", (*labels, MISSING), edges)
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
            edges = _bin_edges(repeated, bins, min_count)
            labels = tuple(_number_label(name, edges, level) for level in range(len(edges) + 1))
            return cls(name, "number", (*labels, MISSING), edges)
        frequent = sorted(value for value, count in texts.items() if count >= min_count)
        return cls(name, "category", (*frequent, OTHER, MISSING))

    def codes(self, values: Sequence[FeatureValue] | NDArray[np.float64]) -> NDArray[np.intp]:
        """Return the level index of each value (each distinct value is looked at once).

        A float array (NaN for missing) of a number feature is binned in one step.
        """
        missing = len(self.levels) - 1
        array = _float_array(values)
        if array is not None and self.kind == "number":
            levels = np.searchsorted(np.array(self.edges), array, side="right")
            return np.where(np.isnan(array), missing, levels).astype(np.intp)
        if array is not None:
            values = [None if np.isnan(value) else value for value in array.tolist()]
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


@dataclass(frozen=True)
class ModelScores:
    """Many leads' probabilities and top factors, as arrays (row i is lead i).

    ``features[i]``, ``levels[i]`` and ``contributions[i]`` are lead i's top factors,
    largest first: the index of each factor's feature in the model's encodings, its
    level and what it adds to the log-odds.
    """

    model: LeadModel
    probabilities: NDArray[np.float64]
    features: NDArray[np.intp]
    levels: NDArray[np.intp]
    contributions: NDArray[np.float64]

    def factors(self, row: int) -> list[Factor]:
        """Return lead ``row``'s top factors, as :meth:`LeadModel.explain` names them."""
        table = self.model.factor_table
        levels = self.levels[row].tolist()
        features = self.features[row].tolist()
        return [table[f][level] for f, level in zip(features, levels, strict=True)]


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
        return cls.fit_columns(
            columns_of(rows, features), outcomes, size=len(rows),
            bins=bins, min_count=min_count, l2=l2,
        )  # fmt: skip

    @classmethod
    def fit_columns(
        cls,
        columns: Columns,
        outcomes: ArrayLike,
        *,
        size: int,
        bins: int = 8,
        min_count: int = 20,
        l2: float = 10.0,
    ) -> LeadModel:
        """Learn a model from past leads given as columns (``size`` rows), as :meth:`fit`.

        Every column of ``columns`` is a feature; the rows need never exist as dicts.
        """
        outcome_array = np.asarray(outcomes, dtype=np.float64)
        if outcome_array.shape != (size,):
            raise ValueError("give one outcome per row")
        if any(len(values) != size for values in columns.values()):
            raise ValueError("give one value of each feature per row")
        if not 0 < outcome_array.sum() < size:
            raise ValueError("the history must hold both converted and not converted leads")
        encodings = tuple(
            FeatureEncoding.learn(name, values, bins=bins, min_count=min_count)
            for name, values in sorted(columns.items())
        )
        codes = [encoding.codes(columns[encoding.name]) for encoding in encodings]
        sizes = [len(encoding.levels) for encoding in encodings]
        offsets = np.cumsum([1, *sizes])
        coef = newton(codes, sizes, outcome_array, l2)
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
            training_rows=size,
            training_conversions=int(outcome_array.sum()),
        )

    @cached_property
    def factor_table(self) -> tuple[tuple[Factor, ...], ...]:
        """Return every level's factor, by feature and level: a level's contribution is fixed."""
        return tuple(
            tuple(
                Factor(encoding.name, label, float(weight - baseline))
                for label, weight in zip(encoding.levels, weights, strict=True)
            )
            for encoding, weights, baseline in zip(
                self.encodings, self.weights, self.baselines, strict=True
            )
        )

    @property
    def base_log_odds(self) -> float:
        """Return the log-odds of a lead whose every factor is zero (an average lead)."""
        return self.intercept + sum(self.baselines)

    def _levels(self, rows: Sequence[Row]) -> NDArray[np.intp]:
        """Return an (rows x features) array of each row's level of each feature."""
        names = [encoding.name for encoding in self.encodings]
        return self._column_levels(columns_of(rows, names), len(rows))

    def _column_levels(self, columns: Columns, size: int) -> NDArray[np.intp]:
        """Return an (rows x features) array of each row's level; absent columns are missing."""
        levels = np.empty((size, len(self.encodings)), dtype=np.intp)
        for index, encoding in enumerate(self.encodings):
            values = columns.get(encoding.name)
            if values is None:
                levels[:, index] = len(encoding.levels) - 1
            else:
                levels[:, index] = encoding.codes(values)
        return levels

    def _contributions_of(self, levels: NDArray[np.intp]) -> NDArray[np.float64]:
        """Return an (rows x features) array of each feature's contribution."""
        offsets, table = self._contribution_table
        result: NDArray[np.float64] = table[levels + offsets]
        return result

    @cached_property
    def _contribution_table(self) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Return each feature's first index and every level's contribution, end to end."""
        sizes = [len(weights) for weights in self.weights]
        offsets = np.cumsum([0, *sizes[:-1]]).astype(np.intp)
        table = [
            np.array(weights) - baseline
            for weights, baseline in zip(self.weights, self.baselines, strict=True)
        ]
        return offsets, np.concatenate(table) if table else np.zeros(0)

    def _contributions(self, rows: Sequence[Row]) -> NDArray[np.float64]:
        """Return an (rows x features) array of each feature's contribution."""
        return self._contributions_of(self._levels(rows))

    def log_odds(self, rows: Sequence[Row]) -> NDArray[np.float64]:
        """Return each row's log-odds of converting."""
        result: NDArray[np.float64] = self.base_log_odds + self._contributions(rows).sum(axis=1)
        return result

    def predict_proba(self, rows: Sequence[Row]) -> NDArray[np.float64]:
        """Return each row's probability of converting, between 0 and 1."""
        return sigmoid(self.log_odds(rows))

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
        names = [encoding.name for encoding in self.encodings]
        scores = self.predict_columns(columns_of(rows, names), len(rows), top)
        return scores.probabilities, [scores.factors(row) for row in range(len(rows))]

    def predict_columns(self, columns: Columns, size: int, top: int) -> ModelScores:
        """Return the probabilities and top factors of ``size`` leads given as columns.

        Each column is binned or coded at once and the factors are chosen with array
        operations; :meth:`ModelScores.factors` names one lead's factors when asked.
        """
        levels = self._column_levels(columns, size)
        contributions = self._contributions_of(levels)
        probabilities = sigmoid(self.base_log_odds + contributions.sum(axis=1))
        top = max(0, min(top, len(self.encodings)))
        by_name = np.array(
            sorted(range(len(self.encodings)), key=lambda i: self.encodings[i].name), dtype=np.intp
        )
        # The largest |contribution| first, ties by feature name: argmax takes the first.
        remaining = np.abs(contributions[:, by_name])
        chosen = np.empty((size, top), dtype=np.intp)
        rows = np.arange(size)
        for rank in range(top):
            best = np.argmax(remaining, axis=1)
            chosen[:, rank] = by_name[best]
            remaining[rows, best] = -1.0
        return ModelScores(
            self,
            probabilities,
            chosen,
            np.take_along_axis(levels, chosen, axis=1),
            np.take_along_axis(contributions, chosen, axis=1),
        )

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
