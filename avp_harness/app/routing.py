"""Routing use cases: load a router (with its embedding), fit, refit, sweep, route.

    data = load_data(store, benchmarks=None, models=None)          # the store's score table
    fitted = fit_router(store, FitRequest(name="main", embedding="tfidf"))
    loaded = load_router(store, "main")                            # estimator + its embedding
    export_router(store, "main", Path("out")); read_exported(Path("out"))
    results = sweep_router(store, "main", alphas, seeds=3)         # one SweepResult per seed
    decisions = route_queries(store, "main", ["What is 2+2?"], alpha=0.4)

The CLI parses arguments and prints these; the TUI shows them. Router kinds are looked up in the
registry (`avp_harness.routing.base`), never named here. The embedding of a new fit is
`--embedding` if given, else the `[embedding]` table of avp.toml, else `local`; a stored router
always embeds with the embedding it was fitted with (TF-IDF from its stored vocabulary, fitted on
the training texts only; `file:PATH.npz` from the same file). The split follows a missing-cells
treatment (`routing.split.MISSING`, `drop-first` by default: the reference's), stored with the
router.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import ConfigError, DataError, RouterError
from avp_harness.routing import RouterSpec, RoutingData, SweepResult, run_seeds, run_sweep
from avp_harness.routing.base import RouterBase, RouterKind, check_alpha, check_alphas, get_kind
from avp_harness.routing.persist import from_npz, to_npz
from avp_harness.routing.split import DEFAULT_MISSING, Split, check_missing, split_data
from avp_harness.store import Store
from avp_harness.store.routing import (
    StoredRouter,
    StoreEmbeddingCache,
    get_router,
    response_table,
    save_router,
    score_table,
)

Array = NDArray[np.float64]
LOCAL_MODELS = ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2-onnx-int8")


# -- data ---------------------------------------------------------------------------------------


def load_data(
    store: Store, benchmarks: Sequence[str] | None, models: Sequence[str] | None
) -> RoutingData:
    """The items x models table of the store as routing data (rows without any cell dropped)."""
    table = score_table(store, benchmarks=benchmarks, models=models)
    if not table.models:
        raise DataError(
            f"{store.display_url}: no graded cells"
            + (f" for benchmarks {list(benchmarks)}" if benchmarks else "")
            + (f" and models {list(models)}" if models else "")
        )
    if models:
        absent = sorted(set(models) - set(table.models))
        if absent:
            raise DataError(f"no graded cells for model(s) {', '.join(absent)}")
    return RoutingData(
        models=table.models,
        A=table.A,
        C=table.C,
        datasets=np.array(table.benchmarks, dtype=object),
        index=table.index,
        item_ids=table.item_ids,
        texts=table.texts,
        meta={"run_ids": list(table.run_ids)},
    )


def available_inputs(
    store: Store,
    kind: RouterKind,
    data: RoutingData,
    embed: Callable[[list[str]], Array] | None = None,
) -> dict[str, Any]:
    """The extra fit inputs a kind declares (`RouterKind.needs`), one entry per query of `data`:
    its datasets, the models' stored responses (None where none is stored) and, given `embed`
    (the router's query embedding), those responses embedded and their completion tokens."""
    out: dict[str, Any] = {"datasets": data.datasets}
    if "responses" in kind.needs:
        keys = list(zip(data.datasets.tolist(), data.item_ids, strict=True))
        out["responses"] = response_table(store, rows=keys, models=data.models)
    if embed is not None and {"response_vectors", "response_tokens"} & kind.needs:
        from avp_harness.app.responses import embed_responses, stored_responses

        texts, tokens, why = stored_responses(store, data)
        if why is not None:
            raise RouterError(f"router kind {kind.name!r}: {why}")
        out["response_tokens"] = tokens
        out["response_vectors"] = embed_responses(embed, texts)
    return out


# -- embeddings ---------------------------------------------------------------------------------


@dataclass
class Embedding:
    """How a router embeds text: its spec (`local`, `tfidf`, `api:MODEL`), the model name, the
    arrays stored with the router (TF-IDF's vocabulary and projection), the backend function and
    the tail cut (`max_chars`: keep the last N characters of each text; None keeps all)."""

    spec: str
    model: str
    state: dict[str, NDArray[Any]]
    backend: Callable[[list[str]], Array] = field(repr=False)
    max_chars: int | None = None
    max_tokens: int | None = None  # the local model's token budget (stored with the router)

    def embed(self, texts: Sequence[str]) -> Array:
        return self.backend(tail(texts, self.max_chars))


@dataclass(frozen=True)
class EmbeddingChoice:
    """The embedding a new fit asks for: a spec and an optional tail cut in characters."""

    spec: str
    max_chars: int | None = None


def tail(texts: Sequence[str], max_chars: int | None) -> list[str]:
    return list(texts) if max_chars is None else [t[-max_chars:] for t in texts]


def _config(config_file: str | None) -> Any:
    """The config named by `config_file` / $AVP_CONFIG, or ./avp.toml if it exists; else None."""
    import os

    from avp_harness.config import config_path, load_config

    explicit = bool(config_file) or bool(os.environ.get("AVP_CONFIG"))
    if not explicit and not config_path(None).exists():
        return None
    return load_config(config_file)


def configured_embedding(config_file: str | None = None) -> EmbeddingChoice:
    """The `[embedding]` table of the config (backend, model, max_chars); `local` with no tail cut
    when there is no config file."""
    config = _config(config_file)
    if config is None:
        return EmbeddingChoice("local")
    emb = config.embedding
    if emb.backend == "api":
        return EmbeddingChoice(f"api:{emb.model}", emb.max_chars)
    if emb.backend == "local" and emb.model not in LOCAL_MODELS:
        raise ConfigError(
            config.file_label(),
            "embedding.model",
            f"the local backend runs all-MiniLM-L6-v2 only, got {emb.model!r} "
            '(use backend = "api" for another model)',
        )
    return EmbeddingChoice(str(emb.backend), emb.max_chars)


def _embedder(spec: str, config_file: str | None, max_tokens: int | None = None,
              model: str | None = None) -> Any:
    """The backend for a cacheable spec; `api:MODEL` uses the config's embedding provider when the
    config names that model, else the environment (`AVP_EMBEDDING_BASE_URL`, ...). `local` runs
    a stored router's weights (`model`, its recorded id) and budget (`max_tokens`), or the
    defaults."""
    from avp_harness.embed import get_embedder

    if spec == "local" and max_tokens is not None:
        from avp_harness.embed.local import LocalEmbedder

        return LocalEmbedder.for_model(model, max_tokens)
    if spec.startswith("api:"):
        config = _config(config_file)
        emb = config.embedding if config is not None else None
        if emb is not None and emb.backend == "api" and spec == f"api:{emb.model}":
            from avp_harness.embed.api import ApiEmbedder

            provider = config.providers[emb.provider]
            return ApiEmbedder(emb.model, base_url=provider.base_url,
                               api_key=provider.api_key(), max_chars=emb.max_chars)
    return get_embedder(spec)


def fit_embedding(
    choice: EmbeddingChoice,
    corpus: Sequence[str],
    store: Store,
    config_file: str | None = None,
    fit_rows: NDArray[np.intp] | None = None,
) -> tuple[Embedding, Array]:
    """An embedding for a new fit and the corpus's vectors. TF-IDF is fitted on the texts of
    `fit_rows` only (the training split: no test text may shape the features), default all."""
    spec, cut = choice.spec, choice.max_chars
    if spec == "tfidf":
        rows = np.arange(len(corpus)) if fit_rows is None else fit_rows
        embedding = refit_tfidf(choice, corpus, rows)
    else:
        embedding = _cached(spec, _embedder(spec, config_file), store, cut)
    return embedding, embedding.embed(corpus)


def refit_tfidf(choice: EmbeddingChoice, corpus: Sequence[str],
                rows: NDArray[np.intp]) -> Embedding:
    """A TF-IDF embedding fitted on the texts of `rows` (a split's training texts)."""
    from avp_harness.embed.tfidf import TfidfEmbedder

    tfidf = TfidfEmbedder().fit(tail([corpus[i] for i in rows], choice.max_chars))
    return Embedding("tfidf", tfidf.model, tfidf.state(), tfidf.embed, choice.max_chars)


def file_spec(spec: str) -> str:
    """`file:PATH` with PATH made absolute (a stored router finds its file from anywhere)."""
    if spec.startswith("file:"):
        path = spec.removeprefix("file:")
        if not path:
            raise ConfigError("embedding", "file", "name the vectors: --embedding file:PATH.npz")
        return "file:" + str(Path(path).expanduser().resolve())
    return spec


def stored_embedding(
    spec: str,
    arrays: dict[str, NDArray[Any]],
    store: Store,
    config_file: str | None = None,
    max_chars: int | None = None,
    max_tokens: int | None = None,
    model: str | None = None,
) -> Embedding:
    """The embedding a stored router was fitted with (TF-IDF rebuilt from its arrays; `local`
    with its recorded model id and token budget)."""
    if spec == "tfidf":
        from avp_harness.embed.tfidf import TfidfEmbedder

        if "tfidf_vocab" not in arrays:
            raise RouterError("the router was fitted with TF-IDF but stores no TF-IDF state")
        tfidf = TfidfEmbedder.from_state(arrays)
        state = {k: v for k, v in arrays.items() if k.startswith("tfidf_")}
        return Embedding(spec, tfidf.model, state, tfidf.embed, max_chars)
    return _cached(spec, _embedder(spec, config_file, max_tokens, model), store, max_chars)


def _cached(spec: str, embedder: Any, store: Store, max_chars: int | None) -> Embedding:
    from avp_harness.embed import embed_texts

    cache = StoreEmbeddingCache(store)
    return Embedding(spec, embedder.model, {},
                     lambda texts: embed_texts(embedder, texts, cache), max_chars,
                     getattr(embedder, "max_tokens", None))


# -- a stored router ----------------------------------------------------------------------------


@dataclass
class LoadedRouter:
    """A fitted router from the store, ready to embed and route."""

    name: str
    kind: RouterKind
    router: RouterBase
    params: dict[str, Any]  # {"estimator": get_params(), "seed", "train_ratio"}
    fitted_on: dict[str, Any]
    metrics: dict[str, Any]
    embedding: Embedding

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.fitted_on["models"])

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", 42))

    @property
    def train_ratio(self) -> float:
        return float(self.params.get("train_ratio", 0.7))

    @property
    def missing(self) -> str:
        """The split's missing-cells treatment (routers stored before it existed: `keep`)."""
        return str(self.params.get("missing", "keep"))

    def split(self, data: RoutingData, seed: int | None = None) -> Split:
        """This router's split of `data` (its own seed unless another is given)."""
        return split_data(data, train_ratio=self.train_ratio,
                          seed=self.seed if seed is None else seed, missing=self.missing)

    def spec(self) -> RouterSpec:
        """The spec that refits this router's kind with its hyperparameters (for new splits)."""
        return RouterSpec(kind=self.kind.name, params=self.params.get("estimator", {}))


def restore(
    kind: str, params: dict[str, Any], blob: bytes
) -> tuple[RouterBase, dict[str, NDArray[Any]]]:
    """Rebuild a stored router from its kind, params and arrays (proves they are complete)."""
    arrays = from_npz(blob)
    return get_kind(kind).restore(params.get("estimator", {}), arrays), arrays


def load_router(store: Store, name: str, config_file: str | None = None) -> LoadedRouter:
    stored = get_router(store, name)
    router, arrays = restore(stored.kind, stored.params, stored.arrays)
    spec = stored.fitted_on.get("embedding", "tfidf")
    cut = stored.fitted_on.get("embedding_max_chars")  # absent: routers fitted without a cut
    tokens = stored.fitted_on.get("embedding_max_tokens")
    if spec == "local" and tokens is None:  # fitted before the budget was recorded
        from avp_harness.embed.local import LEGACY_MAX_TOKENS

        tokens = LEGACY_MAX_TOKENS
    return LoadedRouter(
        name=stored.name,
        kind=get_kind(stored.kind),
        router=router,
        params=stored.params,
        fitted_on=stored.fitted_on,
        metrics=stored.metrics,
        embedding=stored_embedding(spec, arrays, store, config_file, cut, tokens,
                                   stored.fitted_on.get("embedding_model")),
    )


def export_router(store: Store, name: str, folder: Path) -> StoredRouter:
    """Write router `name` to `folder` as router.json (everything but the arrays) + arrays.npz."""
    stored = get_router(store, name)
    meta = {"name": stored.name, "kind": stored.kind, "params": stored.params,
            "fitted_on": stored.fitted_on, "metrics": stored.metrics,
            "created_at": stored.created_at}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "router.json").write_text(json.dumps(meta, indent=1))
        (folder / "arrays.npz").write_bytes(stored.arrays)
    except OSError as exc:
        raise DataError(f"cannot write {folder}: {exc.strerror}") from None
    return stored


def read_exported(folder: Path) -> StoredRouter:
    """A router folder written by `export_router`, checked complete (nothing is written)."""
    try:
        meta = json.loads((folder / "router.json").read_text())
        blob = (folder / "arrays.npz").read_bytes()
        stored = StoredRouter(name=meta["name"], kind=meta["kind"], params=meta["params"],
                              arrays=blob, fitted_on=meta["fitted_on"], metrics=meta["metrics"],
                              created_at=meta.get("created_at", time.time()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{folder}: not an exported router ({exc})") from None
    restore(stored.kind, stored.params, stored.arrays)
    return stored


def loaded_data(store: Store, loaded: LoadedRouter, *, exact_models: bool = False) -> RoutingData:
    """The store's current cells on the router's benchmarks and models, embedded its way.

    With `exact_models`, a store lacking one of the router's models is a DataError.
    """
    data = load_data(store, loaded.fitted_on.get("benchmarks"), list(loaded.models))
    if exact_models and data.models != loaded.models:
        raise DataError(
            f"router {loaded.name!r} was fitted on models {list(loaded.models)}; the store has "
            f"graded cells for {list(data.models)} on its benchmarks"
        )
    return data.with_embeddings(loaded.embedding.embed(list(data.texts)))


def evaluate(store: Store, loaded: LoadedRouter) -> tuple[RoutingData, SweepResult]:
    """The stored router itself (not refitted) on its held-out split, at every α in 0:1:0.01."""
    data = loaded_data(store, loaded, exact_models=True)
    result = run_sweep(data, loaded.spec(), seed=loaded.seed, train_ratio=loaded.train_ratio,
                       router=loaded.router, missing=loaded.missing)
    return data, result


# -- fit ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitRequest:
    """What `avp fit` asks for. `hyper` holds hyperparameters by estimator name (n_clusters,
    top_k, beta, n_neighbors, ...); each kind keeps those it has."""

    name: str
    kind: str = "faithful"
    hyper: dict[str, Any] = field(default_factory=dict)
    benchmarks: Sequence[str] | None = None
    models: Sequence[str] | None = None
    seed: int = 42
    train_ratio: float = 0.7
    embedding: str | None = None  # None: the config's [embedding] (with its max_chars), else local
    config_file: str | None = None
    refit: bool = False
    missing: str = DEFAULT_MISSING  # the split's missing-cells treatment (routing.split.MISSING)


NOT_EVALUATED = (
    "a router choosing several models needs an ensemble strategy to be scored: "
    "see `avp compare`, which scores it from the store's samples and responses"
)


@dataclass
class Fitted:
    name: str
    kind: str
    embedding: str
    data: RoutingData
    result: SweepResult | None  # None: not evaluated (summary["reason"] says why)
    summary: dict[str, Any]
    refit: bool
    seconds: float


def fit_router(store: Store, request: FitRequest) -> Fitted:
    """Fit (or, with `refit`, relearn the statistics of) a router, evaluate it, store it."""
    started = time.perf_counter()
    if request.refit:
        loaded = load_router(store, request.name, request.config_file)
        if not loaded.router.can_refit:
            raise RouterError(
                f"--refit keeps a router's clusters; a {loaded.kind.name} router has none: "
                "fit it again from scratch"
            )
        data = load_data(store, request.benchmarks or loaded.fitted_on["benchmarks"],
                         request.models)
        X = loaded.embedding.embed(list(data.texts))
        kind, embedding = loaded.kind, loaded.embedding
        seed, ratio, missing = loaded.seed, loaded.train_ratio, loaded.missing
        train = loaded.split(data).train
        router = loaded.router.refit_stats(X[train], data.A[train], data.C[train])
    else:
        kind = get_kind(request.kind)
        missing = check_missing(request.missing)
        choice = (EmbeddingChoice(file_spec(request.embedding)) if request.embedding
                  else configured_embedding(request.config_file))
        data = load_data(store, request.benchmarks, request.models)
        seed, ratio = request.seed, request.train_ratio
        train = split_data(data, train_ratio=ratio, seed=seed, missing=missing).train
        embedding, X = fit_embedding(choice, data.texts, store, request.config_file, train)
        inputs = kind.fit_inputs(available_inputs(store, kind, data, embedding.embed), train)
        router = kind.build(request.hyper, seed=seed).fit(
            X[train], data.A[train], data.C[train], **inputs
        )
    data = data.with_embeddings(X)
    result: SweepResult | None = None
    if kind.chooses == "one":
        result = run_sweep(data, RouterSpec(kind=kind.name), seed=seed, train_ratio=ratio,
                           router=router, missing=missing)
        summary = result.summary()
    else:
        summary = {"n_train": len(train), "evaluated": False, "reason": NOT_EVALUATED}
    save_router(store, StoredRouter(
        name=request.name,
        kind=kind.name,
        params={"estimator": router.get_params(), "seed": seed, "train_ratio": ratio,
                "missing": missing},
        arrays=to_npz({**router.to_arrays(), **embedding.state}),
        fitted_on={
            "benchmarks": sorted(set(data.datasets.tolist())),
            "models": list(data.models),
            "run_ids": data.meta.get("run_ids", []),
            "n_items": data.n,
            "n_train": summary["n_train"],
            "embedding": embedding.spec,
            "embedding_model": embedding.model,
            **({} if embedding.max_chars is None else {"embedding_max_chars": embedding.max_chars}),
            **({} if embedding.max_tokens is None
               else {"embedding_max_tokens": embedding.max_tokens}),
            "missing_cells": data.missing_report(),
            "refit": request.refit,
        },
        metrics=summary,
        created_at=time.time(),
    ))
    return Fitted(request.name, kind.name, embedding.spec, data, result, summary, request.refit,
                  time.perf_counter() - started)


# -- sweep --------------------------------------------------------------------------------------


def sweep_router(store: Store, name: str, alphas: Array, seeds: int = 1) -> list[SweepResult]:
    """Refit the router's kind on `seeds` splits (its own seed first) and sweep `alphas`.

    A TF-IDF router's embedding is refitted on each split's training texts (no test text shapes
    the features of its own split); other embeddings are fixed and embed once."""
    if seeds < 1:
        raise RouterError("--seeds must be at least 1")
    grid = check_alphas(alphas)
    loaded = load_router(store, name)
    if loaded.embedding.spec != "tfidf":
        data = loaded_data(store, loaded)
        return run_seeds(data, loaded.spec(), [loaded.seed + i for i in range(seeds)],
                         train_ratio=loaded.train_ratio, alphas=grid,
                         fit_inputs=available_inputs(store, loaded.kind, data),
                         missing=loaded.missing)
    raw = load_data(store, loaded.fitted_on.get("benchmarks"), list(loaded.models))
    inputs = available_inputs(store, loaded.kind, raw)
    results = []
    for seed in [loaded.seed + i for i in range(seeds)]:
        embedding = loaded.embedding
        if seed != loaded.seed:
            choice = EmbeddingChoice("tfidf", loaded.embedding.max_chars)
            embedding = refit_tfidf(choice, raw.texts, loaded.split(raw, seed).train)
        data = raw.with_embeddings(embedding.embed(list(raw.texts)))
        results.extend(run_seeds(data, loaded.spec(), [seed], train_ratio=loaded.train_ratio,
                                 alphas=grid, fit_inputs=inputs, missing=loaded.missing))
    return results


def decision_rows(data: RoutingData, result: SweepResult) -> list[dict[str, Any]]:
    """One record per held-out query and α of a sweep: dataset, item id, index (an imported
    Avengers-Pro record's `index`), the chosen model(s), the router's score for the choice, and
    the chosen model's graded score and dollars on the item."""
    if result.test_rows is None or result.choice is None or result.router is None:
        raise RouterError("this sweep kept no decisions")
    rows = result.test_rows
    X = np.asarray(data.X)[rows]
    out: list[dict[str, Any]] = []
    for start in range(0, len(result.alphas), 16):
        part = result.alphas[start : start + 16]
        totals = result.router.scores_curve(X, part)
        for a, alpha in enumerate(part):
            for q, row in enumerate(rows):
                j = int(result.choice[start + a, q])
                router_score = float(totals[a, q, j])
                out.append({
                    "alpha": float(alpha),
                    "dataset": str(data.datasets[row]),
                    "item_id": data.item_ids[row] if data.item_ids else str(row),
                    "index": int(data.index[row]),
                    "models": [data.models[j]],
                    "router_score": router_score if np.isfinite(router_score) else None,
                    "score": float(data.A[row, j]),
                    "cost": float(data.C[row, j]),
                })
    return out


# -- route --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """One routed query: the chosen model (several, ranked, for a router that picks several)
    and every model's score, best first (non-finite: never observed near the query)."""

    query: str
    alpha: float
    selected: tuple[str, ...]
    weights: tuple[float, ...]
    scores: list[tuple[str, float]]

    @property
    def chosen(self) -> str:
        return self.selected[0]


def decide(
    loaded: LoadedRouter, queries: Sequence[str], alpha: float | None = None
) -> list[Decision]:
    """Route `queries` with a loaded router at `alpha` (default: the router's own)."""
    a = check_alpha(loaded.router.alpha if alpha is None else alpha)
    X = loaded.embedding.embed(list(queries))
    selection = loaded.router.select(X, alpha=a)
    scores = loaded.router.scores(X, alpha=a)
    models = loaded.models
    out = []
    for i, query in enumerate(queries):
        picked = [(int(j), float(w)) for j, w in
                  zip(selection.models[0, i], selection.weights[0, i], strict=True) if j >= 0]
        row = [(m, float(s)) for m, s in zip(models, scores[i], strict=True)]
        ranked = sorted(row, key=lambda r: -r[1] if np.isfinite(r[1]) else np.inf)
        out.append(Decision(query, a, tuple(models[j] for j, _ in picked),
                            tuple(w for _, w in picked), ranked))
    return out


def route_queries(
    store: Store, name: str, queries: Sequence[str], alpha: float | None = None
) -> list[Decision]:
    if alpha is not None:
        check_alpha(alpha)  # before loading and embedding anything
    return decide(load_router(store, name), queries, alpha)
