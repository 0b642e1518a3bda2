"""The Avengers (arXiv 2505.19797; public code ZhangYiqun018/Avengers) as a router kind.

    router = AvengersRouter(n_clusters=64, top_k=3, beta=3.0, top_n=2).fit(X, A, C)
    router.select(X_test).models        # (1, n, top_n): the top-n models per query, best first

Fit: L2-normalise the training embeddings, KMeans (k-means++, `n_init="auto"`, max_iter 1000,
elkan, `random_state`) as the public code's `generate_rank_router.py` does; per cluster c and
model m, accuracy = correct / total over the observed cells; ranking_c = the observed models by
accuracy, descending, stable (ties keep the column order).

Route: d_c = 1 − μ_c·q̂ to the raw centroids, the `top_k` nearest clusters (stable ties),
w = softmax(−β d), score_m = Σ_c w_c / (rank_c(m) + 0.1) with rank_c 0-based. A model ranked in
none of the query's clusters (no observed cell there) scores 1/999, the code's `default_rank`; a
model absent from one cluster but ranked in another only gets the clusters that rank it. The
`top_n` models by score (stable ties) are chosen. No α: the Avengers optimise accuracy only, and
every α gives the same decision.

The ensemble strategies over the chosen models' stored samples (Self-Consistency, Model-Switch
with both of its rules) are in `ensemble.py`; this module only ranks models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans

from avp_harness.errors import RouterError
from avp_harness.routing.base import (
    RouterBase,
    Selection,
    distinct_rows,
    one_blas_thread,
)
from avp_harness.routing.scoring import safe_mean

Array = NDArray[np.float64]
RANK_OFFSET = 0.1
DEFAULT_RANK = 999.0  # the code's score for a model no cluster ranks: 1 / 999


def l2(X: Array) -> Array:
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return np.asarray(X / np.where(norm > 0, norm, 1.0), dtype=np.float64)


def rank_positions(acc: Array) -> Array:
    """0-based rank of each model per row by accuracy descending, stable; NaN = not ranked."""
    key = np.where(np.isnan(acc), np.inf, -acc)
    order = np.argsort(key, axis=-1, kind="stable")
    ranks = np.empty(acc.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(acc.shape[-1], dtype=np.float64)[None, :], axis=-1)
    return np.where(np.isnan(acc), np.nan, ranks)


class AvengersRouter(RouterBase):
    """Cluster queries, rank models per cluster by accuracy, pick the top-n by rank vote."""

    fitted_arrays = ("centroids_", "accuracy_", "counts_", "global_accuracy_")

    def __init__(
        self,
        n_clusters: int = 64,
        top_k: int = 3,
        beta: float = 3.0,
        top_n: int = 2,
        alpha: float = 1.0,
        random_state: int = 42,
    ) -> None:
        self.n_clusters = n_clusters
        self.top_k = top_k
        self.beta = beta
        self.top_n = top_n
        self.alpha = alpha
        self.random_state = random_state

    def fit(self, X: Array, A: Array, C: Array, **inputs: Any) -> AvengersRouter:
        X, A = np.asarray(X, dtype=np.float64), np.asarray(A, dtype=np.float64)
        if X.ndim != 2 or A.ndim != 2 or len(X) != len(A) or len(X) == 0 or A.shape[1] == 0:
            raise RouterError(f"expected X (n, d), A (n, m), n > 0; got {X.shape}, {A.shape}")
        if not np.isfinite(X).all():
            raise RouterError("embeddings contain NaN or infinite values")
        if not 1 <= self.n_clusters <= len(X):
            raise RouterError(f"n_clusters={self.n_clusters} needs 1..{len(X)} training queries")
        if not 1 <= self.top_k <= self.n_clusters:
            raise RouterError(f"top_k={self.top_k} must be in 1..n_clusters={self.n_clusters}")
        if not 1 <= self.top_n <= A.shape[1]:
            raise RouterError(f"top_n={self.top_n} must be in 1..{A.shape[1]} models")
        Xn = l2(X)
        distinct = distinct_rows(Xn, self.n_clusters)
        if distinct < self.n_clusters:
            raise RouterError(
                f"only {distinct} distinct query embeddings for {self.n_clusters} clusters: "
                f"use --clusters {distinct} or fewer"
            )
        with one_blas_thread():
            kmeans = KMeans(n_clusters=self.n_clusters, random_state=self.random_state,
                            init="k-means++", n_init="auto", max_iter=1000,
                            algorithm="elkan").fit(Xn)
        self.centroids_ = kmeans.cluster_centers_.astype(np.float64)
        self.labels_ = kmeans.labels_.astype(np.intp)
        seen = ~np.isnan(A)
        onehot = np.zeros((self.n_clusters, len(A)))
        onehot[self.labels_, np.arange(len(A))] = 1.0
        counts = onehot @ seen
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = (onehot @ np.where(seen, A, 0.0)) / counts
        self.accuracy_ = np.where(counts > 0, acc, np.nan)
        self.counts_ = counts.astype(np.int64)
        self.global_accuracy_ = safe_mean(A)
        self._restored()
        return self

    def _restored(self) -> None:
        self.n_models_ = int(self.accuracy_.shape[1])
        self.ranks_ = rank_positions(self.accuracy_)

    def nearest_clusters(self, X: Array) -> tuple[NDArray[np.intp], Array]:
        """Top-k cluster ids (nearest first, stable ties) and their softmax(−β d) weights."""
        Xn = l2(X)
        if Xn.shape[1] != self.centroids_.shape[1]:
            raise RouterError(
                f"query embeddings have {Xn.shape[1]} dimensions, the router expects "
                f"{self.centroids_.shape[1]} (was it fitted with another embedding?)"
            )
        d = 1.0 - Xn @ self.centroids_.T
        top = np.argsort(d, axis=1, kind="stable")[:, : self.top_k]
        z = -self.beta * np.take_along_axis(d, top, axis=1)
        w = np.exp(z - z.max(axis=1, keepdims=True))
        return top, w / w.sum(axis=1, keepdims=True)

    def model_scores(self, X: Array) -> Array:
        """score_m per query: (n, n_models)."""
        top, w = self.nearest_clusters(X)
        ranks = self.ranks_[top]  # (n, top_k, m)
        votes = np.where(np.isnan(ranks), 0.0, w[:, :, None] / (np.nan_to_num(ranks) + RANK_OFFSET))
        ranked_anywhere = (~np.isnan(ranks)).any(axis=1)
        return np.where(ranked_anywhere, votes.sum(axis=1), 1.0 / DEFAULT_RANK)

    def _scores(self, X: Array, alphas: Array) -> Array:
        return np.broadcast_to(self.model_scores(X), (len(alphas), len(X), self.n_models_)).copy()

    def _select(self, X: Array, alphas: Array) -> Selection:
        scores = self.model_scores(X)
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.top_n].astype(np.intp)
        models = np.broadcast_to(order, (len(alphas),) + order.shape).copy()
        return Selection(models, np.ones(models.shape) / self.top_n)

    def _route(self, X: Array, alphas: Array) -> NDArray[np.intp]:
        return self._select(X, alphas).first
