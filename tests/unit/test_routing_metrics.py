"""Metrics of routed systems and of cost–accuracy curves, on small hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avp_harness.errors import RouterError
from avp_harness.routing import (
    RouterSpec,
    RoutingData,
    alpha_grid,
    baselines,
    metrics,
    run_seeds,
    run_sweep,
)
from avp_harness.routing.sweep import intervals
from tests.unit.test_routing_avengers import synthetic


def test_evaluate_is_macro_over_datasets_and_sums_cost():
    A = np.array([[1, 0], [1, 0], [1, 0], [0, 1.0]])
    C = np.array([[1, 2], [1, 2], [1, 2], [1, 2.0]])
    d = np.array(["big", "big", "big", "small"], dtype=object)
    acc, cost = metrics.evaluate(np.array([[0, 0, 0, 0], [1, 1, 1, 1]]), A, C, d)
    np.testing.assert_allclose(acc, [0.5, 0.5])  # (1 + 0)/2 and (0 + 1)/2, not 3/4 and 1/4
    np.testing.assert_allclose(cost, [4, 8])


def test_upper_hull_and_pareto():
    costs = np.array([1.0, 2.0, 3.0, 4.0, 2.5, 5.0])
    accs = np.array([0.5, 0.7, 0.75, 0.9, 0.6, 0.9])
    hc, ha = metrics.upper_hull(costs, accs)
    # (3, .75) lies under the chord (2, .7)-(4, .9); (5, .9) adds no accuracy.
    np.testing.assert_allclose(hc, [1, 2, 4])
    np.testing.assert_allclose(ha, [0.5, 0.7, 0.9])
    assert metrics.hull_accuracy(hc, ha, 3.0) == pytest.approx(0.8)
    assert math.isnan(metrics.hull_accuracy(hc, ha, 0.5))
    assert metrics.pareto_mask(costs, accs).tolist() == [True, True, True, True, False, False]


def test_apgr_auc_and_matches():
    hc, ha = np.array([1.0, 3.0]), np.array([0.5, 0.9])
    # Router line from weak (1, .5) to strong (3, .9): recovers half the gap on average.
    # (accuracy, cost) of the weak and the strong model.
    assert metrics.apgr(hc, ha, (0.5, 1.0), (0.9, 3.0)) == pytest.approx(0.5, abs=0.01)
    # A router at the strong model's accuracy from the weak model's cost recovers everything.
    assert metrics.apgr(np.array([1.0]), np.array([0.9]), (0.5, 1.0), (0.9, 3.0)) == 1.0
    assert metrics.auc(hc, ha, 1.0, 3.0) == pytest.approx(0.7, abs=0.01)
    alphas = np.array([0.0, 0.5, 1.0])
    accs, costs = np.array([0.5, 0.8, 0.9]), np.array([1.0, 2.0, 3.0])
    m = metrics.cheapest_reaching(alphas, accs, costs, 0.8, 4.0)
    assert (m.alpha, m.cost, m.cost_ratio) == (0.5, 2.0, 0.5)
    assert metrics.best_within(alphas, accs, costs, 1.5, 4.0).accuracy == 0.5
    assert metrics.best_within(alphas, accs, costs, 0.5, 4.0) is None


def test_baselines():
    A = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0.0]])
    C = np.array([[3, 1, 2], [1, 1, 5], [4, 2, 3.0]])
    assert baselines.oracle(A, C).tolist() == [1, 2, 1]
    d = np.array(["x", "y", "y"], dtype=object)
    assert baselines.best_per_benchmark(A, C, d, d).tolist() == [1, 2, 2]
    assert baselines.cheapest(C, 2).tolist() == [1, 1]
    assert metrics.expected_random(A, C, d)[1] == pytest.approx(22 / 3)


def test_intervals_and_alpha_grid():
    mean, lo, hi = metrics.mean_interval(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0 and lo < 2.0 < hi
    assert len(alpha_grid("0:1:0.01")) == 101
    assert alpha_grid("0.2,0.4").tolist() == [0.2, 0.4]
    with pytest.raises(RouterError):
        alpha_grid("1:0:0.1")


def _data(missing: bool = False) -> RoutingData:
    X, A, C, d = synthetic(n=600)
    if missing:
        A[:40, 3] = np.nan
    return RoutingData(("m0", "m1", "m2", "m3", "m4"), A, C, d, np.arange(len(A)), X=X)


def test_sweep_reports_curve_baselines_and_missing():
    result = run_sweep(_data(missing=True), RouterSpec(n_clusters=8), seed=1, missing="keep")
    assert result.accuracy.shape == (101,) and result.usage.shape == (101, 5)
    np.testing.assert_allclose(result.usage.sum(axis=1), 1.0)
    assert result.missing_cells == {"m3": 40}
    assert (
        result.n_test_dropped > 0 and result.n_train + result.n_test + result.n_test_dropped == 600
    )
    assert result.n_dropped_before_split == 0 and result.summary()["missing"] == "keep"
    # The reference's treatment (the default): the 40 items are dropped before the split.
    first = run_sweep(_data(missing=True), RouterSpec(n_clusters=8), seed=1)
    assert first.n_dropped_before_split == 40 and first.n_test_dropped == 0
    assert first.n_train + first.n_test == 560
    s = result.summary()
    assert s["oracle_accuracy"] >= s["router_max_accuracy"]
    assert s["best_model"] in result.single
    # At α = 0 the router picks the cheapest model everywhere: its cost is that model's.
    assert result.cost[0] == pytest.approx(result.single["m0"][1])


def test_seeds_give_intervals():
    results = run_seeds(_data(), RouterSpec(n_clusters=6), [1, 2, 3], alphas=alpha_grid("0:1:0.1"))
    table = intervals(results)
    mean, lo, hi = table["router_max_accuracy"]
    assert lo <= mean <= hi and len({r.n_test for r in results}) == 1
