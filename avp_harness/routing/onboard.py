"""Onboarding a new model into a fitted cluster router with few calls.

The router's clusters and the existing models' per-cluster statistics stay as they are. The new
model is evaluated first on the items nearest each cluster centre (the most typical queries of
each cluster), its per-cluster accuracy is estimated with a 95% Wilson interval, and further calls
go only to clusters where the router's choice at α could still change: those where the cluster's
top model differs between the low and the high end of the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avp_harness.routing.base import ClusterRouter
from avp_harness.routing.scoring import performance_efficiency

Array = NDArray[np.float64]
Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ClusterEstimate:
    """The new model in one cluster: what we know and what it does to the router's choice."""

    cluster: int
    n: int  # the new model's observed cells in the cluster
    accuracy: float  # NaN when n = 0
    low: float
    high: float
    cost: float  # mean observed dollars (the new model's overall mean when none here)
    choice_before: int  # top model of the cluster without the new model
    choice: int  # with the new model at its estimated accuracy (new model = n_models)
    uncertain: bool  # the choice differs between the interval's ends

    @property
    def changed(self) -> bool:
        return self.choice != self.choice_before


def top_choice(p: Array, q: Array, alpha: float) -> NDArray[np.intp]:
    """Per cluster, the model ranked first by x at α (stable ties; unobserved never first)."""
    x = performance_efficiency(p, q, np.array([alpha]))[0]
    return np.argmax(np.nan_to_num(x, nan=-np.inf), axis=1).astype(np.intp)


def estimate(
    router: ClusterRouter, labels: NDArray[np.intp], a_new: Array, c_new: Array, alpha: float
) -> list[ClusterEstimate]:
    """Per-cluster estimates for a new model from its observed cells (NaN = not evaluated)."""
    seen = ~np.isnan(a_new) & ~np.isnan(c_new)
    overall_cost = float(c_new[seen].mean()) if seen.any() else math.nan
    k = router.n_clusters
    n = np.bincount(labels[seen], minlength=k)
    wins = np.bincount(labels[seen], weights=a_new[seen], minlength=k)
    spent = np.bincount(labels[seen], weights=c_new[seen], minlength=k)
    acc = np.where(n > 0, wins / np.maximum(n, 1), np.nan)
    cost = np.where(n > 0, spent / np.maximum(n, 1), overall_cost)
    bounds = np.array([wilson(wins[j], int(n[j])) for j in range(k)])
    before = top_choice(router.p_, router.q_, alpha)

    def with_new(p_new: Array) -> NDArray[np.intp]:
        p = np.column_stack([router.p_, p_new])
        q = np.column_stack([router.q_, np.where(np.isnan(cost), np.nan, cost)])
        return top_choice(p, q, alpha)

    mid = with_new(np.where(n > 0, acc, np.nan))
    lo, hi = with_new(bounds[:, 0]), with_new(bounds[:, 1])
    return [
        ClusterEstimate(
            cluster=j,
            n=int(n[j]),
            accuracy=float(acc[j]),
            low=float(bounds[j, 0]),
            high=float(bounds[j, 1]),
            cost=float(cost[j]),
            choice_before=int(before[j]),
            choice=int(mid[j]) if n[j] > 0 else int(before[j]),
            uncertain=bool(lo[j] != hi[j]) or math.isnan(cost[j]),
        )
        for j in range(k)
    ]


def next_items(
    router: ClusterRouter,
    X: Array,
    labels: NDArray[np.intp],
    evaluated: NDArray[np.bool_],
    estimates: list[ClusterEstimate],
    budget: int,
    min_per_cluster: int = 2,
) -> list[int]:
    """Rows to evaluate next: first bring every cluster to `min_per_cluster` observations, then
    spend the rest on uncertain clusters; within a cluster, nearest the centre first."""
    similarity = np.einsum("ij,ij->i", X, router.centroids_[labels])
    queues: dict[int, list[int]] = {}
    for j in range(router.n_clusters):
        rows = np.flatnonzero((labels == j) & ~evaluated)
        queues[j] = rows[np.argsort(-similarity[rows], kind="stable")].tolist()
    have = {e.cluster: e.n for e in estimates}
    wanted = [j for j in range(router.n_clusters) if have[j] < min_per_cluster]
    wanted += [e.cluster for e in estimates if e.uncertain and have[e.cluster] >= min_per_cluster]
    picked: list[int] = []
    while len(picked) < budget and any(queues[j] for j in wanted):
        for j in list(wanted):  # round-robin over the clusters that still need calls
            if len(picked) >= budget:
                break
            if queues[j]:
                picked.append(queues[j].pop(0))
    return picked
