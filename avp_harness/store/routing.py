"""Typed queries for routing: the score table, imported records, fitted routers, embeddings.

Functions over a `Store` (kept out of store.py so the router's queries live in one place):

    table = score_table(store, benchmarks=["mmlu_pro"], models=None)   # items x models
    R = response_table(store, rows=[("mmlu_pro", "q1")], models=["m"])  # stored answer texts
    run_id = import_records(store, source="routerbench", ...)          # published records
    save_router(store, StoredRouter(...)) / get_router(store, name) / list_routers(store)
    StoreEmbeddingCache(store)                                           # embed.EmbeddingCache
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlmodel import Session

from avp_harness.aggregation import AGGREGATE_SUFFIX
from avp_harness.errors import StoreError, StoreWriteError
from avp_harness.store.store import Store
from avp_harness.store.tables import (
    CellRecord,
    EmbeddingRecord,
    ItemRecord,
    RouterRecord,
)
from avp_harness.types import (
    CellKey,
    CellResult,
    Completion,
    CostSource,
    Grade,
    Item,
    Message,
    ModelEntry,
    Status,
    Usage,
    canonical_json,
    sha256_hex,
)

Array = NDArray[np.float64]


@dataclass(frozen=True)
class ScoreTable:
    """Mean score and mean dollars of every model on every item (NaN = no ok cell / no cost)."""

    models: tuple[str, ...]
    benchmarks: tuple[str, ...]  # per row
    item_ids: tuple[str, ...]
    texts: tuple[str, ...]
    index: NDArray[np.int64]
    A: Array
    C: Array
    run_ids: tuple[int, ...]


def score_table(
    store: Store, *, benchmarks: Sequence[str] | None = None, models: Sequence[str] | None = None
) -> ScoreTable:
    """Items that have at least one graded ok cell, by models (sorted). Samples are averaged.

    A cell with a score but unknown dollars has cost NaN: it is missing, never free. JiSi's
    aggregator cells (benchmarks `<name>@jisi`) are left out unless `benchmarks` names them.
    """
    query = select(  # type: ignore[call-overload]
        CellRecord.model,
        CellRecord.benchmark,
        CellRecord.item_id,
        func.avg(CellRecord.score),
        func.avg(CellRecord.cost),
    ).where(CellRecord.status == Status.OK.value, CellRecord.score.is_not(None))  # type: ignore[union-attr]
    if benchmarks:
        query = query.where(CellRecord.benchmark.in_(list(benchmarks)))  # type: ignore[attr-defined]
    else:
        query = query.where(~CellRecord.benchmark.endswith(AGGREGATE_SUFFIX))
    if models:
        query = query.where(CellRecord.model.in_(list(models)))  # type: ignore[attr-defined]
    query = query.group_by(CellRecord.model, CellRecord.benchmark, CellRecord.item_id)
    runs = select(CellRecord.run_id).distinct().where(CellRecord.status == Status.OK.value)  # type: ignore[call-overload]
    with store.engine.connect() as connection:
        cells = list(connection.execute(query))
        run_ids = tuple(sorted(r for (r,) in connection.execute(runs) if r is not None))
        keys = sorted({(b, i) for _, b, i, _, _ in cells})
        texts, order = _item_texts(connection, keys)
    names = tuple(sorted({m for m, *_ in cells}))
    col = {m: j for j, m in enumerate(names)}
    row = {k: i for i, k in enumerate(keys)}
    A = np.full((len(keys), len(names)), np.nan)
    C = np.full_like(A, np.nan)
    for model, bench, item, score, cost in cells:
        A[row[(bench, item)], col[model]] = float(score)
        C[row[(bench, item)], col[model]] = math.nan if cost is None else float(cost)
    return ScoreTable(
        models=names,
        benchmarks=tuple(b for b, _ in keys),
        item_ids=tuple(i for _, i in keys),
        texts=tuple(texts.get(k, "") for k in keys),
        index=np.array([order.get(k, n) for n, k in enumerate(keys)], dtype=np.int64),
        A=A,
        C=C,
        run_ids=run_ids,
    )


def response_table(
    store: Store, *, rows: Sequence[tuple[str, str]], models: Sequence[str]
) -> NDArray[np.object_]:
    """The stored answer text per (benchmark, item id) row and model: (len(rows), len(models)).

    None where the model has no ok cell with a non-empty response for the item (imported records
    carry no text). With several samples, the lowest sample index wins (its latest cell).
    """
    out = np.full((len(rows), len(models)), None, dtype=object)
    if not rows or not models:
        return out
    row = {key: i for i, key in enumerate(rows)}
    col = {m: j for j, m in enumerate(models)}
    query = (
        select(  # type: ignore[call-overload]
            CellRecord.model, CellRecord.benchmark, CellRecord.item_id, CellRecord.response
        )
        .where(
            CellRecord.status == Status.OK.value,
            CellRecord.model.in_(list(models)),  # type: ignore[attr-defined]
            CellRecord.benchmark.in_(sorted({b for b, _ in rows})),  # type: ignore[attr-defined]
            CellRecord.response.is_not(None),  # type: ignore[union-attr]
            CellRecord.response != "",
        )
        .order_by(CellRecord.sample, CellRecord.id.desc())  # type: ignore[union-attr]
    )
    with store.engine.connect() as connection:
        for model, bench, item, text in connection.execute(query):
            i = row.get((bench, item))
            if i is not None and out[i, col[model]] is None:
                out[i, col[model]] = text
    return out


def _item_texts(connection, keys):
    """Prompt text and split index per (benchmark, item id): the latest rendering of each.

    The index is the item's `index` metadata when it has one (imported records), else its
    position in the benchmark's insertion order.
    """
    benches = sorted({b for b, _ in keys})
    query = select(
        ItemRecord.benchmark,
        ItemRecord.item_id,
        ItemRecord.prompt_text,
        ItemRecord.metadata_json,
        ItemRecord.created_at,
    )
    if benches:
        query = query.where(ItemRecord.benchmark.in_(benches))
    query = query.order_by(ItemRecord.created_at)
    texts: dict[tuple[str, str], str] = {}
    order: dict[tuple[str, str], int] = {}
    position: dict[str, int] = {}
    for bench, item, text, meta_json, _ in connection.execute(query):
        key = (bench, item)
        texts[key] = text
        meta = json.loads(meta_json or "{}")
        if key not in order:
            position[bench] = position.get(bench, -1) + 1
            order[key] = (
                int(meta["index"]) if isinstance(meta.get("index"), int) else position[bench]
            )
    return texts, order


def import_records(
    store: Store,
    *,
    source: str,
    models: Sequence[str],
    datasets: Sequence[str],
    item_ids: Sequence[str],
    texts: Sequence[str],
    index: Sequence[int],
    A: Array,
    C: Array,
    batch: int = 5000,
    responses: NDArray[np.object_] | None = None,
) -> tuple[int, int]:
    """Write published per-query records as an `imported` run; returns (run id, cells written).

    Each record becomes an item of benchmark `datasets[i]` (its text as one user message, its
    index in metadata) and one ok cell per model with a score; missing scores write no cell.
    `responses[i, j]` (optional, e.g. RouterBench's `<model>|model_response`) is kept as the
    cell's response text; their token counts are unknown (0).
    """
    run_id = store.start_run([], kind="imported", config={"source": source}, note=source)
    known = {m.id for m in store.models()}
    store.upsert_models(
        ModelEntry(id=m, provider="imported", model_name=m, params={"source": source})
        for m in models
        if m not in known
    )
    version = f"imported:{source}"
    items = [
        Item(
            id=item_ids[i],
            dataset=datasets[i],
            messages=(Message("user", texts[i]),),
            target=None,
            metadata={"index": int(index[i]), "source": source},
        )
        for i in range(len(item_ids))
    ]
    for bench in sorted(set(datasets)):
        store.upsert_items(version, [it for it in items if it.dataset == bench])
    now = time.time()
    results: list[CellResult] = []
    written = 0
    for i, item in enumerate(items):
        item_hash = item.content_hash()
        for j, model in enumerate(models):
            if math.isnan(A[i, j]):
                continue
            config = sha256_hex(canonical_json(["imported", source, model, item.dataset]))
            cost = None if math.isnan(C[i, j]) else float(C[i, j])
            results.append(
                CellResult(
                    key=CellKey(model, item.dataset, item.id, 0, sha256_hex(config + item_hash)),
                    benchmark_version=version,
                    config_hash=config,
                    item_hash=item_hash,
                    status=Status.OK,
                    attempts=0,
                    started_at=now,
                    finished_at=now,
                    run_id=run_id,
                    completion=Completion(
                        text=_text(responses, i, j),
                        usage=Usage(),
                        cost=cost,
                        cost_source=CostSource.REPORTED if cost is not None else CostSource.UNKNOWN,
                        latency_s=0.0,
                        finish_reason=None,
                    ),
                    grade=Grade(
                        score=float(A[i, j]),
                        extracted=None,
                        explanation=f"imported from {source}",
                        grader="imported",
                        grader_version=source,
                    ),
                )
            )
            if len(results) >= batch:
                store.record_results(results)
                written += len(results)
                results = []
    store.record_results(results)
    written += len(results)
    store.finish_run(run_id, "completed", float(np.nansum(C[~np.isnan(A)])))
    return run_id, written


def _text(responses: NDArray[np.object_] | None, i: int, j: int) -> str:
    if responses is None:
        return ""
    value = responses[i, j]
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class SampleTable:
    """Every sample of every model per (benchmark, item) row: (rows, models, samples) arrays.

    `answers` holds the grade's extracted answer (None: unparsed or no cell), `scores` and `costs`
    NaN where the sample has no ok graded cell (or, for costs, unknown dollars); `texts` the
    response text and `tokens` its completion tokens (0 when unknown, e.g. imported records).
    """

    answers: NDArray[np.object_]
    scores: Array
    costs: Array
    texts: NDArray[np.object_]
    tokens: Array
    graders: dict[str, str]  # benchmark -> grader id of its cells (the most frequent)


def sample_table(
    store: Store, *, rows: Sequence[tuple[str, str]], models: Sequence[str], samples: int
) -> SampleTable:
    """Samples 0..samples-1 of each (benchmark, item id) row and model. With several ok cells
    for one sample (other fingerprints), the latest wins."""
    shape = (len(rows), len(models), samples)
    answers = np.full(shape, None, dtype=object)
    texts = np.full(shape, None, dtype=object)
    scores = np.full(shape, np.nan)
    costs = np.full(shape, np.nan)
    tokens = np.zeros(shape)
    graders: dict[str, dict[str, int]] = {}
    if not rows or not models or samples < 1:
        return SampleTable(answers, scores, costs, texts, tokens, {})
    row = {key: i for i, key in enumerate(rows)}
    col = {m: j for j, m in enumerate(models)}
    query = (
        select(  # type: ignore[call-overload, misc]
            CellRecord.model, CellRecord.benchmark, CellRecord.item_id, CellRecord.sample,
            CellRecord.extracted, CellRecord.score, CellRecord.cost, CellRecord.response,
            CellRecord.completion_tokens, CellRecord.grader,
        )
        .where(
            CellRecord.status == Status.OK.value,
            CellRecord.score.is_not(None),  # type: ignore[union-attr]
            CellRecord.sample < samples,
            CellRecord.model.in_(list(models)),  # type: ignore[attr-defined]
            CellRecord.benchmark.in_(sorted({b for b, _ in rows})),  # type: ignore[attr-defined]
        )
        .order_by(CellRecord.id)
    )
    with store.engine.connect() as connection:
        for model, bench, item, k, extracted, score, cost, text, ntok, grader in (
            connection.execute(query)
        ):
            i = row.get((bench, item))
            if i is None:
                continue
            j = col[model]
            answers[i, j, k] = extracted
            scores[i, j, k] = float(score)
            costs[i, j, k] = math.nan if cost is None else float(cost)
            texts[i, j, k] = text or None
            tokens[i, j, k] = float(ntok or 0)
            counts = graders.setdefault(bench, {})
            counts[grader or ""] = counts.get(grader or "", 0) + 1
    return SampleTable(answers, scores, costs, texts, tokens,
                       {b: max(c, key=lambda g: c[g]) for b, c in graders.items()})


def max_samples(store: Store, benchmarks: Sequence[str] | None = None) -> int:
    """The largest number of samples any (model, item) has among ok graded cells."""
    ok = CellRecord.status == Status.OK.value
    query = select(func.max(CellRecord.sample)).where(
        ok, CellRecord.score.is_not(None)  # type: ignore[arg-type, union-attr]
    )
    if benchmarks:
        query = query.where(CellRecord.benchmark.in_(list(benchmarks)))  # type: ignore[attr-defined]
    with store.engine.connect() as connection:
        top = connection.execute(query).scalar()
    return 0 if top is None else int(top) + 1


# -- routers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRouter:
    """A fitted router as stored: kind, hyperparameters, arrays (.npz bytes), what it was fitted on
    and its held-out metrics."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    arrays: bytes = b""
    fitted_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


def _stored(record: RouterRecord) -> StoredRouter:
    return StoredRouter(
        name=record.name,
        kind=record.kind,
        params=json.loads(record.params_json or "{}"),
        arrays=record.arrays,
        fitted_on=json.loads(record.fitted_on_json or "{}"),
        metrics=json.loads(record.metrics_json or "{}"),
        created_at=record.created_at,
    )


def save_router(store: Store, router: StoredRouter) -> None:
    """Insert or replace the router of that name."""
    if store.read_only:
        raise StoreWriteError(f"store {store.display_url} is read-only: cannot save router "
                              f"{router.name!r} (fit into a writable copy of the store)")
    record = RouterRecord(
        name=router.name,
        kind=router.kind,
        params_json=json.dumps(router.params),
        arrays=router.arrays,
        fitted_on_json=json.dumps(router.fitted_on),
        metrics_json=json.dumps(router.metrics),
        created_at=router.created_at or time.time(),
    )
    with store._writing(), Session(store.engine) as session:
        session.merge(record)
        session.commit()


def get_router(store: Store, name: str) -> StoredRouter:
    with Session(store.engine) as session:
        record = session.get(RouterRecord, name)
        if record is None:
            names = [r.name for r in session.exec(select(RouterRecord)).scalars()]  # type: ignore[call-overload]
            known = ", ".join(sorted(names)) or "none yet: run `avp fit --name NAME`"
            raise StoreError(f"no router named {name!r} in {store.display_url} (known: {known})")
        return _stored(record)


def list_routers(store: Store) -> list[StoredRouter]:
    with Session(store.engine) as session:
        query = select(RouterRecord).order_by(RouterRecord.name)
        return [_stored(r) for r in session.exec(query).scalars()]  # type: ignore[call-overload]


# -- embeddings -------------------------------------------------------------------------------


class StoreEmbeddingCache:
    """`avp_harness.embed.EmbeddingCache` backed by the `embeddings` table (float32 vectors)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_vectors(self, backend: str, model: str, hashes: Sequence[str]) -> dict[str, Array]:
        found: dict[str, Array] = {}
        with store_connection(self.store) as connection:
            for s in range(0, len(hashes), 500):
                query = select(
                    EmbeddingRecord.text_sha256, EmbeddingRecord.vector
                ).where(  # type: ignore[call-overload]
                    EmbeddingRecord.backend == backend,
                    EmbeddingRecord.model == model,
                    EmbeddingRecord.text_sha256.in_(list(hashes[s : s + 500])),  # type: ignore[attr-defined]
                )
                for h, blob in connection.execute(query):
                    found[h] = np.frombuffer(blob, dtype=np.float32).astype(np.float64)
        return found

    def put_vectors(self, backend: str, model: str, vectors: dict[str, Array]) -> None:
        rows = [
            {
                "backend": backend,
                "model": model,
                "text_sha256": h,
                "dim": len(v),
                "vector": np.asarray(v, dtype=np.float32).tobytes(),
            }
            for h, v in vectors.items()
        ]
        if not rows or self.store.read_only:  # a cache: a read-only store just misses it
            return
        statement = self.store._insert(EmbeddingRecord).on_conflict_do_nothing(
            index_elements=["backend", "model", "text_sha256"]
        )
        with self.store.engine.begin() as connection:
            connection.execute(statement, rows)

    def count(self) -> int:
        with store_connection(self.store) as connection:
            return int(
                connection.execute(select(func.count()).select_from(EmbeddingRecord)).scalar_one()
            )


def store_connection(store: Store):
    return store.engine.connect()
