"""`Store`: typed access to runs.db. All SQL of the project lives in this package.

A path means SQLite (WAL, so a TUI can read while a collector writes); a SQLAlchemy URL (e.g.
`postgresql+psycopg://...`) lets several collectors share one store. The collector's single writer
calls `record_results` with small batches; each batch is one transaction, so a crash loses at most
the batch in flight and never leaves half a cell.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, case, create_engine, event, func, inspect, select, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlmodel import Session, SQLModel

from avp_harness.errors import SchemaVersionError, StoreError
from avp_harness.store.tables import (
    SCHEMA_VERSION,
    CellRecord,
    ItemRecord,
    MetaRecord,
    ModelRecord,
    PlanRecord,
    RunRecord,
)
from avp_harness.types import DONE_STATUSES, CellResult, Item, Status, canonical_json


def database_url(url_or_path: str) -> str:
    """A SQLAlchemy URL for a path or URL (`sqlite:///abs/path` for a path)."""
    if "://" in url_or_path:
        return url_or_path
    return f"sqlite:///{Path(url_or_path).expanduser().resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextlib.contextmanager
def _setup_lock(url: str) -> Iterator[None]:
    """Serialise store set-up between processes: a collector and a TUI opening a new store at
    once would both try to create its tables and switch it to WAL.

    The lock is an flock on the store's FOLDER, never on the database file: closing any other
    descriptor of that file would drop the POSIX locks SQLite holds on it in this process.
    """
    if not url.startswith("sqlite:///"):
        yield
        return
    folder = os.open(Path(url.removeprefix("sqlite:///")).parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the flock


def make_engine(url_or_path: str) -> Engine:
    """Engine factory: WAL and a generous busy timeout for SQLite; the URL as-is otherwise."""
    url = database_url(url_or_path)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


@dataclass(frozen=True)
class PlanEntry:
    """What a run intends to evaluate for one (model, benchmark) configuration."""

    model: str
    benchmark: str
    config_hash: str
    benchmark_version: str
    planned: int


@dataclass
class MatrixRow:
    """One (model, benchmark) cell of the summary matrix."""

    model: str
    benchmark: str
    planned: int | None
    done: int  # finished, never requested again: status ok, or context_exceeded (not graded)
    graded: int  # ok cells with a score
    accuracy: float | None  # mean score of graded ok cells
    unparsed: int  # ok cells whose answer could not be extracted (scored 0)
    errors: int  # cells whose last attempt failed (retried by the next run)
    rate_limited: int  # 429 answers met (each was retried)
    dollars: float  # known dollars of every attempt recorded
    unknown_cost: int  # ok cells with no known cost
    prompt_tokens: int
    completion_tokens: int
    mean_latency_s: float | None  # request latency: client wall time, server queueing included
    by_status: dict[str, int] = field(default_factory=dict)
    truncated: int = 0  # ok cells whose answer hit max_tokens (finish_reason "length"), graded
    context_exceeded: int = 0  # prompts longer than the context window: done, left out of accuracy
    mean_server_time_s: float | None = None  # the server's own timing, where responses had it

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Store:
    """Typed methods over runs.db. Create with `Store.open(path_or_url)`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, url_or_path: str, *, create: bool = True) -> Store:
        """Open (and create, unless `create=False`) a store, checking its schema version."""
        url = database_url(url_or_path)
        if url.startswith("sqlite:///") and not create:
            path = Path(url.removeprefix("sqlite:///"))
            if not path.exists():
                raise StoreError(f"no store at {path} (run `avp run` or `avp demo` first)")
        if url.startswith("sqlite:///"):
            parent = Path(url.removeprefix("sqlite:///")).parent
            if not parent.is_dir():
                raise StoreError(
                    f"cannot create store {url_or_path}: folder {parent} does not exist"
                )
        with _setup_lock(url):
            engine = make_engine(url_or_path)
            store = cls(engine, url)
            try:
                store._check_schema()
                store._create_missing_tables()
            except SchemaVersionError:
                engine.dispose()
                raise
            except (DatabaseError, OperationalError) as exc:
                engine.dispose()
                reason = str(exc.orig) if exc.orig is not None else str(exc)
                raise StoreError(f"cannot open store {url_or_path}: {reason}") from exc
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _create_missing_tables(self) -> None:
        """Create what is missing and stamp the schema version; a complete store is not written
        to, so readers (`avp status`, the TUI) never write."""
        existing = set(inspect(self.engine).get_table_names())
        if set(SQLModel.metadata.tables) <= existing:
            self._add_missing_columns()
            return
        SQLModel.metadata.create_all(self.engine)
        self._stamp_schema()

    def _add_missing_columns(self) -> None:
        """Nullable columns added since the store was created (e.g. cells.server_time_s) are
        added in place, so an older store keeps working; nothing is written when none lacks."""
        inspector = inspect(self.engine)
        for table in SQLModel.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            missing = [c for c in table.columns if c.name not in present and c.nullable]
            if not missing:
                continue
            with self.engine.begin() as connection:
                for column in missing:
                    kind = column.type.compile(dialect=self.engine.dialect)
                    connection.execute(
                        text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
                    )

    def _check_schema(self) -> None:
        if not inspect(self.engine).has_table("meta"):
            return
        with Session(self.engine) as session:
            meta = session.get(MetaRecord, "schema_version")
        if meta is not None and int(meta.value) > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"store {self.url} has schema version {meta.value}, newer than this avp-harness "
                f"understands ({SCHEMA_VERSION}): upgrade avp-harness to read it"
            )

    def _stamp_schema(self) -> None:
        statement = self._insert(MetaRecord).on_conflict_do_nothing(index_elements=["key"])
        with self.engine.begin() as connection:
            connection.execute(statement, [{"key": "schema_version", "value": str(SCHEMA_VERSION)}])

    def schema_version(self) -> int:
        with Session(self.engine) as session:
            meta = session.get(MetaRecord, "schema_version")
        return int(meta.value) if meta else 0

    def set_meta(self, key: str, value: str) -> None:
        with Session(self.engine) as session:
            session.merge(MetaRecord(key=key, value=value))
            session.commit()

    # ------------------------------------------------------------------ models, runs, items
    def upsert_models(self, models: Iterable[ModelRecord]) -> None:
        now = time.time()
        with Session(self.engine) as session:
            for model in models:
                model.updated_at = now
                session.merge(model)
            session.commit()

    def models(self) -> list[ModelRecord]:
        with Session(self.engine) as session:
            return list(session.exec(select(ModelRecord).order_by(ModelRecord.id)).scalars())

    def start_run(
        self,
        plans: Sequence[PlanEntry],
        *,
        kind: str = "collect",
        budget: float | None = None,
        config: dict[str, Any] | None = None,
        note: str = "",
    ) -> int:
        with Session(self.engine) as session:
            run = RunRecord(
                kind=kind,
                started_at=time.time(),
                budget=budget,
                config_json=canonical_json(config or {}),
                note=note,
            )
            session.add(run)
            session.flush()
            assert run.id is not None
            for plan in plans:
                session.add(PlanRecord(run_id=run.id, **plan.__dict__))
            session.commit()
            return run.id

    def finish_run(self, run_id: int, status: str, spent: float) -> None:
        with Session(self.engine) as session:
            run = session.get(RunRecord, run_id)
            if run is None:
                raise StoreError(f"no run {run_id}")
            run.status, run.spent, run.finished_at = status, spent, time.time()
            session.add(run)
            session.commit()

    def runs(self, limit: int = 20) -> list[RunRecord]:
        with Session(self.engine) as session:
            query = select(RunRecord).order_by(RunRecord.id.desc()).limit(limit)  # type: ignore[union-attr]
            return list(session.exec(query).scalars())

    def upsert_items(self, benchmark_version: str, items: Iterable[Item]) -> int:
        """Record items as rendered; existing (benchmark, id, content hash) rows are kept."""
        now = time.time()
        rows = [
            {
                "benchmark": item.dataset,
                "item_id": item.id,
                "content_hash": item.content_hash(),
                "benchmark_version": benchmark_version,
                "prompt_text": item.prompt_text,
                "messages_json": canonical_json([m.as_dict() for m in item.messages]),
                "target_json": canonical_json(item.target),
                "metadata_json": canonical_json(dict(item.metadata)),
                "created_at": now,
            }
            for item in items
        ]
        if not rows:
            return 0
        statement = self._insert(ItemRecord).on_conflict_do_nothing(
            index_elements=["benchmark", "item_id", "content_hash"]
        )
        with self.engine.begin() as connection:
            connection.execute(statement, rows)
        return len(rows)

    def item(self, benchmark: str, item_id: str) -> ItemRecord | None:
        with Session(self.engine) as session:
            query = (
                select(ItemRecord)
                .where(ItemRecord.benchmark == benchmark, ItemRecord.item_id == item_id)
                .order_by(ItemRecord.created_at.desc())  # type: ignore[attr-defined]
            )
            return session.exec(query).scalars().first()

    # ------------------------------------------------------------------ cells
    def _insert(self, table: type[SQLModel]) -> Any:
        """A dialect-specific INSERT that supports ON CONFLICT (SQLite, PostgreSQL)."""
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            raise StoreError(f"unsupported database {name!r}: use SQLite or PostgreSQL")
        return insert(table.__table__)  # type: ignore[attr-defined]

    def ok_cells(self, config_hashes: Collection[str]) -> set[tuple[str, int]]:
        """(fingerprint, sample) of every finished cell (status ok or context_exceeded, see
        `types.DONE_STATUSES`) in these configurations."""
        done: set[tuple[str, int]] = set()
        hashes = list(config_hashes)
        with self.engine.connect() as connection:
            for start in range(0, len(hashes), 500):
                query = select(CellRecord.fingerprint, CellRecord.sample).where(
                    CellRecord.status.in_(DONE_STATUSES),  # type: ignore[attr-defined]
                    CellRecord.config_hash.in_(hashes[start : start + 500]),  # type: ignore[attr-defined]
                )
                done.update((fp, sample) for fp, sample in connection.execute(query))
        return done

    def record_results(self, results: Sequence[CellResult]) -> None:
        """Write a batch of cell outcomes in one transaction.

        A finished cell (`ok`, `context_exceeded`) is never overwritten; a failed cell is replaced
        by its retry, with the attempts of every run added up.
        """
        if not results:
            return
        rows = [_cell_row(result) for result in results]
        statement = self._insert(CellRecord)
        excluded = statement.excluded
        updates = {name: excluded[name] for name in rows[0] if name not in _CELL_KEY}
        table = CellRecord.__table__.c  # type: ignore[attr-defined]
        updates["attempts"] = table.attempts + excluded.attempts
        updates["rate_limits"] = table.rate_limits + excluded.rate_limits
        statement = statement.on_conflict_do_update(
            index_elements=list(_CELL_KEY),
            set_=updates,
            where=and_(*(table.status != done for done in DONE_STATUSES)),  # executemany: no IN
        )
        with self.engine.begin() as connection:
            connection.execute(statement, rows)

    def mean_costs(self, config_hashes: Collection[str]) -> dict[str, tuple[float, int]]:
        """Mean known dollars per ok cell and how many cells it is over, per configuration
        (config hash: whatever label its cells were stored under)."""
        query = (
            select(CellRecord.config_hash, func.avg(CellRecord.cost), func.count())
            .where(
                CellRecord.status == Status.OK.value,
                CellRecord.cost.is_not(None),  # type: ignore[union-attr]
                CellRecord.config_hash.in_(list(config_hashes)),  # type: ignore[attr-defined]
            )
            .group_by(CellRecord.config_hash)
        )
        with self.engine.connect() as connection:
            return {h: (float(avg), int(n)) for h, avg, n in connection.execute(query)}

    def latest_plans(self) -> list[PlanRecord]:
        """For each (model, benchmark), the plan of the most recent run that included it; a
        configuration planned under several ids (a renamed model) keeps only its latest id."""
        latest = (
            select(PlanRecord.model, PlanRecord.benchmark, func.max(PlanRecord.run_id).label("rid"))
            .group_by(PlanRecord.model, PlanRecord.benchmark)
            .subquery()
        )
        query = select(PlanRecord).join(
            latest,
            (PlanRecord.model == latest.c.model)
            & (PlanRecord.benchmark == latest.c.benchmark)
            & (PlanRecord.run_id == latest.c.rid),
        )
        with Session(self.engine) as session:
            plans = list(session.exec(query).scalars())
        latest_by_hash: dict[str, PlanRecord] = {}
        for plan in sorted(plans, key=lambda p: p.run_id):
            latest_by_hash[plan.config_hash] = plan
        return list(latest_by_hash.values())

    def matrix(self, plans: Sequence[PlanEntry] | None = None) -> list[MatrixRow]:
        """The model x benchmark summary.

        With `plans` (from the current config), each (model, benchmark) counts only the cells of
        its configuration (under any label), against its planned total. Without, it uses each
        pair's most recent plan; pairs that were only imported (no plan) count all their cells.
        """
        if plans is None:
            plans = [
                PlanEntry(p.model, p.benchmark, p.config_hash, p.benchmark_version, p.planned)
                for p in self.latest_plans()
            ]
        planned = {(p.model, p.benchmark): p for p in plans}
        # A model is its configuration (provider route, model name, generation parameters), the
        # config hash: its id is a label. Cells count for the configuration whatever label they
        # were stored under, so a renamed model shows its finished cells under its new id.
        by_hash = {p.config_hash: p for p in plans}
        c = CellRecord.__table__.c  # type: ignore[attr-defined]
        ok = c.status == Status.OK.value
        query = select(
            c.model,
            c.benchmark,
            c.config_hash,
            c.status,
            func.count(),
            func.sum(case((ok & c.score.is_not(None), 1), else_=0)),
            func.sum(case((ok, c.score), else_=None)),
            func.sum(case((ok & (c.parsed == False), 1), else_=0)),  # noqa: E712
            func.sum(c.cost),
            func.sum(case((ok & c.cost.is_(None), 1), else_=0)),
            func.sum(c.prompt_tokens),
            func.sum(c.completion_tokens),
            func.sum(c.latency_s),
            func.count(c.latency_s),
            func.sum(c.rate_limits),
            func.sum(case((ok & (c.finish_reason == "length"), 1), else_=0)),
            func.sum(c.server_time_s),
            func.count(c.server_time_s),
        ).group_by(c.model, c.benchmark, c.config_hash, c.status)
        rows: dict[tuple[str, str], MatrixRow] = {}
        latency: dict[tuple[str, str], tuple[float, int]] = {}
        server: dict[tuple[str, str], tuple[float, int]] = {}
        with self.engine.connect() as connection:
            for (model, bench, chash, status, n, graded, score_sum, unparsed, dollars,
                 unknown, ptok, ctok, lat_sum, lat_n, rl, cut, srv_sum, srv_n
                 ) in connection.execute(query):
                plan = by_hash.get(chash)
                if plans and plan is None:
                    continue  # an older configuration, or a pair not planned
                if plan is not None:  # the configuration's label now (a renamed model's new id)
                    model = plan.model
                row = rows.get((model, bench))
                if row is None:
                    row = rows[(model, bench)] = MatrixRow(
                        model, bench, plan.planned if plan else None, 0, 0, None, 0, 0, 0,
                        0.0, 0, 0, 0, None,
                    )
                row.by_status[status] = row.by_status.get(status, 0) + n
                if status == Status.OK.value:
                    row.done += n
                    row.graded += int(graded or 0)
                    if graded:
                        total = (row.accuracy or 0.0) * (row.graded - graded) + float(score_sum)
                        row.accuracy = total / row.graded
                    row.unparsed += int(unparsed or 0)
                    row.truncated += int(cut or 0)
                    row.unknown_cost += int(unknown or 0)
                elif status == Status.CONTEXT_EXCEEDED.value:
                    row.done += n
                    row.context_exceeded += n
                else:
                    row.errors += n
                row.rate_limited += int(rl or 0)
                row.dollars += float(dollars or 0.0)
                row.prompt_tokens += int(ptok or 0)
                row.completion_tokens += int(ctok or 0)
                s, k = latency.get((model, bench), (0.0, 0))
                latency[(model, bench)] = (s + float(lat_sum or 0.0), k + int(lat_n or 0))
                s, k = server.get((model, bench), (0.0, 0))
                server[(model, bench)] = (s + float(srv_sum or 0.0), k + int(srv_n or 0))
        for key, plan in planned.items():
            if key not in rows:
                rows[key] = MatrixRow(key[0], key[1], plan.planned, 0, 0, None, 0, 0, 0, 0.0, 0,
                                      0, 0, None)
        for key, (s, k) in latency.items():
            if k:
                rows[key].mean_latency_s = s / k
        for key, (s, k) in server.items():
            if k:
                rows[key].mean_server_time_s = s / k
        return sorted(rows.values(), key=lambda r: (r.benchmark, r.model))

    def cells(
        self,
        *,
        model: str | None = None,
        benchmark: str | None = None,
        status: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[CellRecord]:
        """Cell rows for browsing (newest first), filtered."""
        query = select(CellRecord)
        if model is not None:
            query = query.where(CellRecord.model == model)
        if benchmark is not None:
            query = query.where(CellRecord.benchmark == benchmark)
        if status is not None:
            query = query.where(CellRecord.status == status)
        query = query.order_by(CellRecord.id).offset(offset).limit(limit)  # type: ignore[arg-type]
        with Session(self.engine) as session:
            return list(session.exec(query).scalars())

    def count_cells(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM cells")).scalar_one())


_CELL_KEY = ("model", "benchmark", "item_id", "sample", "fingerprint")


def _cell_row(result: CellResult) -> dict[str, Any]:
    """Flatten a CellResult into a `cells` row (every column, so batches are uniform)."""
    key, completion, grade = result.key, result.completion, result.grade
    usage = completion.usage if completion else None
    judge_usage = grade.judge_usage if grade else None
    return {
        "model": key.model,
        "benchmark": key.benchmark,
        "item_id": key.item_id,
        "sample": key.sample,
        "fingerprint": key.fingerprint,
        "config_hash": result.config_hash,
        "benchmark_version": result.benchmark_version,
        "item_hash": result.item_hash,
        "run_id": result.run_id,
        "status": result.status.value,
        "attempts": result.attempts,
        "rate_limits": result.rate_limits,
        "error": result.error,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "response": completion.text if completion else None,
        "finish_reason": completion.finish_reason if completion else None,
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "reasoning_tokens": usage.reasoning_tokens if usage else 0,
        "cached_tokens": usage.cached_tokens if usage else 0,
        "cost": completion.cost if completion else None,
        "cost_source": completion.cost_source.value if completion else "unknown",
        "price_version": completion.price_version if completion else None,
        "latency_s": completion.latency_s if completion else None,
        "server_time_s": completion.server_time_s if completion else None,
        "score": grade.score if grade else None,
        "parsed": grade.parsed if grade else None,
        "extracted": grade.extracted if grade else None,
        "grader": grade.grader if grade else None,
        "grader_version": grade.grader_version if grade else None,
        "grade_explanation": grade.explanation if grade else None,
        "judge_model": grade.judge_model if grade else None,
        "judge_output": grade.judge_output if grade else None,
        "judge_cost": grade.judge_cost if grade else None,
        "judge_prompt_tokens": judge_usage.prompt_tokens if judge_usage else 0,
        "judge_completion_tokens": judge_usage.completion_tokens if judge_usage else 0,
    }

