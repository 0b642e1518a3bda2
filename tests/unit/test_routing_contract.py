"""The contract every router kind keeps, parametrized over the registry (and the test kinds).

scikit-learn's estimator checks that apply to a fit(X, A, C) estimator; fit returns self and sets
`*_` attributes; routing before fit raises NotFittedError; α outside [0, 1] is refused by every
kind; routing is deterministic; persist -> load -> route gives identical decisions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks

from avp_harness.errors import RouterError
from avp_harness.routing import get_kind, kind_names
from avp_harness.routing.base import RouterBase, RouterKind, check_alpha, registered
from avp_harness.routing.persist import from_npz, restore_router, to_npz
from tests.example_router import BY_RESPONSE, GLOBAL, TOP_TWO

EXAMPLES = [GLOBAL, TOP_TWO, BY_RESPONSE]
GRID = np.linspace(0.0, 1.0, 11)
HYPER = {"n_clusters": 6, "top_k": 2, "n_neighbors": 5, "n_init": 3}


def data(n: int = 120, d: int = 8, m: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, d))
    X = centres[np.arange(n) % 4] + 0.3 * rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    A = (rng.uniform(size=(n, m)) < np.linspace(0.3, 0.9, m)).astype(float)
    C = np.tile(np.geomspace(0.001, 0.1, m), (n, 1))
    A[0, 1] = np.nan  # a missing cell
    inputs = {"datasets": np.array(["a", "b"] * (n // 2), dtype=object),
              "responses": np.full((n, m), "answer", dtype=object),
              "response_vectors": X[:, None, :] + 0.1 * rng.normal(size=(n, m, d)),
              "response_tokens": rng.integers(1, 500, size=(n, m)).astype(float)}
    return X, A, C, inputs


@pytest.fixture(params=[*kind_names(), *(k.name for k in EXAMPLES)])
def kind(request) -> RouterKind:
    example = {k.name: k for k in EXAMPLES}.get(request.param)
    if example is None:
        yield get_kind(request.param)
    else:
        with registered(example):
            yield get_kind(request.param)


def fitted(kind: RouterKind, seed: int = 0) -> RouterBase:
    X, A, C, available = data(seed=seed)
    return kind.build(HYPER, seed=42).fit(X, A, C, **kind.fit_inputs(available))


def test_builtin_kinds_are_registered():
    assert {"faithful", "score_sum", "knn"} <= set(kind_names())


def test_sklearn_estimator_checks_that_apply(kind):
    router = kind.build(HYPER, seed=42)
    name = type(router).__name__
    estimator_checks.check_no_attributes_set_in_init(name, router)
    estimator_checks.check_get_params_invariance(name, router)
    estimator_checks.check_set_params(name, router)
    estimator_checks.check_parameters_default_constructible(name, router)
    assert clone(router).get_params() == router.get_params()
    assert kind.build(router.get_params()).get_params() == router.get_params()


def test_fit_returns_self_and_sets_fitted_attributes(kind):
    X, A, C, available = data()
    router = kind.build(HYPER, seed=42)
    with pytest.raises(NotFittedError):
        router.route(X[:3], alpha=0.5)
    with pytest.raises(NotFittedError):
        router.select_curve(X[:3], GRID)
    A_before = A.copy()
    assert router.fit(X, A, C, **kind.fit_inputs(available)) is router
    np.testing.assert_array_equal(A, A_before)  # inputs are not mutated
    assert router.n_models_ == A.shape[1]
    assert router.fitted_arrays and all(n.endswith("_") for n in router.fitted_arrays)
    assert all(hasattr(router, n) for n in router.fitted_arrays)


def test_routing_is_deterministic_and_shaped(kind):
    X, A, C, _ = data()
    one, two = fitted(kind), fitted(kind)
    curve = one.route_curve(X, GRID)
    assert curve.shape == (len(GRID), len(X)) and curve.dtype == np.intp
    assert ((curve >= 0) & (curve < A.shape[1])).all()
    np.testing.assert_array_equal(curve, two.route_curve(X, GRID))
    np.testing.assert_array_equal(curve, one.route_curve(X, GRID))
    for i, a in enumerate(GRID):
        np.testing.assert_array_equal(one.route(X, alpha=a), curve[i])
    scores = one.scores_curve(X, GRID)
    assert scores.shape == (len(GRID), len(X), A.shape[1])
    selection = one.select_curve(X, GRID)
    np.testing.assert_array_equal(selection.first, curve)
    assert selection.width == (1 if kind.chooses == "one" else selection.width) >= 1
    used = selection.models >= 0
    np.testing.assert_allclose(np.where(used, selection.weights, 0).sum(axis=2), 1.0)


def test_persist_load_route_gives_identical_decisions(kind):
    X, _, _, _ = data(seed=1)
    router = fitted(kind)
    blob = to_npz(router.to_arrays())
    again = restore_router(kind.name, router.get_params(), from_npz(blob))
    assert type(again) is type(router) and again.n_models_ == router.n_models_
    np.testing.assert_array_equal(again.route_curve(X, GRID), router.route_curve(X, GRID))
    np.testing.assert_array_equal(again.scores_curve(X, GRID), router.scores_curve(X, GRID))
    np.testing.assert_array_equal(again.select_curve(X, GRID).models,
                                  router.select_curve(X, GRID).models)
    missing = dict(from_npz(blob))
    missing.pop(router.fitted_arrays[0])
    with pytest.raises(RouterError, match="lacks arrays"):
        restore_router(kind.name, router.get_params(), missing)


@pytest.mark.parametrize("bad", [5, -0.1, 1.0000001, math.nan, math.inf, -math.inf, "x"])
def test_every_kind_refuses_alpha_outside_0_1(kind, bad):
    X, _, _, _ = data()
    router = fitted(kind)
    for call in (lambda: router.route(X, alpha=bad), lambda: router.scores(X, alpha=bad),
                 lambda: router.select(X, alpha=bad),
                 lambda: router.route_curve(X, [0.2, bad])):
        with pytest.raises(RouterError, match="alpha"):
            call()


def test_check_alpha_accepts_the_closed_interval():
    assert [check_alpha(a) for a in (0, 0.45, 1, "0.5")] == [0.0, 0.45, 1.0, 0.5]


def test_registry_refuses_duplicates_unknown_names_and_inputs():
    with pytest.raises(RouterError, match="already registered"):
        from avp_harness.routing.base import register

        register(RouterKind("faithful", type(fitted(get_kind("knn"))), help="x"))
    with pytest.raises(RouterError, match="unknown router kind 'nope': faithful, score_sum"):
        get_kind("nope")
    with pytest.raises(RouterError, match="unknown inputs"):
        RouterKind("odd", RouterBase, help="x", needs=frozenset({"telepathy"}))
    with registered(BY_RESPONSE), pytest.raises(RouterError, match="needs responses"):
        BY_RESPONSE.fit_inputs({"datasets": np.array(["a"])})
    assert "by_response" not in kind_names()  # unregistered on leaving the block
