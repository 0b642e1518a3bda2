"""The Avengers and JiSi against a literal, loop-by-loop re-reading of SEED-METHODS.md's formulas.

Each `literal_*` function below is written from the formulas alone, in plain Python loops (no
vectorisation, no code shared with the implementation beyond the fitted bank it reads), and must
reach the same decision as the vectorised router on every query; the limit cases the note lists
reduce each method to a simpler rule that is checked independently.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.cluster import KMeans

from avp_harness.errors import RouterError
from avp_harness.routing import ensemble
from avp_harness.routing.avengers_ensemble import AvengersRouter
from avp_harness.routing.base import get_kind
from avp_harness.routing.jisi import JiSiRouter, cost_calls

# -- literal re-readings --------------------------------------------------------------------------


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else list(v)


def dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def literal_avengers(labels, A, centroids, X, top_k, beta, top_n):
    """Per cluster accuracy = correct/total, ranking by accuracy descending (stable), d_c = 1 −
    μ_c·q̂ for the top_k nearest, w = softmax(−β d), score_m = Σ_c w_c/(rank_c(m) + 0.1), a model
    ranked in none of them 1/999; the top_n models."""
    n_models = len(A[0])
    ranking = {}
    for c in range(len(centroids)):
        acc = {}
        for m in range(n_models):
            correct = total = 0.0
            for i, label in enumerate(labels):
                if label == c and not math.isnan(A[i][m]):
                    total += 1
                    correct += A[i][m]
            if total > 0:
                acc[m] = correct / total
        ranking[c] = sorted(acc, key=lambda m: acc[m], reverse=True)  # stable
    out = []
    for x in X:
        q = unit(list(x))
        d = [1.0 - dot(list(mu), q) for mu in centroids]
        near = sorted(range(len(centroids)), key=lambda c: d[c])[:top_k]
        z = [-beta * d[c] for c in near]
        e = [math.exp(v - max(z)) for v in z]
        w = [v / sum(e) for v in e]
        score = {}
        for c, wc in zip(near, w, strict=True):
            for m in ranking[c]:
                score[m] = score.get(m, 0.0) + wc / (ranking[c].index(m) + 0.1)
        for m in range(n_models):
            score.setdefault(m, 1.0 / 999)
        out.append(sorted(range(n_models), key=lambda m: -score[m])[:top_n])
    return out


def literal_jisi(E, V, R, T, x, r_q, c_q, *, K, N_base, beta, gamma, eps, sigma, delta, t):
    """Steps 2–4 of JiSi for one query, literally; returns (chosen, A, aggregator, A^f)."""
    N, M = len(E), len(V[0])
    xq = unit(list(x))
    s = [dot(E[i], xq) for i in range(N)]
    f_nbase = sorted(s, reverse=True)[min(N_base, N) - 1]
    support = [i for i in range(N) if s[i] >= gamma * f_nbase]
    g = [sum(V[i][j] * s[i] for i in support) for j in range(M)]
    A = sorted(range(M), key=lambda j: -g[j])[:K]
    r = {j: unit(list(r_q[j])) for j in A}
    s_res, s_cost = {}, {}
    top = {j: max(abs(T[i][j] ** 2 - c_q[j] ** 2) for i in support) for j in A}
    for i in support:
        s_res[i] = sum(dot(R[i][j], r[j]) for j in A)
        s_cost[i] = sum(
            1.0 if top[j] == 0 else 1.0 - abs(T[i][j] ** 2 - c_q[j] ** 2) / top[j] for j in A
        )
    s_flt = {i: eps * K * s[i] + sigma * s_res[i] + delta * s_cost[i] for i in support}
    keep = max(1, math.floor(beta * len(support)))
    flt = sorted(support, key=lambda i: -s_flt[i])[:keep]
    gf = [sum(V[i][j] * s_flt[i] for i in flt) for j in range(M)]
    chosen = max(range(M), key=lambda j: (gf[j], -j))
    fk = sorted(gf, reverse=True)[K - 1]
    if gf[chosen] > 0:
        af = {j for j in range(M) if gf[j] >= fk and gf[j] / gf[chosen] >= t}
    else:
        af = {chosen}
    return chosen, A, A[0], af


# -- synthetic data -------------------------------------------------------------------------------


def synthetic(n=240, m=5, d=12, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, d))
    topic = rng.integers(0, 6, n)
    X = centres[topic] + 0.4 * rng.normal(size=(n, d))
    skill = rng.uniform(0.2, 0.9, size=(6, m))
    A = (rng.uniform(size=(n, m)) < skill[topic]).astype(float)
    A[rng.uniform(size=(n, m)) < 0.03] = np.nan  # a few missing cells
    C = rng.uniform(0.001, 0.01, size=(n, m))
    R = X[:, None, :] + 0.5 * rng.normal(size=(n, m, d)) + 0.8 * np.nan_to_num(A)[:, :, None]
    T = rng.integers(20, 600, size=(n, m)).astype(float)
    return X, A, C, R, T


def jisi_bank(router):
    return (router.E_.tolist(), router.V_.tolist(), router.R_.tolist(), router.T_.tolist())


def check_jisi(router, X, R, T, rows):
    d = router.decide(X[rows], R[rows], T[rows])
    E, V, Rb, Tb = jisi_bank(router)
    for k, q in enumerate(rows):
        chosen, A, agg, af = literal_jisi(
            E, V, Rb, Tb, X[q], R[q].tolist(), T[q].tolist(), K=router.n_candidates,
            N_base=router.n_base, beta=router.keep_ratio, gamma=router.gamma,
            eps=router.epsilon, sigma=router.sigma, delta=router.delta, t=router.threshold)
        assert int(d.chosen[k]) == chosen, q
        assert d.candidates[k].tolist() == A, q
        assert int(d.aggregator[k]) == agg, q
        assert set(np.flatnonzero(d.adaptive[k]).tolist()) == af, q
        assert int(np.argmax(d.refined[k])) == chosen, q  # g^f, which orders A^f
    return d


# -- the Avengers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("top_k,top_n,beta", [(3, 2, 3.0), (1, 1, 6.0), (5, 3, 9.0)])
def test_avengers_matches_the_literal_formula(top_k, top_n, beta):
    X, A, C, _, _ = synthetic()
    train, test = np.arange(170), np.arange(170, 240)
    router = AvengersRouter(n_clusters=8, top_k=top_k, beta=beta, top_n=top_n).fit(
        X[train], A[train], C[train])
    # the fit's clustering is the public code's KMeans on L2-normalised rows
    Xn = X[train] / np.linalg.norm(X[train], axis=1, keepdims=True)
    km = KMeans(n_clusters=8, random_state=42, init="k-means++", n_init="auto",
                max_iter=1000, algorithm="elkan").fit(Xn)
    assert (km.labels_ == router.labels_).all()
    expected = literal_avengers(router.labels_.tolist(), A[train].tolist(),
                                router.centroids_.tolist(), X[test], top_k, beta, top_n)
    got = router.select(X[test]).models[0]
    assert got.tolist() == expected
    assert (router.route(X[test]) == got[:, 0]).all()


def test_avengers_limit_case_top1_is_the_nearest_clusters_best_model():
    X, A, C, _, _ = synthetic(seed=3)
    router = AvengersRouter(n_clusters=6, top_k=1, top_n=1).fit(X[:180], A[:180], C[:180])
    Xn = X[180:] / np.linalg.norm(X[180:], axis=1, keepdims=True)
    nearest = np.argmax(Xn @ router.centroids_.T, axis=1)
    best = np.argmax(np.nan_to_num(router.accuracy_, nan=-1.0), axis=1)  # first max: stable
    assert (router.route(X[180:]) == best[nearest]).all()


def test_avengers_is_a_registered_kind_that_round_trips_and_ignores_alpha():
    X, A, C, _, _ = synthetic()
    kind = get_kind("avengers")
    assert kind.chooses == "several"
    router = kind.build({"n_clusters": 8, "top_n": 2}, seed=7).fit(X, A, C)
    again = kind.restore(router.get_params(), router.to_arrays())
    a, b = router.select_curve(X, [0.0, 1.0]), again.select_curve(X, [0.0, 1.0])
    assert (a.models == b.models).all() and (a.models[0] == a.models[1]).all()
    with pytest.raises(RouterError, match="top_n"):
        AvengersRouter(n_clusters=4, top_n=9).fit(X, A, C)


# -- ensembles ------------------------------------------------------------------------------------


def test_majority_first_seen_wins_ties_and_unparsed_casts_no_vote():
    assert ensemble.majority(["B", "A", "A", "B"]) == (0, 2)
    assert ensemble.majority([None, "C", None, "D", "D"]) == (3, 2)
    assert ensemble.majority([None, None]) == (0, 0)


def test_math_answers_vote_by_equivalence_not_string():
    from graders.math import math_equal

    pos, votes = ensemble.majority(["0.5", "3", "\\frac{1}{2}", "3", "1/2"], math_equal)
    assert (pos, votes) == (0, 3)  # 0.5 = \frac{1}{2} = 1/2 outvote the two 3s
    assert ensemble.majority(["0.5", "3", "\\frac{1}{2}", "3", "1/2"]) == (1, 2)  # by string


def samples(rows):
    """(answers, scores, costs) for one query, models x samples, from 'X+' (answer X, right) /
    'X-' (wrong) / None (unparsed, wrong) tokens."""
    answers = [[None if t is None else t[0] for t in row] for row in rows]
    scores = [[1.0 if t is not None and t[1] == "+" else 0.0 for t in row] for row in rows]
    return (np.array([answers], dtype=object), np.array([scores]),
            np.full((1, len(rows), len(rows[0])), 0.01))


def run(strategy, rows, models=(0, 1), code=False, **kw):
    answers, scores, costs = samples(rows)
    return ensemble.run_strategy(strategy, np.array([models]), answers, scores, costs,
                                 np.array([code]), **kw)


def test_self_consistency_votes_over_the_top_models_samples():
    rows = [["A-", "B+", "B+", None, "A-", "B+", "B+", "B+", "A-", "A-"], ["A-"] * 10]
    out = run("self_consistency", rows)
    assert out.score[0] == 1.0 and out.calls[0] == 10 and out.cost[0] == pytest.approx(0.10)
    assert run("direct", rows).score[0] == 0.0  # sample 0 alone
    assert run("self_consistency", rows, code=True).score[0] == 0.0  # code: sample 0, no vote


def test_model_switch_both_rules():
    keep = [["A+", "A+", "A+", "A+", "B-"], ["B-"] * 5]  # share 0.8: model 1 kept
    assert run("model_switch", keep, s=5).score[0] == 1.0
    switch = [["A+", "A+", "A+", "B-", "C-"], ["B-"] * 5]  # share 0.6: vote over all 10 -> B
    assert run("model_switch", switch, s=5).score[0] == 0.0
    out = run("model_switch", switch, s=5)
    assert out.calls[0] == 10 and out.cost[0] == pytest.approx(0.10)  # both models paid
    # the ablation rule: switch iff share1 < 1.0 and share2 > share1
    assert run("model_switch_ablation", switch, s=5).score[0] == 0.0  # 0.6 < 1.0, 1.0 > 0.6
    weak2 = [["A+", "A+", "A+", "B-", "C-"], ["B-", "B-", "C-", "D-", "E-"]]
    assert run("model_switch_ablation", weak2, s=5).score[0] == 1.0  # 0.4 < 0.6: no switch
    unanimous = [["A-"] * 5, ["B+"] * 5]
    assert run("model_switch_ablation", unanimous, s=5).score[0] == 0.0  # share 1.0: kept
    assert run("model_switch", unanimous, s=5).score[0] == 0.0


def test_a_strategy_refuses_missing_samples():
    answers, scores, costs = samples([["A+"] * 3, ["A+"] * 3])
    with pytest.raises(RouterError, match="10 stored samples"):
        ensemble.run_strategy("self_consistency", np.array([[0, 1]]), answers, scores, costs,
                              np.array([False]))


# -- JiSi -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {},  # the paper's hyper-parameters
    {"n_base": 10, "gamma": 0.8, "keep_ratio": 0.3, "threshold": 0.5, "n_candidates": 2},
    {"gamma": 1.0, "sigma": 0.0, "delta": 0.0, "threshold": 1.0},  # the limit case
])
def test_jisi_matches_the_literal_formula(params):
    X, A, C, R, T = synthetic(seed=1)
    train, test = np.arange(180), np.arange(180, 240)
    router = JiSiRouter(**params).fit(X[train], A[train], C[train],
                                      response_vectors=R[train], response_tokens=T[train])
    # the bank is step 1 read literally: e_i = f1(x_i), r_ij = f1(ŷ_ij), c_ij, v (missing = 0)
    for i in (0, 17, 179):
        assert router.E_[i] == pytest.approx(unit(list(X[i])))
        assert router.R_[i, 2] == pytest.approx(unit(list(R[i, 2])))
        assert router.T_[i].tolist() == T[i].tolist()
        assert router.V_[i].tolist() == [0.0 if math.isnan(a) else a for a in A[i]]
    check_jisi(router, X, R, T, test)


def test_jisi_limit_case_is_a_similarity_weighted_vote_of_the_nearest():
    """γ = 1, σ = δ = 0, t = 1: the support set is the N_base most similar training queries, the
    filter keeps the ⌊β·N_base⌋ most similar of them, the choice is their similarity-weighted
    majority, and A^f is that single model (no aggregator call)."""
    X, A, C, R, T = synthetic(seed=2)
    router = JiSiRouter(gamma=1.0, sigma=0.0, delta=0.0, threshold=1.0).fit(
        X[:180], A[:180], C[:180], response_vectors=R[:180], response_tokens=T[:180])
    d = router.decide(X[180:], R[180:], T[180:])
    Xn = X[180:] / np.linalg.norm(X[180:], axis=1, keepdims=True)
    En = X[:180] / np.linalg.norm(X[:180], axis=1, keepdims=True)
    S = Xn @ En.T
    for q in range(len(S)):
        near = np.argsort(-S[q], kind="stable")[:25]
        votes = S[q, near] @ np.nan_to_num(A[:180][near])
        assert d.chosen[q] == np.argmax(votes)
        assert d.support[q] == 50  # continuous data: no ties at the 50th similarity
        assert d.adaptive[q].sum() == 1 and d.adaptive[q, d.chosen[q]]


def test_jisi_costs_the_k_candidate_calls_and_an_extra_call_outside_them():
    X, A, C, R, T = synthetic(seed=4)
    router = JiSiRouter().fit(X[:180], A[:180], C[:180], response_vectors=R[:180],
                              response_tokens=T[:180])
    d = router.decide(X[180:], R[180:], T[180:])
    cost, calls = cost_calls(d, C[180:])
    for q in range(len(cost)):
        called = set(d.candidates[q].tolist()) | {int(d.chosen[q])}
        assert cost[q] == pytest.approx(sum(C[180 + q, j] for j in called))
        assert calls[q] == len(called)
    sel = router.select(X[180:])
    assert (sel.models[0] == d.candidates).all()  # before any call: the K candidates


def test_jisi_kind_needs_stored_responses():
    X, A, C, R, T = synthetic()
    kind = get_kind("jisi")
    assert kind.needs == {"response_vectors", "response_tokens"}
    with pytest.raises(RouterError, match="response"):
        kind.fit_inputs({"datasets": np.zeros(len(X))})
    with pytest.raises(RouterError, match="responses"):
        JiSiRouter().fit(X, A, C)
    router = kind.build().fit(X, A, C, response_vectors=R, response_tokens=T)
    again = kind.restore(router.get_params(), router.to_arrays())
    assert (again.decide(X[:20], R[:20], T[:20]).chosen
            == router.decide(X[:20], R[:20], T[:20]).chosen).all()


@pytest.mark.parametrize("gamma,n_base", [(0.95, 50), (1.0, 5), (0.5, 400)])
def test_jisi_float32_screening_keeps_the_exact_support_sets(gamma, n_base):
    """The support sets `decide` uses (screened in float32, then exact in float64) are those of
    the whole float64 similarity row, duplicated training queries (ties at f_{N_base}) included."""
    X, A, C, R, T = synthetic(n=300, d=24, seed=3)
    X = np.vstack([X, X[:40]])  # exact duplicates: tied similarities
    A, C, R, T = (np.concatenate([v, v[:40]]) for v in (A, C, R, T))
    router = JiSiRouter(gamma=gamma, n_base=n_base).fit(X, A, C, response_vectors=R,
                                                        response_tokens=T)
    queries = synthetic(n=120, d=24, seed=4)[0]
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    for q, (sup, s) in enumerate(router._supports(queries)):
        full = (router.E_ * unit[q]).sum(axis=1)  # every row, in float64
        f = np.sort(full)[::-1][min(n_base, len(full)) - 1]
        assert sup.tolist() == np.flatnonzero(full >= gamma * f).tolist(), q
        assert s.tolist() == full[sup].tolist()
        dup = set(sup.tolist())
        assert all((i in dup) == (i + 300 in dup) for i in range(40))  # ties stay together
