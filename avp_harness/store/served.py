"""Requests served by `avp serve`: one row each, and the spend / model mix over time.

    record_served(store, [ServedRequest(...), ...])       # one transaction for a batch
    buckets = served_buckets(store, since=t0, bucket_s=3600)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import inspect, select

from avp_harness.store.store import Store, _text
from avp_harness.store.tables import ServedRecord


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One served request (the `served` table's row, see `tables.ServedRecord`)."""

    at: float
    requested: str
    router: str | None = None
    alpha: float | None = None
    model: str | None = None
    stream: bool = False
    status: str = "ok"
    http_status: int = 200
    upstream_status: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    cost_source: str = "unknown"
    latency_s: float | None = None
    error: str | None = None
    calls: int = 1  # model calls made (an ensemble's samples, candidates, aggregator); 0: none


def record_served(store: Store, rows: Sequence[ServedRequest]) -> None:
    """Write served requests in one transaction (a StoreWriteError line if the store refuses)."""
    if not rows:
        return
    values = [{**asdict(row), "error": _text(row.error)} for row in rows]
    with store._writing(), store.engine.begin() as connection:
        connection.execute(store._insert(ServedRecord), values)


@dataclass
class ServedBucket:
    """Served requests that arrived in [start, start + bucket_s)."""

    start: float
    requests: int = 0
    failed: int = 0
    dollars: float = 0.0
    unpriced: int = 0  # answered requests whose dollars are unknown (no price, none reported)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    models: dict[str, int] = field(default_factory=dict)  # answered requests per model
    routers: dict[str, int] = field(default_factory=dict)  # requests per router ("" = by name)
    calls: int = 0  # model calls made (rows stored before the count existed: 1 if answered)


def served_buckets(store: Store, since: float | None = None,
                   bucket_s: float = 3600.0) -> list[ServedBucket]:
    """Served requests per time bucket (oldest first, empty buckets left out); [] when the store
    has never served (an older store has no `served` table)."""
    if not inspect(store.engine).has_table(ServedRecord.__tablename__):
        return []
    columns = (ServedRecord.at, ServedRecord.router, ServedRecord.model, ServedRecord.status,
               ServedRecord.cost, ServedRecord.prompt_tokens, ServedRecord.completion_tokens,
               ServedRecord.calls)
    query = select(*columns).order_by(ServedRecord.at)  # type: ignore[call-overload]
    if since is not None:
        query = query.where(ServedRecord.at >= since)
    out: dict[float, ServedBucket] = {}
    with store.engine.connect() as connection:
        for at, router, model, status, cost, prompt, completion, calls in connection.execute(
                query):
            start = math.floor(at / bucket_s) * bucket_s
            bucket = out.setdefault(start, ServedBucket(start))
            bucket.requests += 1
            key = router or ""
            bucket.routers[key] = bucket.routers.get(key, 0) + 1
            if status != "ok":
                bucket.failed += 1
            elif model is not None:
                bucket.models[model] = bucket.models.get(model, 0) + 1
            if cost is not None:
                bucket.dollars += cost
            elif status == "ok":
                bucket.unpriced += 1
            bucket.prompt_tokens += prompt
            bucket.completion_tokens += completion
            bucket.calls += calls if calls is not None else int(status == "ok")
    return list(out.values())
