"""Cost–accuracy sweeps over α on the held-out split, beside every single model and baseline.

    result = run_sweep(data, RouterSpec(), seed=42)
    result.summary()      # frontier, matching α, accuracy at a fraction of the best model's cost...

The split follows a missing-cells treatment (`split.MISSING`): by default (`drop-first`, the
reference's) items lacking a cell are dropped before splitting; with `keep` the router is fitted
on every train query (per-cluster statistics use observed cells only) and evaluated on the test
queries where every model has a score and a cost. Either way every system is compared on the same
queries, and the number of items dropped for missing cells is reported, never silently scored as
wrong or free.

The router's frontier is the upper-left convex hull of *all* its points: besides the α grid, a
router that knows where its decisions can change (`decision_segments`, e.g. the Avengers-Pro
router: where two models' scores cross in a cluster) is evaluated on every segment of α between
them, so the frontier does not depend on the grid. Every single model and baseline is placed
against it; those above it are flagged (the oracle, which reads the test answers, is shown but
never flagged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import RouterError
from avp_harness.routing import baselines, metrics
from avp_harness.routing.base import RouterBase, check_alphas, get_kind
from avp_harness.routing.data import RoutingData
from avp_harness.routing.split import DEFAULT_MISSING, split_data

Array = NDArray[np.float64]
FRACTIONS = (0.1, 0.15, 0.25, 0.5)
PAIR_NOTE = (
    "two models: each query goes to one or the other, and within a cluster the ranking of a "
    "pair flips once as alpha grows, so the sweep is (nearly) two points, the cheap model and "
    "the strong one, not a curve"
)


def alpha_grid(spec: str) -> Array:
    """'0:1:0.01' -> 101 values (inclusive end); '0.2,0.5' -> a list."""
    try:
        if ":" in spec:
            lo, hi, step = (float(v) for v in spec.split(":"))
            if step <= 0 or hi < lo:
                raise ValueError
            n = int(round((hi - lo) / step)) + 1
            return np.round(lo + step * np.arange(n), 10)
        return np.array([float(v) for v in spec.split(",")])
    except ValueError:
        raise RouterError(f"bad alpha grid {spec!r}: use START:STOP:STEP or a,b,c") from None


@dataclass(frozen=True)
class RouterSpec:
    """Which router kind to fit and its hyperparameters (each kind keeps those it has).

    `params` holds any further hyperparameters by their estimator name (a stored router's
    `get_params()`, or a new kind's own); they win over the fields.
    """

    kind: str = "faithful"
    n_clusters: int = 25
    top_k: int = 3
    beta: float = 9.0
    n_neighbors: int = 20
    n_init: int = 10
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self, seed: int) -> RouterBase:
        named = {"n_clusters": self.n_clusters, "top_k": self.top_k, "beta": self.beta,
                 "n_neighbors": self.n_neighbors, "n_init": self.n_init}
        return get_kind(self.kind).build({**named, **self.params}, seed=seed)


@dataclass
class SweepResult:
    """One split's curve and reference points. Accuracies are macro over datasets, costs in $."""

    seed: int
    models: tuple[str, ...]
    alphas: Array
    accuracy: Array
    cost: Array
    usage: Array  # (len(alphas), n_models)
    single: dict[str, tuple[float, float]]  # model -> (accuracy, cost)
    baselines: dict[str, tuple[float, float]]  # oracle, random, cheapest, best_per_benchmark
    n_train: int
    n_test: int
    n_test_dropped: int
    missing_cells: dict[str, int] = field(default_factory=dict)
    missing: str = DEFAULT_MISSING
    n_dropped_before_split: int = 0
    frontier_cost: Array | None = None  # every router point (grid and decision α), for the hull
    frontier_accuracy: Array | None = None
    frontier_exact: bool = False  # True: the router's decision α were all evaluated
    # the α from which each decision point holds (its decisions are those just above it)
    frontier_alpha: Array | None = None
    test_rows: NDArray[np.intp] | None = None  # rows of the data routed, in the split's order
    choice: NDArray[np.intp] | None = None  # (len(alphas), len(test_rows)) chosen columns
    router: RouterBase | None = field(default=None, repr=False)

    @property
    def best_model(self) -> str:
        return max(self.single, key=lambda m: (self.single[m][0], -self.single[m][1]))

    def points(self) -> tuple[Array, Array]:
        """Every router point known: the grid's and, when evaluated, those at decision α."""
        if self.frontier_cost is None or self.frontier_accuracy is None:
            return self.cost, self.accuracy
        return (np.concatenate([self.cost, self.frontier_cost]),
                np.concatenate([self.accuracy, self.frontier_accuracy]))

    def hull(self) -> tuple[Array, Array]:
        """The router's frontier: the upper-left hull of all its points (mixing two α)."""
        return metrics.upper_hull(*self.points())

    def pareto(self) -> NDArray[np.bool_]:
        """Per grid α: is its point undominated by every router point (grid and exact)?"""
        cost, acc = self.points()
        return metrics.pareto_mask(cost, acc)[: len(self.cost)]

    def distinct_points(self) -> int:
        cost, acc = self.points()
        return len({(round(float(c), 12), round(float(a), 12)) for c, a in zip(cost, acc,
                                                                                 strict=True)})

    def systems(self) -> dict[str, tuple[float, float]]:
        """Every single model and baseline (baselines as "[name]"): (accuracy, cost)."""
        return {**self.single, **{f"[{k}]": v for k, v in self.baselines.items()}}

    def frontier_reach(self, cost: float) -> float:
        """The router frontier's accuracy at `cost`; NaN below its cheapest point."""
        hc, ha = self.hull()
        return metrics.hull_accuracy(hc, ha, cost)

    def above_frontier(self) -> list[str]:
        """Single models and baselines more accurate than the router's frontier at their cost
        (cheaper than its cheapest point: more accurate than that point). Never the oracle."""
        hc, ha = self.hull()
        above = []
        for name, (acc, cost) in self.systems().items():
            if name == "[oracle]":
                continue
            reach = metrics.hull_accuracy(hc, ha, cost)
            bar = ha[0] if math.isnan(reach) else reach
            if acc > bar + 1e-12:
                above.append(name)
        return above

    def models_above_hull(self) -> list[str]:
        """Single models above the router's frontier (see `above_frontier`)."""
        return [name for name in self.above_frontier() if name in self.single]

    def summary(self) -> dict[str, Any]:
        """The headline figures of this split (plain JSON-able values)."""
        best = self.best_model
        b_acc, b_cost = self.single[best]
        cheap = min(self.single, key=lambda m: (self.single[m][1], -self.single[m][0]))
        hc, ha = self.hull()
        match = metrics.cheapest_reaching(self.alphas, self.accuracy, self.cost, b_acc, b_cost)
        fractions = {
            str(f): _match(
                metrics.best_within(self.alphas, self.accuracy, self.cost, f * b_cost, b_cost)
            )
            for f in FRACTIONS
        }
        oracle_acc = self.baselines["oracle"][0]
        return {
            "seed": self.seed,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_test_dropped_missing": self.n_test_dropped,
            "best_model": best,
            "best_model_accuracy": b_acc,
            "best_model_cost": b_cost,
            "router_max_accuracy": float(self.accuracy.max()),
            "match_best": _match(match),
            "at_fraction_of_best_cost": fractions,
            "auc": metrics.auc(hc, ha, float(hc[0]), max(b_cost, float(hc[-1]))),
            "apgr": metrics.apgr(hc, ha, self.single[cheap], (b_acc, b_cost)),
            "oracle_accuracy": oracle_acc,
            "oracle_gap": oracle_acc - float(self.accuracy.max()),
            "models_above_frontier": self.models_above_hull(),
            "above_frontier": self.above_frontier(),
            "frontier_exact": self.frontier_exact,
            "distinct_points": self.distinct_points(),
            "missing": self.missing,
            "n_dropped_missing_before_split": self.n_dropped_before_split,
            **({"note": PAIR_NOTE} if len(self.models) == 2 else {}),
        }


def _match(m: metrics.Match | None) -> dict[str, float] | None:
    return None if m is None else asdict(m)


def run_sweep(
    data: RoutingData,
    spec: RouterSpec,
    *,
    seed: int = 42,
    train_ratio: float = 0.7,
    alphas: Array | None = None,
    router: RouterBase | None = None,
    fit_inputs: Mapping[str, Any] | None = None,
    missing: str = DEFAULT_MISSING,
) -> SweepResult:
    """Split, fit (unless a fitted `router` is given), route the test split at every α.

    `fit_inputs` are extra inputs the kind may need (`RouterKind.needs`; the datasets are taken
    from `data`), one entry per query of `data`; they are cut to the train split like X, A and C.
    `missing` is the missing-cells treatment of the split (`split.MISSING`).
    """
    if data.X is None:
        raise RouterError("the routing data has no embeddings")
    grid = check_alphas(alpha_grid("0:1:0.01") if alphas is None else alphas)
    kind = get_kind(spec.kind)
    if kind.chooses != "one":
        raise RouterError(
            f"router kind {spec.kind!r} chooses several models: its answers are combined by an "
            "ensemble strategy; evaluate it with `avp compare`"
        )
    split = split_data(data, train_ratio=train_ratio, seed=seed, missing=missing)
    train, test = split.train, split.test
    complete = data.complete_rows()
    kept = test[complete[test]]
    if len(kept) == 0:
        raise RouterError("no test query has a score and a cost for every model")
    X, A, C, D = data.X, data.A, data.C, data.datasets
    if router is None:
        extra = kind.fit_inputs({"datasets": data.datasets, **(fit_inputs or {})}, train)
        router = spec.build(seed).fit(X[train], A[train], C[train], **extra)
    choice = router.route_curve(X[kept], grid)
    At, Ct, Dt = A[kept], C[kept], D[kept]
    acc, cost = metrics.evaluate(choice, At, Ct, Dt)
    m = len(data.models)
    single_choice = np.repeat(np.arange(m)[:, None], len(kept), axis=1)
    s_acc, s_cost = metrics.evaluate(single_choice, At, Ct, Dt)
    refs = {
        "oracle": baselines.oracle(At, Ct),
        "cheapest": baselines.cheapest(C[train], len(kept)),
        "best_per_benchmark": baselines.best_per_benchmark(A[train], C[train], D[train], Dt),
    }
    points = {k: tuple(float(v) for v in metrics.evaluate(c, At, Ct, Dt)) for k, c in refs.items()}
    points["random"] = metrics.expected_random(At, Ct, Dt)
    exact = exact_curve(router, X[kept], At, Ct, Dt)
    f_acc, f_cost, f_alpha = (None, None, None) if exact is None else exact
    return SweepResult(
        seed=seed,
        models=data.models,
        alphas=grid,
        accuracy=acc,
        cost=cost,
        usage=metrics.usage_shares(choice, m),
        single={
            name: (float(a), float(c))
            for name, a, c in zip(data.models, s_acc, s_cost, strict=True)
        },
        baselines=points,  # type: ignore[arg-type]
        n_train=len(train),
        n_test=len(kept),
        n_test_dropped=len(test) - len(kept),
        missing_cells=data.missing_report(),
        missing=split.missing,
        n_dropped_before_split=len(split.dropped),
        frontier_cost=f_cost,
        frontier_accuracy=f_acc,
        frontier_exact=exact is not None,
        frontier_alpha=f_alpha,
        test_rows=kept,
        choice=choice,
        router=router,
    )


def exact_curve(
    router: RouterBase, X: Array, A: Array, C: Array, datasets: NDArray[np.object_]
) -> tuple[Array, Array, Array] | None:
    """(accuracy, cost, α) of the router on every segment of α ∈ [0, 1] where its decisions are
    constant, for a router that can list them (`decision_segments`); None otherwise. α is the
    segment's start: 0, then each α past which a decision changes.

    The curve starts from every group's first segment and moves through the α where a decision
    changes, adding each changed query's score and cost difference (one point per such α)."""
    segments = getattr(router, "decision_segments", None)
    if segments is None:
        return None
    names = sorted(set(datasets.tolist()))
    column = np.searchsorted(np.array(names, dtype=object), datasets)
    per_dataset = np.bincount(column, minlength=len(names)).astype(np.float64)
    start = np.zeros(len(X), dtype=np.intp)
    at, who, old, new = [], [], [], []
    for rows, cuts, choice in segments(X):
        start[rows] = choice[0]
        i, j = np.nonzero(choice[1:] != choice[:-1])
        at.append(cuts[i])
        who.append(rows[j])
        old.append(choice[i, j])
        new.append(choice[i + 1, j])
    q = np.arange(len(X))
    acc0 = np.bincount(column, weights=A[q, start], minlength=len(names))
    cost0 = float(C[q, start].sum())
    alphas, rows_, before, after = (np.concatenate(v) for v in (at, who, old, new))
    order = np.argsort(alphas, kind="stable")
    alphas, rows_, before, after = alphas[order], rows_[order], before[order], after[order]
    d_acc = np.zeros((len(alphas), len(names)))
    d_acc[np.arange(len(alphas)), column[rows_]] = A[rows_, after] - A[rows_, before]
    acc_sums = acc0 + np.cumsum(d_acc, axis=0)
    costs = cost0 + np.cumsum(C[rows_, after] - C[rows_, before])
    last = np.flatnonzero(np.append(alphas[1:] != alphas[:-1], True))  # one point per α
    acc = np.concatenate([[acc0], acc_sums[last]]) / per_dataset
    return (acc.mean(axis=1), np.concatenate([[cost0], costs[last]]),
            np.concatenate([[0.0], alphas[last]]))


def run_seeds(
    data: RoutingData,
    spec: RouterSpec,
    seeds: list[int],
    *,
    train_ratio: float = 0.7,
    alphas: Array | None = None,
    fit_inputs: Mapping[str, Any] | None = None,
    missing: str = DEFAULT_MISSING,
) -> list[SweepResult]:
    """One sweep per seed (a new split and a new clustering each)."""
    return [
        run_sweep(data, spec, seed=s, train_ratio=train_ratio, alphas=alphas,
                  fit_inputs=fit_inputs, missing=missing)
        for s in seeds
    ]


def intervals(results: list[SweepResult]) -> dict[str, tuple[float, float, float]]:
    """Mean and 95% percentile-bootstrap interval over seeds of the headline figures (an
    interval never leaves the range of the values, e.g. [0, 1] for a share)."""
    rows = [r.summary() for r in results]

    def pick(key: str, sub: str | None = None) -> list[float]:
        out = []
        for row in rows:
            v = row[key]
            if sub is not None:
                v = v[sub] if v is not None else None
            out.append(math.nan if v is None else float(v))
        return out

    figures = {
        "router_max_accuracy": pick("router_max_accuracy"),
        "best_model_accuracy": pick("best_model_accuracy"),
        "auc": pick("auc"),
        "apgr": pick("apgr"),
        "oracle_gap": pick("oracle_gap"),
        "match_best_cost_ratio": pick("match_best", "cost_ratio"),
        "match_best_alpha": pick("match_best", "alpha"),
        "match_best_found": [0.0 if r["match_best"] is None else 1.0 for r in rows],
    }
    for f in FRACTIONS:
        figures[f"accuracy_at_{f}_cost"] = [
            math.nan
            if r["at_fraction_of_best_cost"][str(f)] is None
            else r["at_fraction_of_best_cost"][str(f)]["accuracy"]
            for r in rows
        ]
    return {k: metrics.mean_interval(np.array(v)) for k, v in figures.items()}
