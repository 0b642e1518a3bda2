"""`Store`: typed access to runs.db. All SQL of the project lives in this package.

A path means SQLite (WAL, so a TUI can read while a collector writes); a SQLAlchemy URL (e.g.
`postgresql+psycopg://...`) lets several collectors share one store. The collector's single writer
calls `record_results` with small batches; each batch is one transaction, so a crash loses at most
the batch in flight and never leaves half a cell.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlmodel import Session, SQLModel, col

from avp_harness.errors import SchemaVersionError, StoreError, StoreWriteError
from avp_harness.redact import redact, redact_url
from avp_harness.store.matrix import (
    LATEST_PLANS_SQL,
    MATRIX_SQL,
    MatrixRow,
    PlanEntry,
    corrupt_store,
    fold_matrix,
    latest_plan_entries,
)
from avp_harness.store.tables import (
    SCHEMA_VERSION,
    CellRecord,
    ClaimRecord,
    ItemRecord,
    MetaRecord,
    ModelRecord,
    PlanRecord,
    RunRecord,
)
from avp_harness.types import (
    DONE_STATUSES,
    CellResult,
    Completion,
    CostSource,
    Item,
    ModelEntry,
    Status,
    Usage,
    canonical_json,
)


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


def _sqlite_read_only(url: str) -> bool:
    """An existing SQLite store that this process cannot write (file or folder read-only)."""
    if not url.startswith("sqlite:///"):
        return False
    path = Path(url.removeprefix("sqlite:///"))
    return path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def make_engine(url_or_path: str, *, read_only: bool = False) -> Engine:
    """Engine factory: WAL and a generous busy timeout for SQLite; the URL as-is otherwise.

    `read_only` (SQLite): open the file with `mode=ro`, or as immutable when its folder holds no
    WAL index and cannot hold one (a read-only mount: nobody can be writing it)."""
    url = database_url(url_or_path)
    if url.startswith("sqlite") and read_only:
        path = Path(url.removeprefix("sqlite:///"))
        shm = Path(f"{path}-shm")
        mode = "mode=ro" if shm.exists() or os.access(path.parent, os.W_OK) else "immutable=1"
        engine = create_engine(f"sqlite:///file:{path}?{mode}&uri=true",
                               connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_busy_timeout)
        return engine
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except ImportError as exc:  # the driver of that URL is not installed
        raise StoreError(
            f"cannot open store {redact_url(url)}: its database driver is missing ({exc}); for "
            f"PostgreSQL install the postgres extra: pip install 'avp-harness[postgres]'"
        ) from None
    except ArgumentError as exc:
        raise StoreError(f"cannot open store {redact_url(url)}: {exc}") from None


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


class Store:
    """Typed methods over runs.db. Create with `Store.open(path_or_url)`."""

    def __init__(self, engine: Engine, url: str, *, read_only: bool = False) -> None:
        self.engine = engine
        self.url = url
        self.read_only = read_only

    @property
    def display_url(self) -> str:
        """Where the store is, as it may be shown (a SQLite path, or the URL without password)."""
        return redact_url(self.url.removeprefix("sqlite:///"))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed write (disk full, read-only, connection lost) into one StoreWriteError
        line that says what failed and where."""
        try:
            yield
        except (DatabaseError, OperationalError) as exc:
            raise StoreWriteError(
                f"cannot write to store {self.display_url}: {_db_reason(exc)}"
            ) from exc

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, url_or_path: str, *, create: bool = True, check: bool = False) -> Store:
        """Open (and create, unless `create=False`) a store, checking its schema version.

        `create=True` means the caller will write: a read-only SQLite store is refused then
        (StoreWriteError, before any call is paid for) and opened read-only otherwise.
        `check` runs SQLite's `PRAGMA quick_check` and refuses a corrupt store in one line.
        """
        url = database_url(url_or_path)
        shown = redact_url(url_or_path)
        read_only = _sqlite_read_only(url)
        if read_only and create:
            raise StoreWriteError(
                f"store {shown} is read-only: this command writes to it (read commands such as "
                f"`avp status` open it read-only)"
            )
        if url.startswith("sqlite:///") and not create:
            path = Path(url.removeprefix("sqlite:///"))
            if not path.exists():
                raise StoreError(f"no store at {path} (run `avp run` or `avp demo` first)")
        if url.startswith("sqlite:///"):
            parent = Path(url.removeprefix("sqlite:///")).parent
            if not parent.is_dir():
                raise StoreError(
                    f"cannot create store {shown}: folder {parent} does not exist"
                )
        with _setup_lock(url):
            engine = make_engine(url_or_path, read_only=read_only)
            store = cls(engine, url, read_only=read_only)
            try:
                if check:
                    store._quick_check()
                store._check_schema()
                if not read_only:
                    store._create_missing_tables()
            except StoreError:
                engine.dispose()
                raise
            except (DatabaseError, OperationalError) as exc:
                engine.dispose()
                raise StoreError(f"cannot open store {shown}: {_db_reason(exc)}") from exc
        return store

    def _quick_check(self) -> None:
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            found = [str(row[0]) for row in connection.execute(text("PRAGMA quick_check"))]
        if found != ["ok"]:
            raise corrupt_store(found, self.display_url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _create_missing_tables(self) -> None:
        """Create what is missing, migrate an older schema and stamp the version, in one
        transaction under a lock (the folder's flock for SQLite, an advisory lock on PostgreSQL),
        so collectors starting together on a new store do not race. A complete, current store is
        not written to, so readers (`avp status`, the TUI) never write."""
        existing = set(inspect(self.engine).get_table_names())
        if (set(SQLModel.metadata.tables) <= existing
                and self.schema_version() == SCHEMA_VERSION
                and not _missing_columns(self.engine)):
            return
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(1515015)"))
            SQLModel.metadata.create_all(connection)  # checks what exists, inside the lock
            _migrate(connection)
            _add_missing_columns(connection)
            stamp = self._insert(MetaRecord)
            stamp = stamp.on_conflict_do_update(
                index_elements=["key"], set_={"value": stamp.excluded.value}
            )
            connection.execute(stamp, [{"key": "schema_version", "value": str(SCHEMA_VERSION)}])

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

    def schema_version(self) -> int:
        if not inspect(self.engine).has_table("meta"):
            return 0
        with Session(self.engine) as session:
            meta = session.get(MetaRecord, "schema_version")
        return int(meta.value) if meta else 0

    def set_meta(self, key: str, value: str) -> None:
        with Session(self.engine) as session:
            session.merge(MetaRecord(key=key, value=value))
            session.commit()

    # ------------------------------------------------------------------ models, runs, items
    def upsert_models(self, models: Iterable[ModelEntry]) -> None:
        """Insert or update models in one statement (two collectors starting at once both
        succeed)."""
        now = time.time()
        rows = [
            {"id": m.id, "provider": m.provider, "model_name": m.model_name,
             "params_json": canonical_json(dict(m.params)),
             "price_json": canonical_json(dict(m.price)) if m.price else None,
             "updated_at": now}
            for m in models
        ]
        if not rows:
            return
        statement = self._insert(ModelRecord)
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={name: statement.excluded[name] for name in rows[0] if name != "id"},
        )
        with self._writing(), self.engine.begin() as connection:
            connection.execute(statement, rows)

    def models(self) -> list[ModelEntry]:
        with Session(self.engine) as session:
            records = session.scalars(select(ModelRecord).order_by(ModelRecord.id))
            return [
                ModelEntry(r.id, r.provider, r.model_name, json.loads(r.params_json or "{}"),
                           json.loads(r.price_json) if r.price_json else None)
                for r in records
            ]

    def start_run(
        self,
        plans: Sequence[PlanEntry],
        *,
        kind: str = "collect",
        budget: float | None = None,
        config: dict[str, Any] | None = None,
        note: str = "",
        owner: str = "",
    ) -> int:
        with self._writing(), Session(self.engine) as session:
            run = RunRecord(
                kind=kind,
                owner=owner,
                heartbeat_at=time.time(),
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
        with self._writing(), Session(self.engine) as session:
            run = session.get(RunRecord, run_id)
            if run is None:
                raise StoreError(f"no run {run_id}")
            run.status, run.spent, run.finished_at = status, spent, time.time()
            session.add(run)
            session.commit()

    def runs(self, limit: int = 20) -> list[RunRecord]:
        with Session(self.engine) as session:
            query = select(RunRecord).order_by(col(RunRecord.id).desc()).limit(limit)
            return list(session.scalars(query))

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
        with self._writing(), self.engine.begin() as connection:
            connection.execute(statement, rows)
        return len(rows)

    def item(self, benchmark: str, item_id: str) -> ItemRecord | None:
        with Session(self.engine) as session:
            query = (
                select(ItemRecord)
                .where(col(ItemRecord.benchmark) == benchmark, col(ItemRecord.item_id) == item_id)
                .order_by(col(ItemRecord.created_at).desc())
            )
            return session.scalars(query).first()

    # ------------------------------------------------------------------ cells
    def _insert(self, table: type[SQLModel]) -> Any:
        """A dialect-specific INSERT that supports ON CONFLICT (SQLite, PostgreSQL)."""
        # The ignores: SQLModel's stubs do not declare `__table__`, which every table class has.
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table.__table__)  # type: ignore[attr-defined]
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            return postgresql_insert(table.__table__)  # type: ignore[attr-defined]
        raise StoreError(f"unsupported database {name!r}: use SQLite or PostgreSQL")

    def ok_cells(self, config_hashes: Collection[str]) -> set[tuple[str, int]]:
        """(fingerprint, sample) of every finished cell (status ok or context_exceeded, see
        `types.DONE_STATUSES`) in these configurations."""
        done: set[tuple[str, int]] = set()
        hashes = list(config_hashes)
        with self.engine.connect() as connection:
            for start in range(0, len(hashes), 500):
                query = select(col(CellRecord.fingerprint), col(CellRecord.sample)).where(
                    col(CellRecord.status).in_(DONE_STATUSES),
                    col(CellRecord.config_hash).in_(hashes[start : start + 500]),
                )
                done.update((fp, sample) for fp, sample in connection.execute(query))
        return done

    def answered_completions(
        self, config_hashes: Collection[str]
    ) -> dict[tuple[str, int], Completion]:
        """The stored, not yet graded answers of these configurations, by (fingerprint, sample):
        the collector grades them without calling the model again."""
        found: dict[tuple[str, int], Completion] = {}
        hashes = list(config_hashes)
        c = CellRecord.__table__.c  # type: ignore[attr-defined]
        with self.engine.connect() as connection:
            for start in range(0, len(hashes), 500):
                query = select(
                    c.fingerprint, c.sample, c.response, c.prompt_tokens, c.completion_tokens,
                    c.reasoning_tokens, c.cached_tokens, c.cost, c.cost_source, c.latency_s,
                    c.finish_reason, c.price_version, c.user_model, c.user_cost,
                    c.user_prompt_tokens, c.user_completion_tokens,
                ).where(c.status == Status.ANSWERED.value,
                        c.config_hash.in_(hashes[start : start + 500]))
                for (fp, sample, response, ptok, ctok, rtok, cached, cost, source, latency,
                     finish, price_version, user_model, user_cost, user_ptok,
                     user_ctok) in connection.execute(query):
                    user_usage = (Usage(user_ptok or 0, user_ctok or 0)
                                  if user_model is not None else None)
                    found[(fp, sample)] = Completion(
                        response or "", Usage(ptok, ctok, rtok, cached), cost,
                        CostSource(source), latency or 0.0, finish, price_version,
                        user_model=user_model, user_usage=user_usage, user_cost=user_cost,
                    )
        return found

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
        finished = [(r.key.fingerprint, r.key.sample) for r in results
                    if r.status is not Status.ANSWERED or r.error]
        cl = ClaimRecord.__table__.c  # type: ignore[attr-defined]
        with self._writing(), self.engine.begin() as connection:
            connection.execute(statement, rows)
            for start in range(0, len(finished), 400):  # a finished cell is no longer offered
                connection.execute(delete(ClaimRecord).where(
                    tuple_(cl.fingerprint, cl.sample).in_(finished[start : start + 400])))

    # ------------------------------------------------------------------ claims (N collectors)
    @contextlib.contextmanager
    def _claim_transaction(self) -> Iterator[Connection]:
        """A short write transaction: BEGIN IMMEDIATE on SQLite (the write lock first, so no
        other collector's commit can come between what it reads and what it writes); a plain
        transaction on PostgreSQL, whose rows are locked with FOR UPDATE SKIP LOCKED."""
        with self._writing(), self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def enqueue_claims(self, cells: Sequence[tuple[str, int, str]]) -> None:
        """Offer (fingerprint, sample, config_hash) cells to every collector (unclaimed)."""
        statement = self._insert(ClaimRecord).on_conflict_do_nothing(
            index_elements=["fingerprint", "sample"]
        )
        rows = [{"fingerprint": fp, "sample": sample, "config_hash": chash, "owner": None,
                 "expires_at": 0.0} for fp, sample, chash in cells]
        for start in range(0, len(rows), 2000):
            with self._writing(), self.engine.begin() as connection:
                connection.execute(statement, rows[start : start + 2000])

    def claim_owners(self) -> set[str]:
        """Collectors holding claims. Part of the claim step, so a lost database here stops the
        run like a failed claim write does (StoreWriteError), not with a driver traceback."""
        cl = ClaimRecord.__table__.c  # type: ignore[attr-defined]
        query = select(cl.owner).distinct().where(cl.owner.is_not(None))
        with self._writing(), self.engine.connect() as connection:
            return {owner for (owner,) in connection.execute(query)}

    def claim_cells(
        self,
        owner: str,
        keys: Sequence[tuple[str, int]],
        want: int,
        lease_s: float,
        dead_owners: Collection[str] = (),
    ) -> tuple[list[tuple[str, int]], set[tuple[str, int]], set[tuple[str, int]]]:
        """Claim up to `want` of `keys` (in their order) for `owner` with a lease.

        Returns (claimed, gone, held): gone cells are finished or no longer offered (do not run
        them); held ones are leased by another live collector (look again later). A claim is
        free when unowned, expired, owned by `owner` or by one of `dead_owners`.
        """
        now = time.time()
        cl = ClaimRecord.__table__.c  # type: ignore[attr-defined]
        c = CellRecord.__table__.c  # type: ignore[attr-defined]
        claimed: list[tuple[str, int]] = []
        gone: set[tuple[str, int]] = set()
        held: set[tuple[str, int]] = set()
        free = (cl.owner.is_(None) | (cl.expires_at < now) | (cl.owner == owner)
                | cl.owner.in_(list(dead_owners)))
        with self._claim_transaction() as connection:
            for start in range(0, len(keys), 400):
                chunk = list(keys[start : start + 400])
                offered = {(fp, n) for fp, n in connection.execute(
                    select(cl.fingerprint, cl.sample).where(
                        tuple_(cl.fingerprint, cl.sample).in_(chunk)))}
                done = {(fp, n) for fp, n in connection.execute(
                    select(c.fingerprint, c.sample).where(
                        tuple_(c.fingerprint, c.sample).in_(chunk),
                        c.status.in_(DONE_STATUSES)))}
                gone |= (set(chunk) - offered) | done
                if done:
                    connection.execute(delete(ClaimRecord).where(
                        tuple_(cl.fingerprint, cl.sample).in_(list(done))))
                candidates = [key for key in chunk if key in offered and key not in done]
                if not candidates:
                    continue
                room = want - len(claimed)
                query = (
                    select(cl.fingerprint, cl.sample)
                    .where(tuple_(cl.fingerprint, cl.sample).in_(candidates), free)
                    .limit(room)
                    .with_for_update(skip_locked=True)
                )
                got = {(fp, n) for fp, n in connection.execute(query)}
                if got:
                    connection.execute(
                        update(ClaimRecord)
                        .where(tuple_(cl.fingerprint, cl.sample).in_(list(got)))
                        .values(owner=owner, expires_at=now + lease_s)
                    )
                claimed += [key for key in candidates if key in got]
                if len(got) >= room:
                    break  # enough: the rest of this chunk was not looked at
                held |= set(candidates) - got  # leased by others (or locked right now)
        return claimed, gone, held

    def renew_claims(self, owner: str, lease_s: float, run_id: int | None = None) -> None:
        """The heartbeat: extend `owner`'s leases and mark its run alive."""
        now = time.time()
        with self._writing(), self.engine.begin() as connection:
            connection.execute(update(ClaimRecord).where(ClaimRecord.owner == owner)  # type: ignore[arg-type]
                               .values(expires_at=now + lease_s))
            if run_id is not None:
                connection.execute(update(RunRecord).where(RunRecord.id == run_id)  # type: ignore[arg-type]
                                   .values(heartbeat_at=now))

    def release_claims(self, owner: str) -> None:
        """Give back `owner`'s unfinished cells at once (a graceful stop)."""
        with self._writing(), self.engine.begin() as connection:
            connection.execute(update(ClaimRecord).where(ClaimRecord.owner == owner)  # type: ignore[arg-type]
                               .values(owner=None, expires_at=0.0))

    def claims_by_owner(self) -> dict[str, int]:
        """How many cells each collector holds (its lease alive or not)."""
        cl = ClaimRecord.__table__.c  # type: ignore[attr-defined]
        query = select(cl.owner, func.count()).where(cl.owner.is_not(None)).group_by(cl.owner)
        with self.engine.connect() as connection:
            return {owner: int(n) for owner, n in connection.execute(query)}

    def mark_stale_runs(self, lease_s: float, is_dead: Callable[[str], bool]) -> list[int]:
        """Mark `running` collector runs whose owner is gone (no heartbeat for `lease_s`, or a
        dead process on this host) as `interrupted`; returns their ids."""
        now = time.time()
        stale: list[int] = []
        with self._writing(), Session(self.engine) as session:
            query = select(RunRecord).where(RunRecord.__table__.c.status == "running")  # type: ignore[attr-defined]
            for run in session.exec(query).scalars():  # type: ignore[call-overload]
                last = run.heartbeat_at if run.heartbeat_at is not None else run.started_at
                if last < now - lease_s or (run.owner and is_dead(run.owner)):
                    run.status, run.finished_at = "interrupted", last
                    session.add(run)
                    assert run.id is not None
                    stale.append(run.id)
            session.commit()
        return stale

    def mean_costs(self, config_hashes: Collection[str]) -> dict[str, tuple[float, int]]:
        """Mean known dollars per ok cell and how many cells it is over, per configuration
        (config hash: whatever label its cells were stored under)."""
        query = (
            select(col(CellRecord.config_hash), func.avg(CellRecord.cost), func.count())
            .where(
                col(CellRecord.status) == Status.OK.value,
                col(CellRecord.cost).is_not(None),
                col(CellRecord.config_hash).in_(list(config_hashes)),
            )
            .group_by(CellRecord.config_hash)
        )
        with self.engine.connect() as connection:
            return {h: (float(avg), int(n)) for h, avg, n in connection.execute(query)}

    def latest_plans(self) -> list[PlanRecord]:
        """For each (model, benchmark), the plan of the most recent run that included it; a
        configuration planned under several ids (a renamed model) keeps only its latest id."""
        latest = (
            select(col(PlanRecord.model), col(PlanRecord.benchmark),
                   func.max(PlanRecord.run_id).label("rid"))
            .group_by(PlanRecord.model, PlanRecord.benchmark)
            .subquery()
        )
        query = select(PlanRecord).join(
            latest,
            (col(PlanRecord.model) == latest.c.model)
            & (col(PlanRecord.benchmark) == latest.c.benchmark)
            & (col(PlanRecord.run_id) == latest.c.rid),
        )
        with Session(self.engine) as session:
            plans = list(session.scalars(query))
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
        with self.engine.connect() as connection:
            if plans is None:
                plans = latest_plan_entries(connection.execute(text(LATEST_PLANS_SQL)))
            return fold_matrix(connection.execute(text(MATRIX_SQL)), plans)

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
            query = query.where(col(CellRecord.model) == model)
        if benchmark is not None:
            query = query.where(col(CellRecord.benchmark) == benchmark)
        if status is not None:
            query = query.where(col(CellRecord.status) == status)
        query = query.order_by(col(CellRecord.id)).offset(offset).limit(limit)
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def count_cells(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM cells")).scalar_one())


_CELL_KEY = ("model", "benchmark", "item_id", "sample", "fingerprint")


def _migrate(connection: Any) -> None:
    """Bring a store of an older schema to SCHEMA_VERSION (new tables are made by create_all)."""
    columns = {column["name"] for column in inspect(connection).get_columns("runs")}
    if "owner" not in columns:
        connection.execute(text("ALTER TABLE runs ADD COLUMN owner VARCHAR NOT NULL DEFAULT ''"))
    if "heartbeat_at" not in columns:
        connection.execute(text("ALTER TABLE runs ADD COLUMN heartbeat_at FLOAT"))
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_cells_fingerprint ON cells (fingerprint, sample)")
    )


def _missing_columns(bind: Any) -> dict[str, list[Any]]:
    """Nullable columns added since the store was created (e.g. cells.server_time_s), by table."""
    inspector = inspect(bind)
    missing: dict[str, list[Any]] = {}
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        lacking = [c for c in table.columns if c.name not in present and c.nullable]
        if lacking:
            missing[table.name] = lacking
    return missing


def _add_missing_columns(connection: Any) -> None:
    """Add those columns in place, so an older store keeps working (inside the set-up lock)."""
    for table, columns in _missing_columns(connection).items():
        for column in columns:
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}"))


def describe_failure(exc: BaseException) -> str | None:
    """One line for a database failure met outside the store's own checks (a corrupt page read
    by a query, a lost connection), or None when `exc` is not one."""
    if isinstance(exc, DatabaseError | OperationalError):
        return f"the store failed: {_db_reason(exc)}"
    return None


def _db_reason(exc: DatabaseError | OperationalError) -> str:
    """The driver's own words, first line only, secrets removed."""
    reason = str(exc.orig) if exc.orig is not None else str(exc)
    return redact(reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__)


def _text(value: str | None) -> str | None:
    """Text as it may be stored: no API key or URL password ever enters the store."""
    return redact(value) if value else value


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
        "error": _text(result.error),
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "response": _text(completion.text) if completion else None,
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
        "extracted": _text(grade.extracted) if grade else None,
        "grader": grade.grader if grade else None,
        "grader_version": grade.grader_version if grade else None,
        "grade_explanation": _text(grade.explanation) if grade else None,
        "judge_model": grade.judge_model if grade else None,
        "judge_output": _text(grade.judge_output) if grade else None,
        "judge_cost": grade.judge_cost if grade else None,
        "judge_prompt_tokens": judge_usage.prompt_tokens if judge_usage else 0,
        "judge_completion_tokens": judge_usage.completion_tokens if judge_usage else 0,
        **_user_columns(completion),
    }


def _user_columns(completion: Completion | None) -> dict[str, Any]:
    """τ²-bench's simulated user: its model, dollars and tokens, apart from the candidate's."""
    usage = completion.user_usage if completion else None
    return {
        "user_model": completion.user_model if completion else None,
        "user_cost": completion.user_cost if completion else None,
        "user_prompt_tokens": usage.prompt_tokens if usage else None,
        "user_completion_tokens": usage.completion_tokens if usage else None,
    }

