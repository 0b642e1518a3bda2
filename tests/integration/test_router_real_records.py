"""Proof on real data: the Avengers-Pro router on the RouterBench subset (11 models, real dollars).

The CSVs' own train/test division is ignored: the union of both files is split 70/30 per dataset
the Avengers-Pro way (DESIGN.md step 1: items lacking a cell dropped first), so the test uses the
same split the harness reports. Embeddings are TF-IDF + SVD (128-d), fitted on the training texts,
over the last 256 words of each prompt (the few-shot examples come first, the question last).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.cluster import KMeans

from avp_harness.app.routing import load_data
from avp_harness.cli import main
from avp_harness.embed.tfidf import TfidfEmbedder
from avp_harness.routing import AvengersProRouter, RouterSpec, run_sweep
from avp_harness.routing.split import split_data
from avp_harness.store import Store
from tests.conftest import shared_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The subset imported with `avp import routerbench`, read back from the store."""
    folder = shared_path("records", "routerbench_subset")
    db = str(tmp_path_factory.mktemp("rb") / "runs.db")
    assert main(["import", "routerbench", str(folder), "--db", db]) == 0
    with Store.open(db) as store:
        table = load_data(store, None, None)
    train = split_data(table, seed=42).train
    tfidf = TfidfEmbedder(dim=128, max_words=256).fit([table.texts[i] for i in train])
    return table.with_embeddings(tfidf.embed(table.texts))


@pytest.fixture(scope="module")
def split(data):
    s = split_data(data, seed=42)
    return s.train, s.test


@pytest.fixture(scope="module")
def router(data, split):
    """The faithful router with the reference hyperparameters, fitted on the train split."""
    train, _ = split
    return AvengersProRouter(n_clusters=25, top_k=3, beta=9.0, random_state=42).fit(
        data.X[train], data.A[train], data.C[train]
    )


@pytest.fixture(scope="module")
def sweep(data, router):
    return run_sweep(data, RouterSpec(kind="faithful"), seed=42, router=router)


def test_the_subset_is_what_the_readme_says(data):
    assert data.meta["run_ids"] == [1]  # one imported run
    assert len(data.models) == 11 and data.n == 3164  # 3,178 rows, 14 listed in both files
    assert set(data.datasets) == {"arc-challenge", "mbpp", "winogrande"}
    # Empty correctness cells are missing, not wrong: 10 per model (4 for gpt-3.5).
    assert data.missing_report()["gpt-4-1106-preview"] == 10
    assert data.missing_report()["gpt-3.5-turbo-1106"] == 4


def test_no_single_model_but_the_best_lies_above_the_router_frontier(sweep):
    assert sweep.best_model == "gpt-4-1106-preview"
    assert sweep.models_above_hull() in ([], ["gpt-4-1106-preview"])
    # Items with a missing cell are dropped before the split (the reference's way), and reported.
    assert sweep.n_dropped_before_split == 14 and sweep.n_test_dropped == 0


def test_ninety_percent_of_the_best_model_at_fifteen_percent_of_its_cost(sweep):
    best_acc, best_cost = sweep.single[sweep.best_model]
    cheap_enough = sweep.cost <= 0.15 * best_cost
    assert cheap_enough.any()
    assert sweep.accuracy[cheap_enough].max() >= 0.9 * best_acc
    # And the curve is a real trade-off: α = 0 is far cheaper than α = 1.
    assert sweep.cost[0] < 0.1 * sweep.cost[-1]
    summary = sweep.summary()
    # Between the cheapest and the best model, the router recovers most of the accuracy gap.
    assert summary["apgr"] > 0.8
    assert summary["oracle_accuracy"] > summary["router_max_accuracy"]


def literal_decisions(km, A_train, C_train, X_test, alpha, k=25, top_k=3, beta=9.0):
    """DESIGN.md steps 4-6 read literally. Missing cells (NaN) are skipped in the means."""
    m = A_train.shape[1]
    rank = []
    for j in range(k):
        members = [i for i in range(len(A_train)) if km.labels_[i] == j]
        p, q = [], []
        for model in range(m):
            cells = [
                i
                for i in members
                if not math.isnan(A_train[i, model]) and not math.isnan(C_train[i, model])
            ]
            p.append(sum(A_train[i, model] for i in cells) / len(cells))
            q.append(sum(C_train[i, model] for i in cells) / len(cells))
        lo, hi, q_max = min(p), max(p), max(q)
        x = []
        for model in range(m):
            p_norm = 1.0 if hi == lo else (p[model] - lo) / (hi - lo)
            c_score = 1.0 if q_max == 0 else 1.0 - q[model] / q_max
            x.append(alpha * p_norm + (1 - alpha) * c_score)
        order = sorted(range(m), key=lambda i: x[i], reverse=True)
        rank.append({model: order.index(model) for model in range(m)})
    out = []
    for query in X_test:
        d = [1.0 - float(np.dot(query, c)) for c in km.cluster_centers_]
        nearest = sorted(range(k), key=lambda j: d[j])[:top_k]
        e = [math.exp(-beta * d[j]) for j in nearest]
        total = [0.0] * m
        for ej, j in zip(e, nearest, strict=True):
            for model in range(m):
                total[model] += (ej / sum(e)) / (rank[j][model] + 1)
        out.append(max(range(m), key=lambda i: total[i]))
    return np.array(out)


def test_faithful_decisions_equal_a_literal_reading(data, split, router):
    train, test = split
    X, A, C = data.X, data.A, data.C
    km = KMeans(n_clusters=25, n_init=10, random_state=42).fit(X[train])  # DESIGN step 3
    np.testing.assert_array_equal(km.cluster_centers_, router.centroids_)
    for alpha in (0.3, 0.7):
        expected = literal_decisions(km, A[train], C[train], X[test], alpha)
        np.testing.assert_array_equal(router.route(X[test], alpha=alpha), expected)
