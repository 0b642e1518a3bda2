"""Metrics of a routed system on a test set, and of its cost–accuracy curve.

Accuracy is the macro average over datasets of the chosen model's score; cost is the sum of the
chosen model's dollars over the test queries (DESIGN.md, router step 7). The curve over α is
summarised by its Pareto frontier and its upper convex hull: a point on a hull segment is
realised by routing a fraction of queries at one α and the rest at the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def evaluate(
    choice: NDArray[np.intp], A: Array, C: Array, datasets: NDArray[np.object_]
) -> tuple[Array, Array]:
    """Macro accuracy and total cost of choices shaped (..., n): returns arrays shaped (...)."""
    choice = np.asarray(choice)
    picked_a = np.take_along_axis(
        np.broadcast_to(A, choice.shape + A.shape[-1:]), choice[..., None], axis=-1
    )[..., 0]
    picked_c = np.take_along_axis(
        np.broadcast_to(C, choice.shape + C.shape[-1:]), choice[..., None], axis=-1
    )[..., 0]
    names = sorted(set(datasets.tolist()))
    per_dataset = [picked_a[..., datasets == name].mean(axis=-1) for name in names]
    return np.mean(per_dataset, axis=0), picked_c.sum(axis=-1)


def expected_random(A: Array, C: Array, datasets: NDArray[np.object_]) -> tuple[float, float]:
    """Accuracy and cost of choosing a model uniformly at random, in expectation."""
    names = sorted(set(datasets.tolist()))
    acc = float(np.mean([A[datasets == n].mean() for n in names]))
    return acc, float(C.mean(axis=1).sum())


def pareto_mask(costs: Array, accs: Array) -> NDArray[np.bool_]:
    """True for points no other point beats (cost ≤ and accuracy ≥, one strictly)."""
    c = np.asarray(costs)[:, None]
    a = np.asarray(accs)[:, None]
    dominated = ((c >= c.T) & (a <= a.T) & ((c > c.T) | (a < a.T))).any(axis=1)
    return np.asarray(~dominated, dtype=np.bool_)


def upper_hull(costs: Array, accs: Array) -> tuple[Array, Array]:
    """Vertices (sorted by cost) of the rising part of the upper convex hull of the points.

    It starts at the cheapest point (the most accurate among equally cheap ones) and ends at the
    most accurate one: every point on it is reachable by mixing two α values.
    """
    pts = sorted(
        set(zip(np.asarray(costs, float).tolist(), np.asarray(accs, float).tolist(), strict=True)),
        key=lambda p: (p[0], -p[1]),
    )
    hull: list[tuple[float, float]] = []
    for p in pts:
        if hull and p[0] == hull[-1][0]:
            continue  # same cost, lower accuracy
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()  # hull[-1] lies on or below the chord: not a vertex
            else:
                break
        hull.append(p)
    top = int(np.argmax([y for _, y in hull]))
    kept = hull[: top + 1]
    return np.array([x for x, _ in kept]), np.array([y for _, y in kept])


def hull_accuracy(hull_c: Array, hull_a: Array, cost: float) -> float:
    """Best accuracy the mixed router reaches for `cost` dollars; NaN below its cheapest point."""
    if cost < hull_c[0]:
        return math.nan
    return float(np.interp(cost, hull_c, hull_a))


def auc(hull_c: Array, hull_a: Array, lo: float, hi: float) -> float:
    """Mean hull accuracy over the cost range [lo, hi] (area / width); hull flat past its end."""
    grid = np.linspace(max(lo, hull_c[0]), hi, 512)
    return float(np.interp(grid, hull_c, hull_a).mean()) if hi > grid[0] else float(hull_a[-1])


def apgr(
    hull_c: Array, hull_a: Array, weak: tuple[float, float], strong: tuple[float, float]
) -> float:
    """Average performance gap recovered between a weak (cheap) and a strong model.

    `weak` and `strong` are (accuracy, cost), as in `SweepResult.single`.

    PGR(c) = (router accuracy at cost c − weak accuracy) / (strong − weak accuracy), averaged over
    an even grid of costs from the weak model's cost to the strong model's cost (RouterBench/
    RouteLLM). Costs the router cannot reach count as 0 recovered.
    """
    (wa, wc), (sa, sc) = weak, strong
    if sa <= wa or sc <= wc:
        return math.nan
    grid = np.linspace(wc, sc, 256)
    acc = np.array([hull_accuracy(hull_c, hull_a, float(c)) for c in grid])
    pgr = np.where(np.isnan(acc), 0.0, (acc - wa) / (sa - wa))
    return float(pgr.mean())


def usage_shares(choice: NDArray[np.intp], n_models: int) -> Array:
    """Fraction of queries routed to each model, per row of `choice` (..., n) -> (..., m)."""
    onehot = choice[..., None] == np.arange(n_models)
    return np.asarray(onehot.mean(axis=-2), dtype=np.float64)


@dataclass(frozen=True)
class Match:
    """Where the router first reaches a target accuracy: α, cost and cost relative to a model."""

    alpha: float
    accuracy: float
    cost: float
    cost_ratio: float


def cheapest_reaching(
    alphas: Array, accs: Array, costs: Array, target: float, ref_cost: float
) -> Match | None:
    """The cheapest α whose accuracy is ≥ target (None when no α does)."""
    ok = np.flatnonzero(accs >= target - 1e-12)
    if not len(ok):
        return None
    i = ok[np.argmin(costs[ok])]
    ratio = costs[i] / ref_cost if ref_cost > 0 else math.inf
    return Match(float(alphas[i]), float(accs[i]), float(costs[i]), float(ratio))


def best_within(
    alphas: Array, accs: Array, costs: Array, budget: float, ref_cost: float
) -> Match | None:
    """The most accurate α whose cost is ≤ budget (None when every α costs more)."""
    ok = np.flatnonzero(costs <= budget + 1e-15)
    if not len(ok):
        return None
    i = ok[np.argmax(accs[ok])]
    ratio = costs[i] / ref_cost if ref_cost > 0 else math.inf
    return Match(float(alphas[i]), float(accs[i]), float(costs[i]), float(ratio))


def mean_interval(
    values: Array, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and its percentile-bootstrap interval over repeated splits; (v, v, v) for one value.

    Resampling the values with replacement and taking percentiles of the resampled means keeps
    the interval inside the values' range (a share stays in [0, 1]), unlike a Student-t interval.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return (math.nan, math.nan, math.nan)
    m = float(v.mean())
    if len(v) < 2:
        return (m, m, m)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return (m, float(min(lo, m)), float(max(hi, m)))


def bootstrap_interval(
    picked: Array, datasets: NDArray[np.object_], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of macro accuracy, resampling queries within each dataset."""
    rng = np.random.default_rng(seed)
    names = sorted(set(datasets.tolist()))
    per = []
    for name in names:
        vals = picked[datasets == name]
        idx = rng.integers(0, len(vals), size=(n_boot, len(vals)))
        per.append(vals[idx].mean(axis=1))
    macro = np.mean(per, axis=0)
    lo, hi = np.percentile(macro, [2.5, 97.5])
    return float(lo), float(hi)
