"""Fitting the model: an L2-penalised logistic regression on one-hot levels, by Newton's method.

Full-batch Newton from zero weights: no random step, so the same history always gives
the same weights, bit for bit. The one-hot design is never built (see :func:`newton`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def sigmoid(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the logistic function of each log-odds."""
    result: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * logits))
    return result


#: The Hessian is computed again after a step that moved some weight by more than this;
#: smaller steps reuse the last one (they are close to the optimum, where it barely moves).
HESSIAN_REFRESH = 0.01


def _hessian(
    codes: Sequence[NDArray[np.intp]],
    sizes: Sequence[int],
    offsets: NDArray[np.intp],
    border: NDArray[np.float64],
    weight: NDArray[np.float64],
    penalty: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Return the penalised Hessian: the intercept's border, then a count per pair of levels."""
    width = len(border)
    hessian = np.zeros((width, width))
    hessian[0, :] = border
    hessian[:, 0] = border
    for f, (codes_f, size_f) in enumerate(zip(codes, sizes, strict=True)):
        first = int(offsets[f])
        for g in range(f, len(codes)):
            second, size_g = int(offsets[g]), int(sizes[g])
            pairs = np.bincount(
                codes_f * size_g + codes[g], weights=weight, minlength=size_f * size_g
            ).reshape(size_f, size_g)
            hessian[first : first + size_f, second : second + size_g] = pairs
            hessian[second : second + size_g, first : first + size_f] = pairs.T
    hessian[np.diag_indices(width)] += penalty
    return hessian


def newton(
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
    Once the steps are small the last Hessian is reused (see ``HESSIAN_REFRESH``): the
    optimum is the same, each further step costs O(rows x features).
    """
    offsets = np.cumsum([1, *sizes])
    width = int(offsets[-1])
    rows = len(outcomes)
    columns = (
        np.stack([offset + c for offset, c in zip(offsets[:-1], codes, strict=True)])
        if codes
        else np.zeros((0, rows), dtype=np.intp)
    )
    penalty = np.full(width, l2)
    penalty[0] = 1e-9
    coef = np.zeros(width)

    def logits_of(c: NDArray[np.float64]) -> NDArray[np.float64]:
        result: NDArray[np.float64] = c[0] + c[columns].sum(axis=0)
        return result

    def loss(c: NDArray[np.float64]) -> float:
        logits = logits_of(c)
        return float(np.sum(np.logaddexp(0.0, logits) - outcomes * logits) + 0.5 * penalty @ c**2)

    def per_level(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        sums = np.zeros(width)
        for column in columns:
            sums += np.bincount(column, weights=weights, minlength=width)
        sums[0] = weights.sum()
        return sums

    current = loss(coef)
    hessian: NDArray[np.float64] | None = None
    moved = np.inf
    for _ in range(max_steps):
        prob = sigmoid(logits_of(coef))
        gradient = per_level(prob - outcomes) + penalty * coef
        if hessian is None or moved > HESSIAN_REFRESH:
            weight = prob * (1 - prob)
            hessian = _hessian(codes, sizes, offsets, per_level(weight), weight, penalty)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while (candidate := loss(coef - scale * step)) > current and scale > 1e-6:
            scale /= 2
        coef, current = coef - scale * step, candidate
        moved = float(np.max(np.abs(scale * step)))
        if moved < 1e-9:
            break
    return coef


__all__ = ["HESSIAN_REFRESH", "newton", "sigmoid"]
