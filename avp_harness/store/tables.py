"""The store's tables (SQLModel), all in this one module.

`runs.db` holds one `CellRecord` per cell of the evaluation matrix: (model, benchmark, item,
sample index, request fingerprint). The fingerprint hashes everything that changes the answer
(model route and generation parameters, benchmark and prompt version, the item's content), so a
changed parameter makes new cells and leaves the old ones in place. `config_hash` is the same hash
without the item: it names one (model configuration x benchmark version) column of the matrix.

JSON-valued columns are TEXT holding canonical JSON, so the schema is the same on SQLite and
PostgreSQL. No API key is ever written to any table.
"""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from avp_harness.store.schema import SCHEMA_VERSION  # bump it there when a table changes


class MetaRecord(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


class ModelRecord(SQLModel, table=True):
    """A candidate (or judge) model as configured when it was last run."""

    __tablename__ = "models"

    id: str = Field(primary_key=True)
    provider: str
    model_name: str
    params_json: str = "{}"
    price_json: str | None = None
    updated_at: float = 0.0


class RunRecord(SQLModel, table=True):
    """One `avp run` (or one import): when, with which configuration, how it ended."""

    __tablename__ = "runs"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = "collect"  # collect | imported | onboard
    status: str = "running"  # running | completed | interrupted | budget | failed
    started_at: float
    finished_at: float | None = None
    budget: float | None = None
    spent: float = 0.0
    config_json: str = "{}"
    note: str = ""
    owner: str = ""  # host:pid of the collector; with heartbeat_at tells a dead run from a live one
    heartbeat_at: float | None = None


class ClaimRecord(SQLModel, table=True):
    """A cell a collector works on (a lease), so that several collectors share one store.

    A collector enqueues its pending cells (owner NULL), claims a batch before calling, renews its
    leases while it works, and deletes a claim when its cell is finished. A claim whose lease has
    expired, or whose owner process is gone, is taken over by the next collector that looks."""

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_owner", "owner"),)

    fingerprint: str = Field(primary_key=True)
    sample: int = Field(primary_key=True)
    config_hash: str
    owner: str | None = None
    expires_at: float = 0.0


class PlanRecord(SQLModel, table=True):
    """How many cells a run planned per (model, benchmark, configuration)."""

    __tablename__ = "plans"

    run_id: int = Field(primary_key=True, foreign_key="runs.id")
    model: str = Field(primary_key=True)
    benchmark: str = Field(primary_key=True)
    config_hash: str = Field(primary_key=True)
    benchmark_version: str
    planned: int


class ItemRecord(SQLModel, table=True):
    """A benchmark item exactly as rendered (what the model saw and what it is graded against)."""

    __tablename__ = "items"

    benchmark: str = Field(primary_key=True)
    item_id: str = Field(primary_key=True)
    content_hash: str = Field(primary_key=True)
    benchmark_version: str
    prompt_text: str  # the last user message: what routers embed
    messages_json: str
    target_json: str
    metadata_json: str = "{}"
    created_at: float = 0.0


class CellRecord(SQLModel, table=True):
    """One attempted cell: the call's outcome, its usage and dollars, and its grade."""

    __tablename__ = "cells"
    __table_args__ = (
        UniqueConstraint("model", "benchmark", "item_id", "sample", "fingerprint", name="uq_cell"),
        Index("ix_cells_column", "model", "benchmark", "config_hash", "status"),
        Index("ix_cells_item", "benchmark", "item_id"),
        Index("ix_cells_fingerprint", "fingerprint", "sample"),
        # the failed cells (few): the TUI's live refresh reads them each second (cells.py)
        Index("ix_cells_failed", "status", "attempts",
              sqlite_where=text("status != 'ok'"), postgresql_where=text("status != 'ok'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    model: str
    benchmark: str
    item_id: str
    sample: int = 0
    fingerprint: str
    config_hash: str
    benchmark_version: str
    item_hash: str
    run_id: int | None = None

    status: str  # avp_harness.types.Status
    attempts: int = 0
    rate_limits: int = 0  # 429 answers met by this cell's attempts
    error: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0

    response: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost: float | None = None
    cost_source: str = "unknown"  # reported | price_table | unknown
    price_version: str | None = None
    latency_s: float | None = None  # request latency: client wall time, server queueing included
    server_time_s: float | None = None  # the server's own time (llama.cpp `timings`), if reported

    score: float | None = None
    parsed: bool | None = None
    extracted: str | None = None
    grader: str | None = None
    grader_version: str | None = None
    grade_explanation: str | None = None
    judge_model: str | None = None
    judge_output: str | None = None
    judge_cost: float | None = None
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    # τ²-bench's simulated user, paid apart from the candidate (nullable: added in place to an
    # older store)
    user_model: str | None = None
    user_cost: float | None = None
    user_prompt_tokens: int | None = None
    user_completion_tokens: int | None = None


class GradeHistoryRecord(SQLModel, table=True):
    """A grade replaced by `avp regrade`, kept for comparison."""

    __tablename__ = "grade_history"

    id: int | None = Field(default=None, primary_key=True)
    cell_id: int = Field(index=True)
    replaced_at: float
    score: float | None = None
    parsed: bool | None = None
    extracted: str | None = None
    grader: str | None = None
    grader_version: str | None = None
    grade_explanation: str | None = None
    judge_model: str | None = None
    judge_output: str | None = None


class JudgementRecord(SQLModel, table=True):
    """A cached judge call: keyed by (judge model, judge prompt version, question, response)."""

    __tablename__ = "judgements"

    key: str = Field(primary_key=True)  # graders.judge.judge_cache_key(...)
    judge_model: str
    prompt_version: str
    output: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    cost_source: str = "unknown"
    created_at: float = 0.0


class RouterRecord(SQLModel, table=True):
    """A fitted router: hyperparameters, fitted arrays (npz bytes), what it was fitted on."""

    __tablename__ = "routers"

    name: str = Field(primary_key=True)
    kind: str  # faithful | score_sum | knn
    params_json: str = "{}"
    arrays: bytes = b""  # numpy .npz: centroids, per-cluster stats, embedder state
    fitted_on_json: str = "{}"  # benchmarks, models, runs, item count, embedding backend/model
    metrics_json: str = "{}"  # held-out summary of the fitting split
    created_at: float = 0.0


class EmbeddingRecord(SQLModel, table=True):
    """A cached embedding vector (float32 bytes) by (backend, model, sha256 of the text)."""

    __tablename__ = "embeddings"

    backend: str = Field(primary_key=True)
    model: str = Field(primary_key=True)
    text_sha256: str = Field(primary_key=True)
    dim: int
    vector: bytes


class ServedRecord(SQLModel, table=True):
    """One request answered by `avp serve`: which router and α chose which model, what it cost.

    `router` and `alpha` are None for a configured model asked for by name (pass-through);
    `status` is "ok" or the failure's status, `http_status` what the client was answered."""

    __tablename__ = "served"
    __table_args__ = (Index("ix_served_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: float  # when the request arrived (time.time())
    router: str | None = None
    alpha: float | None = None
    requested: str  # the `model` the client asked for
    model: str | None = None  # the configured model id it was sent to (None: not sent)
    stream: bool = False
    status: str = "ok"
    http_status: int = 200
    upstream_status: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    cost_source: str = "unknown"
    latency_s: float | None = None  # arrival to the last byte sent
    error: str | None = None
    calls: int | None = None  # model calls made for it (ensembles: several); None: older rows


__all__ = [
    "SCHEMA_VERSION",
    "CellRecord",
    "ClaimRecord",
    "EmbeddingRecord",
    "GradeHistoryRecord",
    "ItemRecord",
    "JudgementRecord",
    "MetaRecord",
    "ModelRecord",
    "PlanRecord",
    "RouterRecord",
    "RunRecord",
    "ServedRecord",
]
