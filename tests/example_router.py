"""Router kinds defined only in the tests: proof that a new kind is one module plus one registry
line, with no change to the CLI, the TUI or persistence.

`GlobalRouter` ("global"): one choice for every query, the model with the best performance–
efficiency score over the whole training split. `TopTwoRouter` ("top_two"): the two best models of
the nearest training query, weighted 2:1 – a router choosing several models. `ResponseRouter`
("by_response") needs stored responses to fit (the inputs a kind declares reach `fit`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avp_harness.errors import RouterError
from avp_harness.routing.base import RouterBase, RouterKind, Selection
from avp_harness.routing.scoring import performance_efficiency, safe_mean


class GlobalRouter(RouterBase):
    fitted_arrays = ("p_", "q_")

    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha

    def fit(self, X: Any, A: Any, C: Any, **inputs: Any) -> GlobalRouter:
        self.p_ = safe_mean(np.asarray(A, dtype=float))[None, :]
        self.q_ = safe_mean(np.asarray(C, dtype=float))[None, :]
        self.n_models_ = self.p_.shape[1]
        return self

    def _restored(self) -> None:
        self.n_models_ = int(self.p_.shape[1])

    def _scores(self, X: Any, alphas: Any) -> Any:
        x = performance_efficiency(self.p_, self.q_, alphas)  # (n_alphas, 1, m)
        return np.repeat(x, len(X), axis=1)


class TopTwoRouter(RouterBase):
    fitted_arrays = ("X_", "A_", "C_")

    def __init__(self, alpha: float = 0.5, width: int = 2) -> None:
        self.alpha = alpha
        self.width = width

    def fit(self, X: Any, A: Any, C: Any, **inputs: Any) -> TopTwoRouter:
        self.X_ = np.asarray(X, dtype=float)
        self.A_ = np.nan_to_num(np.asarray(A, dtype=float))
        self.C_ = np.nan_to_num(np.asarray(C, dtype=float))
        self.n_models_ = self.A_.shape[1]
        return self

    def _restored(self) -> None:
        self.n_models_ = int(self.A_.shape[1])

    def _scores(self, X: Any, alphas: Any) -> Any:
        nearest = np.argmax(X @ self.X_.T, axis=1)
        return performance_efficiency(self.A_[nearest], self.C_[nearest], alphas)

    def _select(self, X: Any, alphas: Any) -> Selection:
        x = np.nan_to_num(self._scores(X, alphas), nan=-np.inf)
        order = np.argsort(-x, axis=2, kind="stable")[..., : self.width].astype(np.intp)
        weights = np.broadcast_to(np.array([2.0, 1.0])[: self.width] / 3.0, order.shape)
        return Selection(order, np.array(weights))

    def _route(self, X: Any, alphas: Any) -> Any:
        return self._select(X, alphas).first


class ResponseRouter(GlobalRouter):
    """The global choice; fitting needs the models' stored responses (one per query and model,
    None where none is stored) and keeps the share of queries each model has one for."""

    fitted_arrays = ("p_", "q_", "answered_")

    def fit(self, X: Any, A: Any, C: Any, **inputs: Any) -> ResponseRouter:
        responses = inputs.get("responses")
        if responses is None or np.shape(responses) != np.shape(A):
            raise RouterError("by_response needs one stored response per query and model")
        super().fit(X, A, C)
        stored = np.vectorize(lambda r: isinstance(r, str) and r != "", otypes=[bool])(responses)
        self.answered_ = stored.mean(axis=0)
        return self


GLOBAL = RouterKind("global", GlobalRouter, help="one model for every query (a test kind)")
TOP_TWO = RouterKind("top_two", TopTwoRouter, chooses="several",
                     help="the two best models of the nearest query (a test kind)")
BY_RESPONSE = RouterKind("by_response", ResponseRouter, needs=frozenset({"responses"}),
                         help="needs stored responses (a test kind)")
