"""Onboarding a new model onto a fitted cluster router (`avp onboard`), as a workflow.

Repeatedly: estimate the new model per cluster from the cells the store holds
(`routing.onboard.estimate`), pick the next items where that estimate matters most
(`routing.onboard.next_items`: nearest each cluster centre first, clusters whose choice is still
uncertain first), evaluate them with the collector, until the budget of cells is spent or nothing
is left to learn. `plan_only` stops before any call and returns the items it would evaluate.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from avp_harness.app.routing import load_router, loaded_data
from avp_harness.errors import ConfigError, RouterError
from avp_harness.routing import check_alpha
from avp_harness.routing.base import ClusterRouter
from avp_harness.routing.data import RoutingData
from avp_harness.routing.onboard import estimate, next_items
from avp_harness.store import Store
from avp_harness.store.routing import score_table


@dataclass(frozen=True)
class OnboardRequest:
    router: str
    model: str
    config_file: str | None = None
    budget: int = 0  # cells the new model may be evaluated on, this session
    batch: int = 10
    min_per_cluster: int = 3
    alpha: float | None = None  # None: the router's own
    plan_only: bool = False


@dataclass
class OnboardResult:
    models: list[str]  # the router's models (the new one is appended after them)
    alpha: float
    estimates: list[Any]  # routing.onboard estimates, one per cluster
    spent: int = 0  # cells evaluated this session
    next_items: list[tuple[str, str, int]] = field(default_factory=list)  # bench, item, cluster


def onboard(store: Store, request: OnboardRequest) -> OnboardResult:
    if request.budget < 0 or request.batch < 1:
        raise RouterError("--budget must be >= 0 and --batch >= 1")
    if request.alpha is not None:
        check_alpha(request.alpha)
    loaded = load_router(store, request.router)
    router = loaded.router
    if not isinstance(router, ClusterRouter):
        raise RouterError(
            f"onboarding needs a router with clusters; "
            f"{request.router!r} is a {loaded.kind.name} router"
        )
    models = list(loaded.fitted_on["models"])
    if request.model in models:
        raise RouterError(f"{request.model} is already one of router {request.router!r}'s models")
    data = loaded_data(store, loaded)
    X = np.asarray(data.X)
    labels = router.assign(X)
    alpha = check_alpha(router.alpha if request.alpha is None else request.alpha)
    spent = 0
    while True:
        a_new, c_new = new_model_cells(store, data, request.model)
        est = estimate(router, labels, a_new, c_new, alpha)
        left = request.budget - spent
        batch = (
            next_items(router, X, labels, ~np.isnan(a_new), est, min(left, request.batch),
                       request.min_per_cluster)
            if left > 0 else []
        )
        if request.plan_only or not batch:
            break
        run_cells(request, store, [(str(data.datasets[i]), data.item_ids[i]) for i in batch])
        spent += len(batch)
    result = OnboardResult(models, alpha, est, spent)
    if request.plan_only:
        result.next_items = [(str(data.datasets[i]), data.item_ids[i], int(labels[i]))
                             for i in batch]
    return result


def new_model_cells(store: Store, data: RoutingData, model: str) -> tuple[Any, Any]:
    """The new model's scores and dollars aligned to the router's items (NaN = not evaluated)."""
    table = score_table(store, benchmarks=sorted(set(data.datasets.tolist())), models=[model])
    a = np.full(data.n, np.nan)
    c = np.full(data.n, np.nan)
    if table.models:
        row = {(b, i): n for n, (b, i) in enumerate(zip(data.datasets, data.item_ids, strict=True))}
        for k, key in enumerate(zip(table.benchmarks, table.item_ids, strict=True)):
            if key in row:
                a[row[key]], c[row[key]] = table.A[k, 0], table.C[k, 0]
    return a, c


def run_cells(request: OnboardRequest, store: Store, cells: list[tuple[str, str]]) -> None:
    """Evaluate the new model on these (benchmark, item id) cells with the collector."""
    from avp_harness.collect.plan import build_plan
    from avp_harness.collect.runner import Collector
    from avp_harness.config import load_config

    config = load_config(request.config_file)
    if request.model not in {m.id for m in config.models}:
        raise ConfigError(
            config.file_label(), "models",
            f"{request.model!r} is not configured; add it or use --plan-only",
        )
    wanted: dict[str, set[str]] = {}
    for bench, item in cells:
        wanted.setdefault(bench, set()).add(item)
    absent = sorted(set(wanted) - {b.name for b in config.benchmarks})
    if absent:
        raise ConfigError(
            config.file_label(), "benchmarks",
            f"{', '.join(absent)} not configured: "
            "the new model can only be called on configured benchmarks",
        )
    config = replace(
        config,
        models=tuple(m for m in config.models if m.id == request.model),
        benchmarks=tuple(b for b in config.benchmarks if b.name in wanted),
    )
    plan = build_plan(config)
    for bench_plan in plan.benchmarks:
        bench_plan.items = [it for it in bench_plan.items if it.id in wanted[bench_plan.name]]
    plan.entries = [
        replace(e, planned=sum(len(b.items) * b.samples
                               for b in plan.benchmarks if b.name == e.benchmark))
        for e in plan.entries
    ]
    config.provider_for(config.models[0]).api_key()  # fail before any call when a key is missing
    asyncio.run(Collector(config, store).run(plan))
