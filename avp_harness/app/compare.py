"""`avp compare`: every collaboration method of the field on one held-out split, from the store.

    result = compare(store, CompareRequest(embedding="tfidf", seeds=3))
    result.rows          # one CompareRow per system: accuracy per benchmark and macro, $, calls
    result.skipped       # systems that could not be evaluated from this store, with the reason

Per seed: the store's items split 70/30 per dataset the Avengers-Pro reference's way
(`split_data`: items lacking a model's score or cost dropped first, rows in the split's order);
every method is fitted on the train part and evaluated on the same test queries. Systems: each
single model, the oracle, random (in expectation), cheapest, best model per benchmark,
Avengers-Pro (faithful) across α (its Pareto points over the α grid), the Avengers (direct,
Self-Consistency, Model-Switch with both rules: `routing/ensemble.py`), JiSi router-only
(`routing/jisi.py`) and full JiSi: where its adaptive switch keeps several models (|A^f| > 1),
the aggregator's answer, read from its stored cell (`avp aggregate` makes them; `aggregations`
lists the calls asked for; dollars: the K candidates, every A^f model outside them, and the
aggregator's call). "Direct" (one call to the top model) is scored like every single model and
Avengers-Pro: the cell's mean score and dollars over its stored samples (the expected value of
one call), not sample 0 alone. A system that needs what the store lacks (samples, responses) is
listed in `skipped` with the reason, never scored on part of the queries.

Accuracy is the macro average over benchmarks of the per-query score; dollars and calls are totals
over the test queries. The 95% interval is a percentile bootstrap pooled over seeds: per seed,
1000 resamples of the test queries within each benchmark (the same resamples for every system);
percentiles of an average of scores in [0, 1] stay in [0, 1]. `pareto` marks the systems no other
system beats on both cost and accuracy (the oracle, which reads the answers, is left out).

Embeddings: the request's spec (default: avp.toml's [embedding], else local). TF-IDF is fitted per
seed on the training texts only (queries, and responses when JiSi runs): no test text leaks into
the features. JiSi embeds responses with the same embedding as queries (cached like them for the
cacheable backends); completion tokens are the stored counts, or, where unknown (imported
records), the response's word and punctuation count (`app.responses.approx_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avp_harness.aggregation import Aggregation, kept_responses
from avp_harness.app.responses import embed_responses, responses_of
from avp_harness.app.routing import (
    EmbeddingChoice,
    configured_embedding,
    file_spec,
    fit_embedding,
    load_data,
)
from avp_harness.app.voting import is_code, same_for
from avp_harness.errors import AvpError, RouterError
from avp_harness.names import COMPARE_METHODS
from avp_harness.routing import baselines, ensemble, metrics
from avp_harness.routing.avengers_ensemble import AvengersRouter
from avp_harness.routing.base import check_alphas, get_kind
from avp_harness.routing.data import RoutingData
from avp_harness.routing.jisi import JiSiDecision, JiSiRouter, cost_calls, full_cost_calls
from avp_harness.routing.split import split_data
from avp_harness.store import Store
from avp_harness.store.routing import SampleTable, max_samples, sample_table, score_table

Array = NDArray[np.float64]
METHODS = COMPARE_METHODS  # named in avp_harness.names, so `avp --help` needs no routing code
N_BOOT = 1000


@dataclass(frozen=True)
class CompareRequest:
    """What `avp compare` asks for; hyperparameters per method by their estimator names."""

    benchmarks: Sequence[str] | None = None
    models: Sequence[str] | None = None
    seed: int = 42
    seeds: int = 1
    train_ratio: float = 0.7
    embedding: str | None = None
    config_file: str | None = None
    alphas: Array = field(default_factory=lambda: np.round(np.linspace(0, 1, 101), 10))
    methods: Sequence[str] = METHODS
    pro: dict[str, Any] = field(default_factory=lambda: {"n_clusters": 25, "top_k": 3,
                                                         "beta": 9.0})
    avengers: dict[str, Any] = field(default_factory=lambda: {"n_clusters": 64, "top_k": 3,
                                                              "beta": 3.0, "top_n": 2})
    jisi: dict[str, Any] = field(default_factory=dict)
    sc_samples: int = ensemble.SC_SAMPLES
    ms_samples: int = ensemble.MS_SAMPLES


@dataclass
class CompareRow:
    """One system: means over seeds, a 95% bootstrap interval of the macro accuracy."""

    name: str
    family: str  # single | baseline | avengers_pro | avengers | jisi
    accuracy: float
    low: float
    high: float
    per_benchmark: dict[str, float]
    cost: float
    calls: float
    alpha: float | None = None
    pareto: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "accuracy": self.accuracy,
                "accuracy_95": [self.low, self.high], "per_benchmark": self.per_benchmark,
                "cost": self.cost, "calls": self.calls, "alpha": self.alpha,
                "pareto": self.pareto}


@dataclass
class CompareResult:
    models: tuple[str, ...]
    benchmarks: tuple[str, ...]
    seeds: list[int]
    n_train: int
    n_test: int
    n_test_dropped: int
    embedding: str
    rows: list[CompareRow]
    skipped: dict[str, str]
    notes: list[str]
    n_test_per_seed: list[int] = field(default_factory=list)
    aggregations: list[Aggregation] = field(default_factory=list)  # JiSi's, every seed

    def as_dict(self) -> dict[str, Any]:
        return {"models": list(self.models), "benchmarks": list(self.benchmarks),
                "seeds": self.seeds, "n_train": self.n_train, "n_test": self.n_test,
                "n_test_dropped_missing": self.n_test_dropped,
                "n_test_per_seed": self.n_test_per_seed, "embedding": self.embedding,
                "systems": [r.as_dict() for r in self.rows], "skipped": self.skipped,
                "notes": self.notes}


@dataclass
class _Points:
    """Per seed, a system's per-query score, dollars and calls on that seed's test queries."""

    family: str
    alpha: float | None = None
    per_seed: list[tuple[Array, Array, Array]] = field(default_factory=list)


# -- helpers ------------------------------------------------------------------------------------


# -- the comparison -----------------------------------------------------------------------------


def compare(store: Store, request: CompareRequest) -> CompareResult:
    if request.seeds < 1:
        raise RouterError("--seeds must be at least 1")
    unknown = sorted(set(request.methods) - set(METHODS))
    if unknown:
        raise RouterError(f"unknown methods {unknown}: choose from {', '.join(METHODS)}")
    grid = check_alphas(request.alphas)
    data = load_data(store, request.benchmarks, request.models)
    keys = list(zip(data.datasets.tolist(), data.item_ids, strict=True))
    methods = set(request.methods)
    skipped: dict[str, str] = {}
    notes: list[str] = []
    want = max(request.sc_samples, request.ms_samples, 1) if "avengers" in methods else 1
    stored_samples = max_samples(store, sorted(set(data.datasets.tolist())))
    table = sample_table(store, rows=keys, models=data.models, samples=max(1, min(want,
                                                                             stored_samples)))
    choice = (EmbeddingChoice(file_spec(request.embedding)) if request.embedding
              else configured_embedding(request.config_file))
    seeds = [request.seed + i for i in range(request.seeds)]
    complete = data.complete_rows()
    points: dict[str, _Points] = {}
    names = sorted(set(data.datasets.tolist()))
    boots: list[tuple[NDArray[np.object_], dict[str, NDArray[np.intp]]]] = []
    split_sizes = (0, 0, 0)  # of the first seed
    per_seed: list[int] = []
    jisi_inputs = responses_of(data, table) if "jisi" in methods else None
    if jisi_inputs is not None and jisi_inputs[2] is not None:
        skipped["jisi (router-only)"] = jisi_inputs[2]
        jisi_inputs = None
    embed_cache: dict[str, Any] = {}
    aggregations: list[Aggregation] = []
    for seed in seeds:
        split = split_data(data, train_ratio=request.train_ratio, seed=seed)  # faithful
        train, test = split.train, split.test
        kept = test[complete[test]]
        if len(kept) == 0:
            raise RouterError("no test query has a score and a cost for every model")
        split_sizes = split_sizes if seed != seeds[0] else (
            len(train), len(kept), len(split.dropped) + len(test) - len(kept))
        per_seed.append(len(kept))
        try:
            X, R = _embed(store, request, choice, data, train, jisi_inputs, embed_cache)
        except AvpError as exc:  # e.g. a vectors file holding the queries but not the responses
            if jisi_inputs is None:
                raise
            skipped["jisi (router-only)"] = f"cannot embed the stored responses: {exc}"
            jisi_inputs, embed_cache = None, {}
            X, R = _embed(store, request, choice, data, train, None, embed_cache)
        At, Ct, Dt = data.A[kept], data.C[kept], data.datasets[kept]
        rng = np.random.default_rng(seed)
        boots.append((Dt, {n: rng.integers(0, (Dt == n).sum(), size=(N_BOOT, (Dt == n).sum()))
                           for n in names if (Dt == n).any()}))

        def add(name: str, family: str, score: Array, cost: Array, calls: Array,
                alpha: float | None = None) -> None:
            points.setdefault(name, _Points(family, alpha)).per_seed.append((score, cost, calls))

        ones = np.ones(len(kept))
        every = np.arange(len(kept))
        if "baselines" in methods:
            for j, model in enumerate(data.models):
                add(model, "single", At[:, j], Ct[:, j], ones)
            refs = {
                "oracle": baselines.oracle(At, Ct),
                "cheapest": baselines.cheapest(data.C[train], len(kept)),
                "best_per_benchmark": baselines.best_per_benchmark(
                    data.A[train], data.C[train], data.datasets[train], Dt),
            }
            for name, picked in refs.items():
                add(name, "baseline", At[every, picked], Ct[every, picked], ones)
            add("random", "baseline", At.mean(axis=1), Ct.mean(axis=1), ones)
        if "avengers_pro" in methods:
            try:
                router = get_kind("faithful").build(request.pro, seed=seed).fit(
                    X[train], data.A[train], data.C[train])
            except RouterError as exc:  # e.g. more clusters than training queries
                skipped["avengers-pro"] = str(exc)
            else:
                curve = router.route_curve(X[kept], grid)
                for a, picked in zip(grid, curve, strict=True):
                    add(f"avengers-pro a={a:g}", "avengers_pro", At[every, picked],
                        Ct[every, picked], ones, float(a))
        if "avengers" in methods:
            try:
                _avengers(request, data, table, train, kept, X, seed, stored_samples, add,
                          skipped)
            except RouterError as exc:
                skipped["avengers"] = str(exc)
        if jisi_inputs is not None and R is not None:
            try:
                jisi = JiSiRouter(**request.jisi).fit(
                    X[train], data.A[train], data.C[train],
                    response_vectors=R[train], response_tokens=jisi_inputs[1][train])
            except RouterError as exc:  # e.g. fewer models than K candidates
                skipped["jisi (router-only)"] = str(exc)
                continue
            d = jisi.decide(X[kept], R[kept], jisi_inputs[1][kept])
            cost, calls = cost_calls(d, Ct)
            add("jisi (router-only)", "jisi", At[np.arange(len(kept)), d.chosen], cost, calls)
            asked = _aggregations(data, kept, d, jisi_inputs[0])
            aggregations += [a for a in asked if a is not None]
            full, missing = _full_jisi(store, asked, d, At, Ct)
            n_agg = sum(a is not None for a in asked)
            notes.append(f"seed {seed}: JiSi's adaptive switch calls the aggregator on "
                         f"{n_agg / len(kept):.1%} of test queries")
            if full is None:
                skipped["jisi (full, with aggregator)"] = (
                    f"{missing} of {n_agg} aggregator cells (seed {seed}) are not in the store: "
                    "`avp aggregate` makes them")
            else:
                add("jisi (full)", "jisi", *full)
    rows = _rows(points, boots, names)
    return CompareResult(data.models, tuple(names), seeds, *split_sizes, choice.spec, rows,
                         skipped, notes, per_seed, aggregations)


def _aggregations(
    data: RoutingData, kept: NDArray[np.intp], d: JiSiDecision, texts: NDArray[np.object_]
) -> list[Aggregation | None]:
    """Per test query, the aggregator call JiSi's adaptive switch asks for (None: |A^f| = 1,
    the one model's response is the answer): A^f's responses best first by g^f."""
    assert d.refined is not None
    out: list[Aggregation | None] = []
    for q, row in enumerate(kept):
        members = np.flatnonzero(d.adaptive[q])
        if len(members) < 2:
            out.append(None)
            continue
        order = members[np.argsort(-d.refined[q, members], kind="stable")]
        responses = kept_responses([str(texts[row, j] or "") for j in order])
        out.append(Aggregation(
            str(data.datasets[row]), data.item_ids[row], data.models[int(d.aggregator[q])],
            tuple(data.models[int(j)] for j in order[: len(responses)]), tuple(responses)))
    return out


def _full_jisi(
    store: Store, asked: list[Aggregation | None], d: JiSiDecision, At: Array, Ct: Array
) -> tuple[tuple[Array, Array, Array] | None, int]:
    """Full JiSi's (score, dollars, calls) per test query from the stored aggregator cells, or
    None and how many of them the store lacks (a cell with unknown dollars counts as lacking)."""
    benches = sorted({a.cell_benchmark for a in asked if a is not None})
    table = score_table(store, benchmarks=benches) if benches else None
    found: dict[tuple[str, str, str], tuple[float, float]] = {}
    if table is not None:
        for i, key in enumerate(zip(table.benchmarks, table.item_ids, strict=True)):
            for j, model in enumerate(table.models):
                if not np.isnan(table.A[i, j]) and not np.isnan(table.C[i, j]):
                    found[(model, *key)] = (float(table.A[i, j]), float(table.C[i, j]))
    score = At[np.arange(len(asked)), d.chosen].astype(np.float64)
    cost, calls = full_cost_calls(d, Ct)
    missing = 0
    for q, a in enumerate(asked):
        if a is None:
            continue
        cell = found.get((a.aggregator, a.cell_benchmark, a.cell_item_id))
        if cell is None:
            missing += 1
            continue
        score[q] = cell[0]
        cost[q] += cell[1]
        calls[q] += 1
    return (None if missing else (score, cost, calls)), missing


def _embed(
    store: Store, request: CompareRequest, choice: EmbeddingChoice, data: RoutingData,
    train: NDArray[np.intp], jisi: tuple[Any, ...] | None, cache: dict[str, Any],
) -> tuple[Array, Array | None]:
    """Query embeddings (n, d) and, for JiSi, response embeddings (n, m, d)."""
    texts = list(data.texts)
    responses = jisi[0] if jisi is not None else None
    if choice.spec != "tfidf" and "X" in cache:
        return cache["X"], cache.get("R")
    corpus = [texts[i] for i in train] if choice.spec == "tfidf" else []
    if responses is not None and choice.spec == "tfidf":
        corpus += [t for t in responses[train].ravel().tolist() if t]
    embedding, _ = fit_embedding(choice, corpus, store, request.config_file)
    X = embedding.embed(texts)
    R = None if responses is None else embed_responses(embedding.embed, responses)
    if choice.spec != "tfidf":
        cache["X"], cache["R"] = X, R
    return X, R


def _avengers(
    request: CompareRequest, data: RoutingData, table: SampleTable, train: NDArray[np.intp],
    kept: NDArray[np.intp], X: Array, seed: int, stored: int,
    add: Callable[..., None], skipped: dict[str, str],
) -> None:
    router = AvengersRouter(**{**request.avengers, "random_state": seed}).fit(
        X[train], data.A[train], data.C[train])
    models = router.select(X[kept]).models[0]
    bench = data.datasets[kept]
    graders = {b: table.graders.get(b, "") for b in set(bench.tolist())}
    code = np.array([is_code(b, graders[b]) for b in bench], dtype=bool)
    same_by = {b: same_for(g) for b, g in graders.items()}
    same = [same_by[b] for b in bench]
    answers, scores, costs = (table.answers[kept], table.scores[kept], table.costs[kept])
    strategies = {
        "avengers (direct)": ("direct", {}),
        f"avengers SC (n={request.sc_samples})": ("self_consistency", {"n": request.sc_samples}),
        f"avengers MS (s={request.ms_samples})": ("model_switch", {"s": request.ms_samples}),
        f"avengers MS-ablation (s={request.ms_samples})": ("model_switch_ablation",
                                                            {"s": request.ms_samples}),
    }
    for name, (strategy, kw) in strategies.items():
        if strategy == "direct":  # one call: scored like every single model (mean over samples)
            every = np.arange(len(kept))
            add(name, "avengers", data.A[kept][every, models[:, 0]],
                data.C[kept][every, models[:, 0]], np.ones(len(kept)))
            continue
        width, k = ensemble.needed(strategy, **kw)
        if width > models.shape[1]:
            skipped[name] = f"needs top_n >= {width}"
            continue
        lacking = ensemble.missing_samples(models, scores, costs, strategy, **kw)
        if lacking.any():
            skipped[name] = (f"needs {k} stored sample(s) per model and item "
                             f"(the store holds at most {stored}); {int(lacking.sum())} of "
                             f"{len(kept)} test queries lack them")
            continue
        out = ensemble.run_strategy(strategy, models, answers, scores, costs, code, same, **kw)
        add(name, "avengers", out.score, out.cost, out.calls)


def _rows(
    points: dict[str, _Points],
    boots: list[tuple[NDArray[np.object_], dict[str, NDArray[np.intp]]]],
    names: list[str],
) -> list[CompareRow]:
    """Means over seeds; Avengers-Pro keeps only the Pareto points of its α curve."""
    rows: list[CompareRow] = []
    pro: list[CompareRow] = []
    for name, p in points.items():
        if len(p.per_seed) != len(boots):
            continue  # evaluated on some seeds only: not comparable
        per_bench = {n: float(np.mean([s[Dt == n].mean() for (s, _, _), (Dt, _) in
                                       zip(p.per_seed, boots, strict=True)])) for n in names}
        row = CompareRow(
            name=name, family=p.family, accuracy=float(np.mean(list(per_bench.values()))),
            low=np.nan, high=np.nan, per_benchmark=per_bench,
            cost=float(np.mean([c.sum() for _, c, _ in p.per_seed])),
            calls=float(np.mean([k.sum() for _, _, k in p.per_seed])), alpha=p.alpha)
        (pro if p.family == "avengers_pro" else rows).append(row)
    if pro:
        mask = metrics.pareto_mask(np.array([r.cost for r in pro]),
                                   np.array([r.accuracy for r in pro]))
        seen: set[tuple[float, float]] = set()
        for r, keep in zip(pro, mask, strict=True):
            if keep and (r.cost, r.accuracy) not in seen:  # one row per distinct point
                seen.add((r.cost, r.accuracy))
                rows.append(r)
    for r in rows:
        r.low, r.high = _interval(points[r.name], boots, names)
    systems = [r for r in rows if r.name != "oracle"]  # a bound that reads the answers
    mask = metrics.pareto_mask(np.array([r.cost for r in systems]),
                               np.array([r.accuracy for r in systems]))
    for r, keep in zip(systems, mask, strict=True):
        r.pareto = bool(keep)
    return sorted(rows, key=lambda r: (r.cost, -r.accuracy))


def _interval(
    p: _Points, boots: list[tuple[NDArray[np.object_], dict[str, NDArray[np.intp]]]],
    names: list[str],
) -> tuple[float, float]:
    pooled = []
    for (score, _, _), (Dt, idx) in zip(p.per_seed, boots, strict=True):
        per = [score[Dt == n][idx[n]].mean(axis=1) for n in names if n in idx]
        pooled.append(np.mean(per, axis=0))
    lo, hi = np.percentile(np.concatenate(pooled), [2.5, 97.5])
    return float(lo), float(hi)
