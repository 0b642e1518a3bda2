"""What the router inspector shows, computed without Textual (so `avp clusters` prints it too).

    names = router_names(store)
    view = inspect_router(store, "main")          # loads, re-embeds the items, sweeps α once
    point = view.at(0.45)                         # held-out accuracy, cost, usage shares
    view.ranking(cluster=3, alpha=0.45)           # models in that cluster, best first
    view.route("What is 2+2?", alpha=0.45)        # chosen model and every model's score

A stored router (see `avp fit`) carries its hyperparameters, fitted arrays, the embedding it was
fitted with (TF-IDF state included) and what it was fitted on; the curve is recomputed on the
same held-out split of the store's current cells, as `avp sweep NAME` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avp_harness.app.routing import Decision, LoadedRouter, decide, evaluate, load_router
from avp_harness.errors import RouterError
from avp_harness.routing import SweepResult
from avp_harness.routing.base import ClusterRouter
from avp_harness.routing.cluster_terms import summarise_clusters
from avp_harness.store import Store
from avp_harness.store.routing import list_routers

Array = NDArray[np.float64]
SAMPLES_PER_CLUSTER = 3


def router_names(store: Store) -> list[str]:
    return [record.name for record in list_routers(store)]


@dataclass(frozen=True)
class Cluster:
    """One cluster of a cluster router: its training queries and per-model statistics."""

    id: int
    size: int
    samples: tuple[str, ...]
    accuracy: tuple[float, ...]  # per model, NaN when unobserved
    cost: tuple[float, ...]  # mean dollars per query, per model
    terms: tuple[str, ...] = ()  # what sets its queries apart (routing/cluster_terms.py)


@dataclass(frozen=True)
class AlphaPoint:
    """The routed system at one α on the held-out split."""

    alpha: float
    accuracy: float
    cost: float
    usage: dict[str, float]


RouteResult = Decision  # alpha, chosen (and selected), scores best first


@dataclass
class RouterView:
    """A fitted router, its curve over α and its clusters (none for a kind without)."""

    name: str
    kind: str
    models: tuple[str, ...]
    router: Any
    sweep: SweepResult
    clusters: list[Cluster]
    fitted_on: dict[str, Any]
    loaded: LoadedRouter

    @property
    def alphas(self) -> Array:
        return self.sweep.alphas

    def index_of(self, alpha: float) -> int:
        return int(np.argmin(np.abs(self.sweep.alphas - alpha)))

    def at(self, alpha: float) -> AlphaPoint:
        i = self.index_of(alpha)
        usage = {m: float(u) for m, u in zip(self.models, self.sweep.usage[i], strict=True)}
        return AlphaPoint(float(self.sweep.alphas[i]), float(self.sweep.accuracy[i]),
                          float(self.sweep.cost[i]), usage)

    def pareto(self) -> tuple[Array, Array]:
        """(cost, accuracy) of the curve's Pareto-optimal points, sorted by cost."""
        mask = self.sweep.pareto()
        order = np.argsort(self.sweep.cost[mask], kind="stable")
        return self.sweep.cost[mask][order], self.sweep.accuracy[mask][order]

    def ranking(self, cluster: int, alpha: float) -> list[tuple[str, float, float, float]]:
        """(model, score x, accuracy, cost) in one cluster at α, best first (unobserved last)."""
        if not isinstance(self.router, ClusterRouter):
            raise RouterError(f"router {self.name!r} ({self.kind}) has no clusters")
        x = self.router.cluster_scores(np.array([alpha]))[0, cluster]
        c = self.clusters[cluster]
        rows = [(m, float(x[j]), c.accuracy[j], c.cost[j]) for j, m in enumerate(self.models)]
        return sorted(rows, key=lambda r: -r[1] if np.isfinite(r[1]) else np.inf)

    def route(self, query: str, alpha: float) -> RouteResult:
        if not query.strip():
            raise RouterError("type a query to route")
        return decide(self.loaded, [query], alpha)[0]


def inspect_router(store: Store, name: str) -> RouterView:
    """Load router `name`, rebuild its data from the store and sweep α on the held-out split."""
    loaded = load_router(store, name)
    data, sweep = evaluate(store, loaded)
    router = loaded.router
    clusters: list[Cluster] = []
    if isinstance(router, ClusterRouter):
        X = np.asarray(data.X)
        train = loaded.split(data).train
        labels = router.assign(X[train])
        # samples show each cluster's distinguishing terms in context, not the prompts' start
        summaries = summarise_clusters([data.texts[i] for i in train], labels,
                                       len(router.centroids_), n_samples=SAMPLES_PER_CLUSTER)
        for k, summary in enumerate(summaries):
            clusters.append(Cluster(
                id=k, size=int((labels == k).sum()), samples=summary.samples,
                accuracy=tuple(float(v) for v in router.p_[k]),
                cost=tuple(float(v) for v in router.q_[k]), terms=summary.terms,
            ))
    return RouterView(name, loaded.kind.name, data.models, router, sweep, clusters,
                      loaded.fitted_on, loaded)

