"""A k-nearest-neighbours router: the same performance–efficiency score, per query.

For each query, the mean score and mean cost of every model over its `n_neighbors` most similar
training queries (cosine similarity of L2-normalised embeddings, observed cells only) give p and q;
x = α · p̃ + (1 − α) · (1 − q / q_max) is computed across models and the argmax wins.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.utils.validation import check_is_fitted

from avp_harness.errors import RouterError
from avp_harness.routing.avengers import check_inputs, observed_mask
from avp_harness.routing.base import RouterBase
from avp_harness.routing.scoring import performance_efficiency

Array = NDArray[np.float64]


class KNNRouter(RouterBase):
    """Route each query by its nearest training queries' per-model accuracy and cost."""

    fitted_arrays = ("X_", "A_", "C_", "seen_")

    def __init__(self, n_neighbors: int = 20, alpha: float = 0.5, batch: int = 2048) -> None:
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.batch = batch

    def fit(self, X: Array, A: Array, C: Array, **inputs: object) -> KNNRouter:
        X, A, C = check_inputs(X, A, C)
        if not 1 <= self.n_neighbors <= len(X):
            raise RouterError(f"n_neighbors={self.n_neighbors} needs 1..{len(X)} training queries")
        seen = observed_mask(A, C)
        self.X_ = X
        self.A_ = np.where(seen, A, 0.0)
        self.C_ = np.where(seen, C, 0.0)
        self.seen_ = seen.astype(np.float64)
        self.n_models_ = A.shape[1]
        return self

    def neighbour_stats(self, X: Array) -> tuple[Array, Array]:
        """Mean score and cost per query and model over the neighbours (NaN when none observed)."""
        check_is_fitted(self, "X_")
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        p = np.empty((len(X), self.n_models_))
        q = np.empty_like(p)
        k = self.n_neighbors
        for s in range(0, len(X), self.batch):
            sim = X[s : s + self.batch] @ self.X_.T
            nn = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            n_seen = self.seen_[nn].sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                p[s : s + self.batch] = self.A_[nn].sum(1) / n_seen
                q[s : s + self.batch] = self.C_[nn].sum(1) / n_seen
        return p, q

    def _restored(self) -> None:
        self.n_models_ = int(self.A_.shape[1])

    def _scores(self, X: Array, alphas: Array) -> Array:
        """x per α, query and model from the neighbours' means; NaN where none observed."""
        if X.shape[1] != self.X_.shape[1]:
            raise RouterError(
                f"query embeddings have {X.shape[1]} dimensions, the router expects "
                f"{self.X_.shape[1]} (was it fitted with another embedding?)"
            )
        p, q = self.neighbour_stats(X)
        return performance_efficiency(p, q, alphas)
