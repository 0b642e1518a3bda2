"""JiSi (arXiv 2601.01330, "Beyond Gemini-3-Pro"; no public code), router-only variant.

    router = JiSiRouter().fit(X, A, C, response_vectors=R, response_tokens=T)
    router.select(X_test)            # step 2: the K candidates to call (before any call)
    d = router.decide(X_test, R_test, T_test)
    d.chosen, d.candidates, d.adaptive   # step 3's choice, step 2's candidates, step 4's set

Notation as SEED-METHODS.md: f1 = L2-normalised embedding, f_k(a) = k-th largest entry of a.
Training queries x_i (rows of the train split, in the order given), models j, responses ŷ_ij with
completion tokens c_ij, correctness v_j (the stored score; a missing cell counts 0).

1. Bank (fit): e_i = f1(x_i), r_ij = f1(ŷ_ij), c_ij, v.
2. Support set of a query x: s_i = e_i·f1(x); I = {i : s_i ≥ γ·f_{N_base}(s)} (N_base is cut to
   N when fewer training queries exist); g = v[:, I]·s[I]; aggregator = argmax g; candidates
   A = the top-K models of g (stable ties: the lower column first).
3. The K candidates' responses to x (K calls; offline: their stored responses) give r_j and c_j:
   s^res_i = Σ_{j∈A} r_ij·r_j; s^cost_i = Σ_{j∈A} (1 − |c_ij² − c_j²| / max_{i∈I} |c_ij² − c_j²|)
   (a term is 1 when that maximum is 0); s^flt = (ε·K·s + σ·s^res + δ·s^cost)[I];
   I^flt = the top max(1, ⌊β·|I|⌋) of s^flt (stable); g^f = v[:, I^flt]·s^flt[I^flt].
   The router-only answer is model argmax g^f.
4. Adaptive set: A^f = {m : g^f_m ≥ f_K(g^f) and g^f_m / max g^f ≥ t} ({argmax g^f} when
   max g^f ≤ 0); `refined` holds g^f, which orders A^f's responses for the aggregator. The
   aggregator call itself (|A^f| > 1) is a cell of its own: `collect/aggregate.py`.

Ambiguities, resolved as written and documented: j runs over the K candidates in step 3 (over all
models in step 2); token counts are squared; g^f may rank a model outside A, which costs one more
call (`cost_calls`); "εK" is read as ε times K (s^res and s^cost are sums of K terms).
A missing training response counts as a zero vector with 0 tokens.
Hyper-parameters (the paper's): K 3, N_base 50, β 0.5, γ 0.95, ε 0.5, σ 0.3, δ 0.2, t 0.8.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import RouterError
from avp_harness.routing.base import RouterBase, Selection

Array = NDArray[np.float64]


def l2_rows(X: Array) -> Array:
    norm = np.linalg.norm(X, axis=-1, keepdims=True)
    return np.asarray(X / np.where(norm > 0, norm, 1.0), dtype=np.float64)


def unit_responses(R: NDArray[Any], rows: int = 2048) -> Array:
    """f1 of every response vector, a missing one (NaN) as zeros: a new float64 array.

    Block by block (`rows` vectors at a time, cache-sized), the same element operations as
    nan_to_num then `l2_rows` on the whole array (so the same bits), without the whole-array
    temporaries: on 10k x 11 x 384 responses the one-shot version wrote 340 MB four times."""
    flat = R.reshape(-1, R.shape[-1])
    out = np.empty(flat.shape, dtype=np.float64)
    for start in range(0, len(flat), rows):
        block = np.asarray(flat[start : start + rows], dtype=np.float64)
        if not np.isfinite(block).all():
            block = np.nan_to_num(block)
        norm = np.linalg.norm(block, axis=-1, keepdims=True)
        np.divide(block, np.where(norm > 0, norm, 1.0), out=out[start : start + rows])
    return out.reshape(R.shape)


@dataclass(frozen=True)
class JiSiDecision:
    """Per query: the router-only choice (argmax g^f), the K candidates called (best first),
    the aggregator (argmax g) and the adaptive set A^f as a mask over models."""

    chosen: NDArray[np.intp]
    candidates: NDArray[np.intp]
    aggregator: NDArray[np.intp]
    adaptive: NDArray[np.bool_]
    support: NDArray[np.intp]  # |I| per query
    refined: NDArray[np.float64] | None = None  # g^f per query and model (ranks A^f)


class JiSiRouter(RouterBase):
    """Support-set routing by query similarity, refined by the candidates' responses."""

    fitted_arrays = ("E_", "V_", "R_", "T_")

    def __init__(
        self,
        n_candidates: int = 3,
        n_base: int = 50,
        keep_ratio: float = 0.5,
        gamma: float = 0.95,
        epsilon: float = 0.5,
        sigma: float = 0.3,
        delta: float = 0.2,
        threshold: float = 0.8,
        alpha: float = 1.0,
    ) -> None:
        self.n_candidates = n_candidates
        self.n_base = n_base
        self.keep_ratio = keep_ratio
        self.gamma = gamma
        self.epsilon = epsilon
        self.sigma = sigma
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha

    def fit(self, X: Array, A: Array, C: Array, **inputs: Any) -> JiSiRouter:
        X, A = np.asarray(X, dtype=np.float64), np.asarray(A, dtype=np.float64)
        R, T = inputs.get("response_vectors"), inputs.get("response_tokens")
        if R is None or T is None:
            raise RouterError("jisi needs the stored responses (embedded) and token counts")
        R = np.asarray(R)
        T = np.asarray(T, dtype=np.float64)
        n, m = A.shape
        if X.ndim != 2 or len(X) != n or n == 0 or m == 0:
            raise RouterError(f"expected X (n, d), A (n, m), n > 0; got {X.shape}, {A.shape}")
        if R.ndim != 3 or R.shape[:2] != (n, m) or T.shape != (n, m):
            raise RouterError(f"responses {R.shape} / tokens {T.shape} do not match {n} x {m}")
        if not 1 <= self.n_candidates <= m:
            raise RouterError(f"n_candidates={self.n_candidates} must be in 1..{m} models")
        if self.n_base < 1 or not 0.0 < self.keep_ratio <= 1.0:
            raise RouterError("n_base must be >= 1 and keep_ratio in (0, 1]")
        self.E_ = l2_rows(X)
        self.V_ = np.nan_to_num(A, nan=0.0)
        self.R_ = unit_responses(R)
        self.T_ = np.nan_to_num(T, nan=0.0)
        self._restored()
        return self

    def _restored(self) -> None:
        self.n_models_ = int(self.V_.shape[1])
        self.E32_ = self.E_.astype(np.float32)  # for screening support sets (`_supports`)

    # -- step 2 -------------------------------------------------------------------------------

    def similarities(self, X: Array) -> Array:
        Xn = l2_rows(np.atleast_2d(np.asarray(X, dtype=np.float64)))
        if Xn.shape[1] != self.E_.shape[1]:
            raise RouterError(
                f"query embeddings have {Xn.shape[1]} dimensions, the router expects "
                f"{self.E_.shape[1]} (was it fitted with another embedding?)"
            )
        return Xn @ self.E_.T

    def support_mask(self, S: Array, rows: int = 128) -> NDArray[np.bool_]:
        """I per query as a mask over training rows: s_i ≥ γ·f_{N_base}(s).

        f_{N_base} is found `rows` queries at a time: np.partition copies its input, and a
        small copy is reused by the allocator where a whole chunk's was page-faulted anew."""
        N = S.shape[1]
        nb = min(self.n_base, N)
        kth = np.concatenate([np.partition(S[i : i + rows], N - nb, axis=1)[:, N - nb]
                              for i in range(0, len(S), rows)])
        return np.asarray(self.gamma * kth[:, None] <= S, dtype=np.bool_)

    def support_scores(self, X: Array, chunk: int = 1024) -> Array:
        """g = v[:, I]·s[I] per query: (n, n_models) (queries in chunks: S is n x N)."""
        parts = []
        for start in range(0, len(X), chunk):
            S = self.similarities(X[start : start + chunk])
            parts.append(np.where(self.support_mask(S), S, 0.0) @ self.V_)
        return np.vstack(parts) if parts else np.zeros((0, self.n_models_))

    def _scores(self, X: Array, alphas: Array) -> Array:
        g = self.support_scores(X)
        return np.broadcast_to(g, (len(alphas),) + g.shape).copy()

    def _select(self, X: Array, alphas: Array) -> Selection:
        g = self.support_scores(X)
        top = np.argsort(-g, axis=1, kind="stable")[:, : self.n_candidates].astype(np.intp)
        models = np.broadcast_to(top, (len(alphas),) + top.shape).copy()
        return Selection(models, np.ones(models.shape) / self.n_candidates)

    def _route(self, X: Array, alphas: Array) -> NDArray[np.intp]:
        return self._select(X, alphas).first

    # -- steps 3 and 4 ------------------------------------------------------------------------

    def decide(self, X: Array, R: Array, T: Array, chunk: int = 1024) -> JiSiDecision:
        """The full routing decision given every model's response to each query: R (n, M, d)
        response embeddings (only the candidates' are read), T (n, M) completion tokens."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "E_")
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        parts = [self._decide(X[s : s + chunk], R[s : s + chunk], T[s : s + chunk])
                 for s in range(0, len(X), chunk)]
        return JiSiDecision(*(np.concatenate([getattr(p, f) for p in parts])
                              for f in ("chosen", "candidates", "aggregator", "adaptive",
                                        "support", "refined")))

    def _supports(self, X: Array, rows: int = 1024) -> Iterator[tuple[NDArray[np.intp], Array]]:
        """Per query, I and s[I] (float64), screened in float32 first.

        s = E·x̂ over every training row is the largest cost of a decision (n x N x d). It is
        computed in float32 (twice as fast), whose error on unit vectors is at most
        m = (d + 2)·2^-24 per entry, here taken 4x larger. f_{N_base} then moves by at most m, so
        every row of I and of the top N_base has s32 ≥ min(γ·f32 − (1 + |γ|)·m, f32 − 2m): only
        those rows get s in float64, from which f_{N_base} and I are taken exactly as written.
        Each s_i is summed row by row (not by a matrix product, whose kernels may round two equal
        rows differently), so duplicated training queries tie exactly, as the formula says."""
        Xn = l2_rows(np.atleast_2d(np.asarray(X, dtype=np.float64)))
        if Xn.shape[1] != self.E_.shape[1]:
            raise RouterError(
                f"query embeddings have {Xn.shape[1]} dimensions, the router expects "
                f"{self.E_.shape[1]} (was it fitted with another embedding?)"
            )
        N, d = self.E_.shape
        nb = min(self.n_base, N)
        margin = 4.0 * (d + 2) * 2.0**-24
        for start in range(0, len(Xn), rows):
            S32 = Xn[start : start + rows].astype(np.float32) @ self.E32_.T
            f32 = np.concatenate([np.partition(S32[i : i + 128], N - nb, axis=1)[:, N - nb]
                                  for i in range(0, len(S32), 128)]).astype(np.float64)
            lower = np.minimum(self.gamma * f32 - (1 + abs(self.gamma)) * margin,
                               f32 - 2 * margin)
            for q in range(len(S32)):
                x = Xn[start + q]
                rows_q = np.flatnonzero(S32[q] >= lower[q])
                if len(rows_q) < nb:  # cannot happen (the top N_base pass); all, to be sure
                    rows_q = np.arange(N)
                s = (self.E_[rows_q] * x).sum(axis=1)  # row by row: equal rows, equal s
                f = np.partition(s, len(s) - nb)[len(s) - nb]
                keep = self.gamma * f <= s
                yield rows_q[keep], s[keep]

    def _decide(self, X: Array, R: Array, T: Array) -> JiSiDecision:
        T = np.asarray(T, dtype=np.float64)
        K, M = self.n_candidates, self.n_models_
        n = len(X)
        chosen = np.empty(n, dtype=np.intp)
        cands = np.empty((n, K), dtype=np.intp)
        agg = np.empty(n, dtype=np.intp)
        adaptive = np.zeros((n, M), dtype=bool)
        support = np.empty(n, dtype=np.intp)
        refined = np.empty((n, M))
        # One flat index into (rows x models) gathers r_ij and c_ij: numpy's two-array fancy
        # indexing R_[I[:, None], A[None, :]] copies the same values 4x slower.
        bank = self.R_.reshape(-1, self.R_.shape[-1])
        tokens = self.T_.reshape(-1)
        for q, (sup, sI) in enumerate(self._supports(X)):  # I and s[I]
            VI = self.V_[sup]
            g = sI @ VI
            A = np.argsort(-g, kind="stable")[:K]
            r = l2_rows(np.asarray(R[q, A], dtype=np.float64))  # only the K called
            cells = sup[:, None] * M + A[None, :]  # (i, j) for i in I, j in A, flattened
            s_res = np.einsum("ikd,kd->i", bank[cells], r)
            diff = np.abs(tokens[cells] ** 2 - T[q, A] ** 2)
            top = diff.max(axis=0)
            terms = np.where(top > 0, 1.0 - diff / np.where(top > 0, top, 1.0), 1.0)
            gf, best, adaptive[q] = self.refine(sI, s_res, terms, VI)
            chosen[q], cands[q], agg[q], support[q], refined[q] = best, A, int(A[0]), len(sup), gf
        return JiSiDecision(chosen, cands, agg, adaptive, support, refined)

    def refine(
        self, sI: Array, s_res: Array, terms: Array, VI: Array
    ) -> tuple[Array, int, NDArray[np.bool_]]:
        """One query's refinement from its support set I: the filter score of each i in I,
        the kept top share, the refined model scores g^f, the best model and A^f (the models
        within the threshold of the best among the top K; the best alone when none scores)."""
        K = self.n_candidates
        s_flt = self.epsilon * K * sI + self.sigma * s_res + self.delta * terms.sum(axis=1)
        keep = max(1, math.floor(self.keep_ratio * len(sI)))
        flt = np.argsort(-s_flt, kind="stable")[:keep]
        gf = s_flt[flt] @ VI[flt]
        best = int(np.argmax(gf))
        adaptive = np.zeros(len(gf), dtype=bool)
        if gf[best] > 0:
            fk = np.sort(gf)[::-1][K - 1]
            adaptive = (gf >= fk) & (gf / gf[best] >= self.threshold)
        else:
            adaptive[best] = True
        return gf, best, adaptive


def full_cost_calls(d: JiSiDecision, C: Array) -> tuple[Array, Array]:
    """Dollars and calls of the full method per query before its aggregator call: the K
    candidates' calls plus one for every model of A^f outside them (its response is read);
    the aggregator's own call, a cell of its own, is added from the store."""
    rows = np.arange(len(d.chosen))
    called = np.zeros(d.adaptive.shape, dtype=bool)
    called[rows[:, None], d.candidates] = True
    called |= d.adaptive
    cost = np.where(called, C, 0.0).sum(axis=1)
    return np.asarray(cost, dtype=np.float64), called.sum(axis=1).astype(np.float64)


def cost_calls(d: JiSiDecision, C: Array) -> tuple[Array, Array]:
    """Dollars and calls of the router-only variant per query: the K candidates' calls, plus the
    chosen model's call when g^f picks a model outside the candidates."""
    rows = np.arange(len(d.chosen))
    outside = ~(d.candidates == d.chosen[:, None]).any(axis=1)
    cost = C[rows[:, None], d.candidates].sum(axis=1) + np.where(outside, C[rows, d.chosen], 0.0)
    calls = d.candidates.shape[1] + outside.astype(np.float64)
    return np.asarray(cost, dtype=np.float64), np.asarray(calls, dtype=np.float64)
