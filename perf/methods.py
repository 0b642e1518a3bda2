"""The collaboration methods of `avp compare`, before and after their speed-up, in one run.

    .venv/bin/python perf/methods.py [--n 10000] [--repeat 2]

Per method: fit on n synthetic training queries and a 101-α comparison on n held-out ones, with
the 1000-resample intervals `avp compare` prints (target < 5 s each; α changes nothing for the
Avengers and JiSi, so one evaluation serves every α). Each is timed with the code as it was
("before": one-shot array passes, two-array fancy indexing, JiSi's similarities to every
training query in float64, `np.unique` over every embedding, OpenBLAS threads inside KMeans'
seeding) and as it is ("after": JiSi screens in float32 and computes s exactly on the rows that
can matter), alternately, best of `--repeat`,
wall-clock and CPU seconds (the machine is shared: the CPU seconds are the steadier figure). The
decisions of both must be identical; the script says so for each method and exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from router import D, M, synthetic  # noqa: E402

from avp_harness.app.compare import N_BOOT  # noqa: E402
from avp_harness.routing import (  # noqa: E402
    AvengersProRouter,
    avengers,
    avengers_ensemble,
    ensemble,
    metrics,
)
from avp_harness.routing.avengers_ensemble import AvengersRouter  # noqa: E402
from avp_harness.routing.jisi import JiSiDecision, JiSiRouter, cost_calls, l2_rows  # noqa: E402

# -- the code as it was before the speed-up (decisions must not change) -------------------------


def _unique_rows(X: Any, enough: int) -> int:
    return len(np.unique(np.asarray(X).round(9), axis=0))


@contextlib.contextmanager
def before() -> Iterator[None]:
    """KMeans routers as they were: every embedding through np.unique, BLAS threads as set."""
    saved = [(mod, mod.distinct_rows, mod.one_blas_thread) for mod in (avengers, avengers_ensemble)]
    for mod, _, _ in saved:
        mod.distinct_rows = _unique_rows  # type: ignore[assignment]
        mod.one_blas_thread = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        for mod, distinct, blas in saved:
            mod.distinct_rows = distinct  # type: ignore[assignment]
            mod.one_blas_thread = blas  # type: ignore[assignment]


class JiSiBefore(JiSiRouter):
    """JiSi router-only as it was: whole-array normalisation, two-array fancy indexing."""

    def fit(self, X: Any, A: Any, C: Any, **inputs: Any) -> JiSiBefore:
        R = np.array(inputs["response_vectors"], dtype=np.float64)
        np.nan_to_num(R, copy=False)
        norm = np.linalg.norm(R, axis=-1, keepdims=True)
        R /= np.where(norm > 0, norm, 1.0)
        self.E_ = l2_rows(np.asarray(X, dtype=np.float64))
        self.V_ = np.nan_to_num(np.asarray(A, dtype=np.float64), nan=0.0)
        self.R_ = R
        self.T_ = np.nan_to_num(np.asarray(inputs["response_tokens"], dtype=np.float64), nan=0.0)
        self._restored()
        return self

    def support_mask(self, S: Any, rows: int = 0) -> Any:
        N = S.shape[1]
        nb = min(self.n_base, N)
        kth = np.partition(S, N - nb, axis=1)[:, N - nb]
        return np.asarray(self.gamma * kth[:, None] <= S, dtype=np.bool_)

    def _decide(self, X: Any, R: Any, T: Any) -> JiSiDecision:
        S = self.similarities(X)
        mask = self.support_mask(S)
        R = l2_rows(np.asarray(R, dtype=np.float64))
        T = np.asarray(T, dtype=np.float64)
        K, n = self.n_candidates, len(S)
        chosen, agg, support = (np.empty(n, dtype=np.intp) for _ in range(3))
        cands = np.empty((n, K), dtype=np.intp)
        adaptive = np.zeros((n, self.n_models_), dtype=bool)
        refined = np.empty((n, self.n_models_))
        for q in range(n):
            sup = np.flatnonzero(mask[q])
            sI = S[q, sup]
            VI = self.V_[sup]
            A = np.argsort(-(sI @ VI), kind="stable")[:K]
            s_res = np.einsum("ikd,kd->i", self.R_[sup[:, None], A[None, :]], R[q, A])
            diff = np.abs(self.T_[sup[:, None], A[None, :]] ** 2 - T[q, A] ** 2)
            top = diff.max(axis=0)
            terms = np.where(top > 0, 1.0 - diff / np.where(top > 0, top, 1.0), 1.0)
            gf, best, adaptive[q] = self.refine(sI, s_res, terms, VI)  # unchanged: shared
            chosen[q], cands[q], agg[q], support[q], refined[q] = best, A, int(A[0]), len(sup), gf
        return JiSiDecision(chosen, cands, agg, adaptive, support, refined)


# -- the workloads --------------------------------------------------------------------------------


def workloads(n: int) -> dict[str, Callable[[bool], Any]]:
    """Per method, fn(old) -> its decisions (fit + 101-α compare + intervals)."""
    X, A, C, _ = synthetic(n)
    Xt, At, Ct, Dt = synthetic(n, seed=1)
    alphas = np.linspace(0, 1, 101)
    rng = np.random.default_rng(0)
    names = sorted(set(Dt.tolist()))
    boot = {d: rng.integers(0, (Dt == d).sum(), size=(N_BOOT, (Dt == d).sum())) for d in names}

    def interval(score: np.ndarray) -> None:
        per = [score[Dt == d][boot[d]].mean(axis=1) for d in names]
        np.percentile(np.mean(per, axis=0), [2.5, 97.5])

    def pro(old: bool) -> Any:
        with before() if old else contextlib.nullcontext():
            router = AvengersProRouter(n_clusters=25, random_state=42).fit(X, A, C)
        choice = router.route_curve(Xt, alphas)
        acc, cost = metrics.evaluate(choice, At, Ct, Dt)
        rows = np.arange(n)
        for i in np.flatnonzero(metrics.pareto_mask(cost, acc)):
            interval(At[rows, choice[i]])
        return choice

    S = 10  # samples per (query, model): answers drawn from each model's skill
    right = rng.uniform(size=(n, M, S)) < np.nan_to_num(At)[:, :, None] * 0.5 + 0.3
    wrong = rng.choice(np.array(list("BCD"), dtype=object), size=(n, M, S))
    answers = np.where(right, "A", wrong).astype(object)
    scores = right.astype(float)
    costs = np.repeat(Ct[:, :, None], S, axis=2)
    code = np.zeros(n, dtype=bool)

    def the_avengers(old: bool) -> Any:
        with before() if old else contextlib.nullcontext():
            router = AvengersRouter(n_clusters=64, top_k=3, beta=3.0, top_n=2).fit(X, A, C)
        models = router.select(Xt).models[0]
        for strategy in ("direct", "self_consistency", "model_switch", "model_switch_ablation"):
            interval(ensemble.run_strategy(strategy, models, answers, scores, costs, code).score)
        return models

    R = X[:, None, :] + 0.5 * rng.normal(size=(n, M, D))
    Rt = Xt[:, None, :] + 0.5 * rng.normal(size=(n, M, D))
    T = rng.integers(20, 800, size=(n, M)).astype(float)
    Tt = rng.integers(20, 800, size=(n, M)).astype(float)

    def jisi(old: bool) -> Any:
        router = (JiSiBefore if old else JiSiRouter)().fit(X, A, C, response_vectors=R,
                                                            response_tokens=T)
        d = router.decide(Xt, Rt, Tt)
        cost_calls(d, Ct)
        interval(At[np.arange(n), d.chosen])
        return np.column_stack([d.chosen, d.candidates, d.aggregator, d.adaptive, d.support])

    return {"Avengers-Pro (faithful)": pro, "The Avengers (direct/SC/MS)": the_avengers,
            "JiSi router-only": jisi}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="train and held-out queries")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, best kept")
    args = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}  load average {os.getloadavg()[0]:.1f}  "
          f"{args.n:,} train + {args.n:,} held-out queries, {M} models, {D}-d")
    same_everywhere = True
    for name, fn in workloads(args.n).items():
        best: dict[bool, tuple[float, float]] = {}
        out: dict[bool, Any] = {}
        for _ in range(args.repeat):
            for old in (True, False):
                wall, cpu = time.perf_counter(), time.process_time()
                out[old] = fn(old)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                best[old] = min(best.get(old, (math.inf, math.inf)), (wall, cpu))
        same = np.array_equal(out[True], out[False])
        same_everywhere &= same
        (w0, c0), (w1, c1) = best[True], best[False]
        print(f"{name:28} fit + 101-alpha compare: before {w0:5.2f} s ({c0:5.2f} s CPU)  "
              f"after {w1:5.2f} s ({c1:5.2f} s CPU)  {w0 / w1:4.2f}x wall, {c0 / c1:4.2f}x CPU "
              f"(target < 5 s); decisions {'identical' if same else 'DIFFER'}")
    print(f"load average now {os.getloadavg()[0]:.1f}")
    return 0 if same_everywhere else 1


if __name__ == "__main__":
    sys.exit(main())
