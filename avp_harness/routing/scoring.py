"""Per-cluster performance–efficiency scores (DESIGN.md, router steps 4–5), vectorised over α.

Given per-cluster mean accuracy `p` and mean cost `q` (clusters × models, NaN where a model has no
observation in a cluster), the score of a model in a cluster is

    x = α · p̃ + (1 − α) · (1 − q / q_max)

with p̃ min–max normalised across the models of the cluster (1.0 when all equal) and q_max the
cluster's largest mean cost (cost score 1.0 when q_max = 0): the reference code's formula. With
`cost="minmax"` the cost is min–max normalised too, as the paper's prose describes:

    x = α · p̃ + (1 − α) · (1 − (q − q_min) / (q_max − q_min))     (cost score 1.0 when all equal)

Models without observations get x = NaN: they are never ranked above an observed model and
contribute nothing (see `rank_table`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import RouterError

Array = NDArray[np.float64]


def normalised_accuracy(p: Array) -> Array:
    """Min–max normalise `p` along the last axis, ignoring NaN; 1.0 where all observed are equal."""
    with np.errstate(invalid="ignore"):
        lo = np.nanmin(np.where(np.isnan(p), np.inf, p), axis=-1, keepdims=True)
        hi = np.nanmax(np.where(np.isnan(p), -np.inf, p), axis=-1, keepdims=True)
        span = hi - lo
        out = np.where(span > 0, (p - lo) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(np.isnan(p), np.nan, out)


def cost_score(q: Array) -> Array:
    """1 − q / q_max along the last axis (q_max over observed models); 1.0 where q_max = 0."""
    q_max = np.max(np.where(np.isnan(q), -np.inf, q), axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(q_max > 0, 1.0 - q / np.where(q_max > 0, q_max, 1.0), 1.0)
    return np.where(np.isnan(q), np.nan, out)


def minmax_cost_score(q: Array) -> Array:
    """1 − (q − q_min) / (q_max − q_min) along the last axis, ignoring NaN; 1.0 where all equal."""
    return normalised_accuracy(-np.asarray(q, dtype=np.float64))


def performance_efficiency(p: Array, q: Array, alphas: Array, cost: str = "max") -> Array:
    """x for every α: shape (len(alphas),) + p.shape. NaN where p or q is NaN.

    `cost`: "max" (1 − q/q_max, the reference code) or "minmax" (the paper's prose)."""
    acc = normalised_accuracy(p)
    if cost == "max":
        eff = cost_score(q)
    elif cost == "minmax":
        eff = minmax_cost_score(q)
    else:
        raise RouterError(f"unknown cost normalisation {cost!r}: use max or minmax")
    a = np.asarray(alphas, dtype=np.float64).reshape((-1,) + (1,) * p.ndim)
    x = a * acc + (1.0 - a) * eff
    return np.where(np.isnan(p) | np.isnan(q), np.nan, x)


def rank_table(x: Array) -> Array:
    """1 / (rank + 1) per model, rank = 0-based position sorted by x descending, stable ties.

    Works on the last axis. Unobserved models (NaN) get 0: they add nothing to any total.
    """
    key = np.where(np.isnan(x), np.inf, -x)  # NaN sorts last
    order = np.argsort(key, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(x.shape[-1]), axis=-1)
    return np.where(np.isnan(x), 0.0, 1.0 / (ranks + 1.0))


def safe_mean(values: Array, axis: int = 0) -> Array:
    """Mean over non-NaN entries along `axis`; NaN where none (no RuntimeWarning)."""
    seen = ~np.isnan(values)
    n = seen.sum(axis=axis)
    total = np.where(seen, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)
