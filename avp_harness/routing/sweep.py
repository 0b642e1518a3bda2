"""Cost–accuracy sweeps over α on the held-out split, beside every single model and baseline.

    result = run_sweep(data, RouterSpec(), seed=42)
    result.summary()      # frontier, matching α, accuracy at a fraction of the best model's cost...

The router is fitted once on the train split (queries with missing cells included: per-cluster
statistics use observed cells only). It is evaluated on the test queries where every model has a
score and a cost, so that every system is compared on the same queries; the number of test
queries dropped for missing cells is reported, never silently scored as wrong or free.
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
from avp_harness.routing.split import split_indices

Array = NDArray[np.float64]
FRACTIONS = (0.1, 0.15, 0.25, 0.5)


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

    @property
    def best_model(self) -> str:
        return max(self.single, key=lambda m: (self.single[m][0], -self.single[m][1]))

    def hull(self) -> tuple[Array, Array]:
        return metrics.upper_hull(self.cost, self.accuracy)

    def pareto(self) -> NDArray[np.bool_]:
        return metrics.pareto_mask(self.cost, self.accuracy)

    def models_above_hull(self) -> list[str]:
        """Single models more accurate than the router's mixed frontier at their cost."""
        hc, ha = self.hull()
        above = []
        for name, (acc, cost) in self.single.items():
            reach = metrics.hull_accuracy(hc, ha, cost)
            bar = ha[0] if math.isnan(reach) else reach
            if acc > bar + 1e-12:
                above.append(name)
        return above

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
) -> SweepResult:
    """Split, fit (unless a fitted `router` is given), route the test split at every α.

    `fit_inputs` are extra inputs the kind may need (`RouterKind.needs`; the datasets are taken
    from `data`), one entry per query of `data`; they are cut to the train split like X, A and C.
    """
    if data.X is None:
        raise RouterError("the routing data has no embeddings")
    grid = check_alphas(alpha_grid("0:1:0.01") if alphas is None else alphas)
    kind = get_kind(spec.kind)
    if kind.chooses != "one":
        raise RouterError(
            f"router kind {spec.kind!r} chooses several models: sweeping it needs an ensemble "
            "strategy to turn their answers into one, which avp does not have yet"
        )
    train, test = split_indices(data.datasets, data.index, train_ratio=train_ratio, seed=seed)
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
    )


def run_seeds(
    data: RoutingData,
    spec: RouterSpec,
    seeds: list[int],
    *,
    train_ratio: float = 0.7,
    alphas: Array | None = None,
    fit_inputs: Mapping[str, Any] | None = None,
) -> list[SweepResult]:
    """One sweep per seed (a new split and a new clustering each)."""
    return [
        run_sweep(data, spec, seed=s, train_ratio=train_ratio, alphas=alphas, fit_inputs=fit_inputs)
        for s in seeds
    ]


def intervals(results: list[SweepResult]) -> dict[str, tuple[float, float, float]]:
    """Mean and 95% interval over seeds of the headline figures."""
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
