"""The split in the reference's order, drop-first, score_sum's min-max cost, bootstrap intervals,
the exact frontier against every baseline, the two-model note, and `file:` embeddings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avp_harness.embed.file import FileEmbedder
from avp_harness.errors import DataError, RouterError
from avp_harness.routing import AvengersProRouter, RouterSpec, RoutingData, metrics, run_sweep
from avp_harness.routing.scoring import minmax_cost_score, performance_efficiency
from avp_harness.routing.split import split_data, split_indices
from avp_harness.routing.sweep import SweepResult, intervals
from avp_harness.routing.sweep import exact_curve as sweep_exact
from tests.unit.test_routing_avengers import synthetic


def test_train_rows_come_in_the_splits_shuffled_order():
    datasets = np.array(["b"] * 7 + ["a"] * 10, dtype=object)
    index = np.array(list(range(7)) + list(range(100, 90, -1)))
    train, test = split_indices(datasets, index, seed=42)
    # Literally: datasets in sorted order; per dataset, rows sorted by index, then
    # permutation positions [n_test:] are train, in permutation order.
    expected_train, expected_test = [], []
    for rows in ([16 - i for i in range(10)], list(range(7))):  # "a" by index, then "b"
        perm = np.random.default_rng(42).permutation(len(rows))
        n_test = len(rows) - math.floor(0.7 * len(rows))
        expected_test += [rows[i] for i in perm[:n_test]]
        expected_train += [rows[i] for i in perm[n_test:]]
    assert train.tolist() == expected_train and test.tolist() == expected_test
    assert train.tolist() != sorted(train.tolist())  # not sorted: KMeans sees this order


def _table(n=60, missing_rows=(3, 17)):
    X, A, C, d = synthetic(n=n, m=3)
    A[list(missing_rows), 1] = np.nan
    return RoutingData(("m0", "m1", "m2"), A, C, d, np.arange(n), X=X)


def test_drop_first_drops_before_splitting_keep_splits_everything():
    data = _table()
    first = split_data(data, seed=42)
    kept = split_data(data, seed=42, missing="keep")
    assert first.dropped.tolist() == [3, 17] and kept.dropped.tolist() == []
    assert not set(first.train) & {3, 17} and not set(first.test) & {3, 17}
    assert len(first.train) + len(first.test) == 58 and len(kept.train) + len(kept.test) == 60
    # The split of the remaining items is the split of a table without them.
    rest = np.setdiff1d(np.arange(60), [3, 17])
    alone = split_indices(data.datasets[rest], data.index[rest], seed=42)
    assert first.train.tolist() == rest[alone[0]].tolist()
    with pytest.raises(RouterError, match="drop-first or keep"):
        split_data(data, missing="zero")


def test_score_sum_uses_min_max_cost_as_the_paper_says():
    np.testing.assert_allclose(minmax_cost_score(np.array([1.0, 2.0, 3.0])), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(minmax_cost_score(np.array([2.0, 2.0])), [1.0, 1.0])
    X, A, C, _ = synthetic(n=200)
    paper = AvengersProRouter(n_clusters=4, reading="score_sum").fit(X, A, C)
    alpha = 0.3
    x = paper.cluster_scores(np.array([alpha]))[0]
    for c in range(4):  # literal: 1 − (q − q_min)/(q_max − q_min)
        p, q = paper.p_[c], paper.q_[c]
        p_n = (p - p.min()) / (p.max() - p.min())
        want = alpha * p_n + (1 - alpha) * (1 - (q - q.min()) / (q.max() - q.min()))
        np.testing.assert_allclose(x[c], want)
    ref = AvengersProRouter(n_clusters=4).fit(X, A, C)  # faithful: 1 − q/q_max
    np.testing.assert_allclose(ref.cluster_scores(np.array([alpha]))[0],
                               performance_efficiency(ref.p_, ref.q_, np.array([alpha]))[0])


def test_seed_intervals_stay_in_range():
    mean, lo, hi = metrics.mean_interval(np.array([1.0, 1.0, 1.0, 1.0, 0.0]))
    assert mean == pytest.approx(0.8) and 0.0 <= lo <= mean <= hi <= 1.0
    mean, lo, hi = metrics.mean_interval(np.array([1.0, 2.0, 3.0]))
    assert lo < 2.0 < hi and lo >= 1.0 and hi <= 3.0
    results = [run_sweep(_table(n=120), RouterSpec(n_clusters=4), seed=s,
                         alphas=np.array([0.0, 0.5, 1.0])) for s in (1, 2, 3, 4, 5)]
    for low_mean_high in intervals(results).values():
        m, lo, hi = low_mean_high
        if not math.isnan(m):
            assert lo <= m <= hi
    _, lo, hi = intervals(results)["match_best_found"]
    assert lo >= 0.0 and hi <= 1.0


def _result(baselines, cost=(1.0, 2.0, 4.0), acc=(0.5, 0.6, 0.7)):
    return SweepResult(
        seed=0, models=("a", "b"), alphas=np.array([0.0, 0.5, 1.0]), accuracy=np.array(acc),
        cost=np.array(cost), usage=np.zeros((3, 2)),
        single={"a": (0.5, 1.0), "b": (0.7, 4.0)}, baselines=baselines,
        n_train=10, n_test=5, n_test_dropped=0,
    )


def test_baselines_above_every_router_point_are_flagged():
    r = _result({"oracle": (0.95, 1.5), "best_per_benchmark": (0.75, 3.0),
                 "cheapest": (0.5, 1.0), "random": (0.55, 2.0)})
    assert r.above_frontier() == ["[best_per_benchmark]"]  # oracle is never flagged
    assert r.summary()["above_frontier"] == ["[best_per_benchmark]"]
    assert r.summary()["models_above_frontier"] == []
    assert "note" in r.summary()  # two models: two points, not a curve
    below = _result({"oracle": (0.95, 1.5), "best_per_benchmark": (0.6, 3.0),
                     "cheapest": (0.5, 1.0), "random": (0.55, 2.0)})
    assert below.above_frontier() == []


def test_the_frontier_holds_every_router_point_not_only_the_grid():
    X, A, C, d = synthetic(n=400)
    data = RoutingData(tuple(f"m{j}" for j in range(5)), A, C, d, np.arange(400), X=X)
    coarse = run_sweep(data, RouterSpec(n_clusters=6), seed=3, alphas=np.array([0.0, 1.0]))
    assert coarse.frontier_exact
    fine = run_sweep(data, RouterSpec(n_clusters=6), seed=3, alphas=np.linspace(0, 1, 2001))
    hc, ha = coarse.hull()
    for c, a in zip(fine.cost, fine.accuracy, strict=True):  # no point of a fine grid beats it
        reach = metrics.hull_accuracy(hc, ha, float(c))
        assert not math.isnan(reach) and a <= reach + 1e-12
    assert coarse.distinct_points() > 2  # more than the two grid points were found
    for reading in ("faithful", "score_sum"):
        router = AvengersProRouter(n_clusters=6, reading=reading).fit(X, A, C)
        grid = np.linspace(0, 1, 2001)[1:-1]
        choice = router.route_curve(X, grid)
        for rows, cuts, segment_choice in router.decision_segments(X):
            assert ((cuts > 0) & (cuts < 1)).all() and len(segment_choice) == len(cuts) + 1
            # Every decision on a fine grid is the decision of the segment the α falls in.
            seg = np.searchsorted(cuts, grid)
            off_cut = np.min(np.abs(grid[:, None] - cuts[None, :]), axis=1, initial=1.0) > 1e-9
            np.testing.assert_array_equal(choice[off_cut][:, rows], segment_choice[seg[off_cut]])
        curve = sweep_exact(router, X, A, C, d)
        fine_acc, fine_cost = metrics.evaluate(choice, A, C, d)
        for a, c in zip(fine_acc, fine_cost, strict=True):  # each grid point is an exact point
            assert np.min(np.abs(curve[0] - a) + np.abs(curve[1] - c)) < 1e-9


def test_file_embedding_looks_up_by_text_and_names_what_lacks_a_vector(tmp_path):
    path = tmp_path / "v.npz"
    np.savez(path, texts=np.array(["one", "two", "one"]), X=np.array([[3.0, 4.0], [1, 0], [0, 1]]))
    emb = FileEmbedder(path)
    np.testing.assert_allclose(emb.embed(["two", "one"]), [[1, 0], [0.6, 0.8]])
    with pytest.raises(DataError) as err:
        emb.embed(["one", "three\nlines", "four"])
    message = str(err.value)
    assert "2 of 3 texts have no vector" in message and "'three lines'" in message
    assert "\n" not in message
    np.savez(tmp_path / "bad.npz", words=np.array(["a"]))
    with pytest.raises(DataError, match="needs arrays 'texts' and 'X'"):
        FileEmbedder(tmp_path / "bad.npz")
    with pytest.raises(DataError):
        FileEmbedder(tmp_path / "absent.npz")
