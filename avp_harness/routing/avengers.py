"""The Avengers-Pro router as a scikit-learn estimator (DESIGN.md, "The Avengers-Pro router").

    router = AvengersProRouter(n_clusters=25, top_k=3, beta=9.0, random_state=42).fit(X, A, C)
    choice = router.route(X_test, alpha=0.45)           # model column per query
    curve = router.route_curve(X_test, alphas)          # (len(alphas), n): one clustering, all α

`reading="faithful"` follows the reference code: each of the top-k nearest clusters votes
w_j / (rank_j(model) + 1) with w = softmax(−β d) and rank_j the model's 0-based position in cluster
j sorted by x (stable ties), and x's cost term is 1 − q/q_max, as in the reference code. Fed the
reference's training rows in the reference's order (`split.split_data`, missing cells dropped
first) and its embedding vectors, it makes the reference's decisions exactly (the test
tests/integration/test_reference_agreement.py proves it on the published fixture).

`reading="score_sum"` is the paper's reading: the model with the largest sum of x over the top-k
clusters wins, and x's cost term is min–max normalised, 1 − (q − q_min)/(q_max − q_min), as the
paper's prose describes (the reference code divides by q_max instead).

Missing cells (NaN score or cost) are excluded from the per-cluster means; `counts_` says how many
observations back each mean, and a model with none in a cluster is never ranked or summed there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted

from avp_harness.errors import RouterError
from avp_harness.routing.base import (
    RouterBase,
    check_alphas,
    distinct_rows,
    one_blas_thread,
)
from avp_harness.routing.scoring import performance_efficiency, rank_table

Array = NDArray[np.float64]
Reading = Literal["faithful", "score_sum"]


def check_inputs(X: Array, A: Array, C: Array) -> tuple[Array, Array, Array]:
    """Shapes and values the routers need, as float64 arrays; a RouterError otherwise."""
    X, A, C = (np.asarray(v, dtype=np.float64) for v in (X, A, C))
    if X.ndim != 2 or A.ndim != 2 or A.shape != C.shape or len(X) != len(A):
        raise RouterError(
            "expected X (n, d), A and C (n, m) with the same n; "
            f"got {X.shape}, {A.shape}, {C.shape}"
        )
    if len(X) == 0 or A.shape[1] == 0:
        raise RouterError("cannot fit a router on no queries or no models")
    if not np.isfinite(X).all():
        raise RouterError("embeddings contain NaN or infinite values")
    return X, A, C


def observed_mask(A: Array, C: Array) -> NDArray[np.bool_]:
    """A cell is usable only when both its score and its dollars are known."""
    return ~np.isnan(A) & ~np.isnan(C)


def group_means(
    labels: NDArray[np.intp], n_groups: int, A: Array, C: Array
) -> tuple[Array, Array, NDArray[np.int64]]:
    """Per group and model: mean score, mean cost over observed cells, and their counts."""
    seen = observed_mask(A, C)
    onehot = np.zeros((n_groups, len(labels)))
    onehot[labels, np.arange(len(labels))] = 1.0
    counts = onehot @ seen.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (onehot @ np.where(seen, A, 0.0)) / counts
        q = (onehot @ np.where(seen, C, 0.0)) / counts
    p[counts == 0] = np.nan
    q[counts == 0] = np.nan
    return p, q, counts.astype(np.int64)


class AvengersProRouter(RouterBase):
    """Cluster queries, score models per cluster, route by the top-k nearest clusters."""

    fitted_arrays = ("centroids_", "p_", "q_", "counts_", "global_p_", "global_q_")
    can_refit = True

    def __init__(
        self,
        n_clusters: int = 25,
        top_k: int = 3,
        beta: float = 9.0,
        alpha: float = 0.5,
        random_state: int = 42,
        n_init: int = 10,
        reading: Reading = "faithful",
    ) -> None:
        self.n_clusters = n_clusters
        self.top_k = top_k
        self.beta = beta
        self.alpha = alpha
        self.random_state = random_state
        self.n_init = n_init
        self.reading = reading

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: Array, A: Array, C: Array, **inputs: object) -> AvengersProRouter:
        """Cluster the (train) embeddings and learn per-cluster accuracy and cost."""
        X, A, C = check_inputs(X, A, C)
        if self.reading not in ("faithful", "score_sum"):
            raise RouterError(f"unknown reading {self.reading!r}; use faithful or score_sum")
        if not 1 <= self.n_clusters <= len(X):
            raise RouterError(f"n_clusters={self.n_clusters} needs 1..{len(X)} training queries")
        if not 1 <= self.top_k <= self.n_clusters:
            raise RouterError(f"top_k={self.top_k} must be in 1..n_clusters={self.n_clusters}")
        distinct = distinct_rows(X, self.n_clusters)
        if distinct < self.n_clusters:
            raise RouterError(
                f"only {distinct} distinct query embeddings for {self.n_clusters} clusters: "
                f"use --clusters {distinct} or fewer (or a richer embedding)"
            )
        with one_blas_thread():
            kmeans = KMeans(
                n_clusters=self.n_clusters, n_init=self.n_init, random_state=self.random_state
            ).fit(X)
        self.centroids_ = kmeans.cluster_centers_.astype(np.float64)
        self.labels_ = kmeans.labels_.astype(np.intp)
        self._learn_stats(self.labels_, A, C)
        return self

    def refit_stats(self, X: Array, A: Array, C: Array) -> AvengersProRouter:
        """Keep the clusters, recompute per-cluster statistics (a new model's cells arrived).

        Queries are assigned to their nearest centroid (Euclidean, as KMeans.predict does).
        """
        check_is_fitted(self, "centroids_")
        X, A, C = check_inputs(X, A, C)
        if X.shape[1] != self.centroids_.shape[1]:
            raise RouterError(
                f"embeddings have {X.shape[1]} dimensions, the router's clusters "
                f"{self.centroids_.shape[1]}: refit needs the same embedding"
            )
        self.labels_ = self.assign(X)
        self._learn_stats(self.labels_, A, C)
        return self

    def assign(self, X: Array) -> NDArray[np.intp]:
        """Nearest centroid (Euclidean) of each row."""
        check_is_fitted(self, "centroids_")
        sq = (X**2).sum(1)[:, None] - 2 * X @ self.centroids_.T + (self.centroids_**2).sum(1)
        return np.argmin(sq, axis=1).astype(np.intp)

    def _learn_stats(self, labels: NDArray[np.intp], A: Array, C: Array) -> None:
        self.p_, self.q_, self.counts_ = group_means(labels, self.n_clusters, A, C)
        self.n_models_ = A.shape[1]
        self.n_missing_cells_ = int((~observed_mask(A, C)).sum())
        self.global_p_, self.global_q_, _ = group_means(np.zeros(len(A), np.intp), 1, A, C)

    def _restored(self) -> None:
        self.n_models_ = int(self.p_.shape[1])

    # -- routing -----------------------------------------------------------------------------

    def nearest_clusters(self, X: Array) -> tuple[NDArray[np.intp], Array]:
        """Top-k cluster ids (nearest first, stable ties) and their softmax(−β d) weights."""
        check_is_fitted(self, "centroids_")
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.centroids_.shape[1]:
            raise RouterError(
                f"query embeddings have {X.shape[1]} dimensions, the router expects "
                f"{self.centroids_.shape[1]} (was it fitted with another embedding?)"
            )
        d = 1.0 - X @ self.centroids_.T
        top = np.argsort(d, axis=1, kind="stable")[:, : self.top_k]
        dt = np.take_along_axis(d, top, axis=1)
        z = -self.beta * dt
        z -= z.max(axis=1, keepdims=True)
        w = np.exp(z)
        w /= w.sum(axis=1, keepdims=True)
        return top, w

    @property
    def cost_normalisation(self) -> str:
        return "max" if self.reading == "faithful" else "minmax"

    def cluster_scores(self, alphas: Array) -> Array:
        """x per α, cluster and model: (len(alphas), n_clusters, n_models), NaN = unobserved."""
        check_is_fitted(self, "centroids_")
        return performance_efficiency(self.p_, self.q_, np.atleast_1d(alphas),
                                      self.cost_normalisation)

    def decision_segments(
        self, X: Array
    ) -> Iterator[tuple[NDArray[np.intp], Array, NDArray[np.intp]]]:
        """Every decision on X over all of α ∈ [0, 1], exactly: per group of queries sharing
        their top-k clusters, (rows, cuts, choice) where `cuts` are the sorted α in (0, 1) at
        which a decision of the group can change and `choice[i]` the group's decisions on the
        i-th open segment between them (shape (len(cuts) + 1, len(rows))).

        x is linear in α per cluster and model, so a faithful ranking changes only where two
        models' x cross in one of the group's clusters, and a score_sum total only where two
        models' summed x cross; the global fallback's crossings are added for both."""
        top, _ = self.nearest_clusters(X)
        sets, inverse = np.unique(np.sort(top, axis=1), axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        ends = performance_efficiency(self.p_, self.q_, np.array([1.0, 0.0]),
                                      self.cost_normalisation)  # x at α = 1 and at α = 0
        glob = performance_efficiency(self.global_p_, self.global_q_, np.array([1.0, 0.0]),
                                      self.cost_normalisation)
        fallback = _crossings(glob[0], glob[1])
        per_cluster = [_crossings(ends[0, c : c + 1], ends[1, c : c + 1])
                       for c in range(self.n_clusters)]
        summed = np.nan_to_num(ends, nan=0.0)
        for g, members in enumerate(sets):
            if self.reading == "faithful":
                cuts = np.concatenate([per_cluster[c] for c in members] + [fallback])
            else:
                lines = summed[:, members, :].sum(axis=1)
                cuts = np.concatenate([_crossings(lines[0:1], lines[1:2]), fallback])
            cuts = np.unique(cuts[(cuts > 0.0) & (cuts < 1.0)])
            rows = np.flatnonzero(inverse == g).astype(np.intp)
            edges = np.concatenate([[0.0], cuts, [1.0]])
            mids = (edges[:-1] + edges[1:]) / 2
            chunk = max(16, 400_000 // max(1, len(rows) * self.n_models_))
            yield rows, cuts, self._route(X[rows], mids, chunk)

    def _scores(self, X: Array, alphas: Array) -> Array:
        """Aggregated score of every model for every query and α: (len(alphas), n, n_models).

        Models with no observation in any of a query's top-k clusters get −inf.
        """
        top, w = self.nearest_clusters(X)
        x = self.cluster_scores(alphas)
        if self.reading == "faithful":
            table = rank_table(x)
            weights = w
        else:
            table = np.nan_to_num(x, nan=0.0)
            weights = np.ones_like(w)
        seen = (self.counts_ > 0).astype(np.float64)
        totals = np.zeros((len(x), len(top), self.n_models_))
        support = np.zeros((len(top), self.n_models_))
        for t in range(top.shape[1]):
            totals += weights[None, :, t, None] * table[:, top[:, t], :]
            support += seen[top[:, t]]
        return np.where(support[None] > 0, totals, -np.inf)

    def route_curve(self, X: Array, alphas: Array, chunk: int = 16) -> NDArray[np.intp]:
        """Chosen model column per α and query: (len(alphas), n). One clustering serves all α."""
        return self._route(self._ready(X), check_alphas(alphas), chunk)

    def _route(self, X: Array, alphas: Array, chunk: int = 16) -> NDArray[np.intp]:
        out = np.empty((len(alphas), len(X)), dtype=np.intp)
        for start in range(0, len(alphas), chunk):
            part = alphas[start : start + chunk]
            totals = self._scores(X, part)
            choice = np.argmax(totals, axis=2)
            unsupported = np.isneginf(totals).all(axis=2)
            if unsupported.any():  # no model observed near the query: fall back to global stats
                fallback = self._global_choice(part)
                choice = np.where(unsupported, fallback[:, None], choice)
            out[start : start + chunk] = choice
        return out

    def _global_choice(self, alphas: Array) -> NDArray[np.intp]:
        x = performance_efficiency(self.global_p_, self.global_q_, alphas,
                                   self.cost_normalisation)[:, 0, :]
        return np.argmax(np.nan_to_num(x, nan=-np.inf), axis=1).astype(np.intp)


def _crossings(at_one: Array, at_zero: Array) -> Array:
    """α in [0, 1] where two rows' lines x(α) = α·a + (1 − α)·e cross, for every pair of models;
    `at_one` = a and `at_zero` = e have shape (groups, models); NaN lines never cross."""
    da = at_one[:, :, None] - at_one[:, None, :]
    de = at_zero[:, :, None] - at_zero[:, None, :]
    slope = da - de
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = -de / slope
    ok = np.isfinite(alpha) & (slope != 0) & (alpha >= 0.0) & (alpha <= 1.0)
    return np.asarray(alpha[ok], dtype=np.float64)
