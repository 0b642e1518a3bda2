"""Read-only queries behind the TUI's screens (and the `avp cells` / `avp show-cell` commands).

    live = LiveAggregator(store)
    snapshot = live.refresh()      # grid, per-provider rates and totals; cheap when called again
    rows = list_cells(store, CellFilter(model="sim/atlas-xl", status="failed"))
    detail = cell_detail(store, rows[0].id)

`LiveAggregator` keeps the live screen's refresh cheap on stores with millions of cells. It reads
the whole table once (one GROUP BY over `ok` cells and the list of failed cells), then on each
refresh reads only what can have changed, using two facts of the writer (`Store.record_results`):

- an `ok` cell is never overwritten, so `ok` aggregates only grow;
- a changed cell is either a new row (its id is larger than any seen) or a failed row updated in
  place by its retry (its id is one of the failed ids the aggregator already holds).

So a refresh is `id > last seen` plus a primary-key lookup of the known failed rows, both inside
one read transaction (a consistent WAL snapshot that never blocks the writer).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlmodel import Session, col

from avp_harness.errors import StoreError
from avp_harness.store.store import Store
from avp_harness.store.tables import CellRecord, ItemRecord, ModelRecord, PlanRecord, RunRecord
from avp_harness.types import Status

_C = CellRecord.__table__.c  # type: ignore[attr-defined]
OK = Status.OK.value
CONTEXT = Status.CONTEXT_EXCEEDED.value  # final like ok: done, not graded, never re-sent
WINDOW_S = 60.0  # throughput and requests-per-minute window
# Matches the partial index ix_cells_failed's WHERE clause exactly, so it scans only that index.
_FAILED_SQL = "SELECT id, attempts FROM cells WHERE status != 'ok'"


# ---------------------------------------------------------------------------------- live grid
@dataclass
class _OkAgg:
    """Running sums over the ok cells of one (model, benchmark, config hash)."""

    n: int = 0
    graded: int = 0
    score_sum: float = 0.0
    dollars: float = 0.0
    unknown_cost: int = 0
    rate_limits: int = 0  # 429 answers met on the way to these ok cells
    truncated: int = 0  # ok cells whose answer hit max_tokens (finish_reason "length")

    def add(self, n: int, graded: int, score_sum: float, dollars: float, unknown: int,
            rate_limits: int, truncated: int = 0) -> None:
        self.n += n
        self.truncated += truncated
        self.graded += graded
        self.score_sum += score_sum
        self.dollars += dollars
        self.unknown_cost += unknown
        self.rate_limits += rate_limits


@dataclass(frozen=True)
class _Failed:
    """A cell whose last attempt failed (it can still turn ok when a run retries it)."""

    model: str
    benchmark: str
    config_hash: str
    status: str
    attempts: int
    cost: float
    rate_limits: int


@dataclass
class LiveCell:
    """One (model, benchmark) cell of the live grid."""

    model: str
    benchmark: str
    planned: int | None
    done: int = 0
    graded: int = 0
    accuracy: float | None = None
    dollars: float = 0.0
    errors: int = 0
    rate_limited: int = 0
    attempts_failed: int = 0
    truncated: int = 0  # ok cells cut at max_tokens (graded, counted in the accuracy)
    context_exceeded: int = 0  # done but not graded: prompt longer than the context window

    @property
    def remaining(self) -> int:
        return max(0, (self.planned or 0) - self.done)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, remaining=self.remaining)


@dataclass
class ProviderRate:
    """A provider as seen from the store: cells finished in the last minute and rate limits."""

    name: str
    requests_per_min: float = 0.0
    rate_limited: int = 0


@dataclass
class LiveSnapshot:
    """Everything the live screen draws, computed from the store."""

    cells: list[LiveCell]
    providers: list[ProviderRate]
    spent: float
    planned: int
    done: int
    errors: int
    projected_to_finish: float | None  # None: some pair has no priced ok cell to project from
    throughput: float  # cells finished per second over the last minute
    eta_s: float | None
    run: dict[str, Any] | None  # the latest run: id, status, started_at, budget
    total_cells: int
    taken_at: float = field(default_factory=time.time)
    # the latest run's own pairs (None: no run): cells it planned and how many of them are done
    run_planned: int | None = None
    run_done: int = 0

    @property
    def models(self) -> list[str]:
        return sorted({c.model for c in self.cells})

    @property
    def benchmarks(self) -> list[str]:
        return sorted({c.benchmark for c in self.cells})

    def cell(self, model: str, benchmark: str) -> LiveCell | None:
        for c in self.cells:
            if c.model == model and c.benchmark == benchmark:
                return c
        return None

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("cells", "providers")}
        data["cells"] = [c.as_dict() for c in self.cells]
        data["providers"] = [dict(p.__dict__) for p in self.providers]
        return data


class LiveAggregator:
    """Incremental model x benchmark aggregates for the live screen (see the module docstring)."""

    def __init__(self, store: Store, *, recent_rows: int = 20_000) -> None:
        self.store = store
        self.recent_rows = recent_rows
        self.max_id = 0
        self.ok: dict[tuple[str, str, str], _OkAgg] = {}
        self.failed: dict[int, _Failed] = {}
        # errors, 429s, tries, $, context_exceeded (final: counted as done, not as errors)
        self.failed_sums: dict[tuple[str, str, str], list[Any]] = {}
        self.recent: deque[tuple[float, str, int]] = deque()  # (finished_at, model, attempts)
        self.total_cells = 0
        self._loaded = False

    # -- reading ------------------------------------------------------------------------------
    def refresh(self, now: float | None = None) -> LiveSnapshot:
        """Bring the aggregates up to date and return what the live screen shows."""
        with self.store.engine.connect() as connection, connection.begin():
            top = connection.execute(select(func.max(_C.id))).scalar() or 0
            if top < self.max_id:  # the store was replaced under us: start again
                self.__init__(self.store, recent_rows=self.recent_rows)  # type: ignore[misc]
            if not self._loaded:
                self._load_all(connection, top)
            else:
                self._load_since(connection, top)
            plans = _latest_plans(connection)
            providers: dict[str, str] = dict(connection.execute(
                select(col(ModelRecord.id), col(ModelRecord.provider))).all())
            run = connection.execute(
                select(col(RunRecord.id), col(RunRecord.status), col(RunRecord.started_at),
                       col(RunRecord.budget))
                .order_by(col(RunRecord.id).desc()).limit(1)
            ).first()
            run_pairs = set() if run is None else {
                (m, b) for m, b in connection.execute(
                    select(col(PlanRecord.model), col(PlanRecord.benchmark))
                    .where(col(PlanRecord.run_id) == run[0]))}
        return self._snapshot(plans, providers, run, time.time() if now is None else now,
                              run_pairs)

    def _load_all(self, connection: Connection, top: int) -> None:
        ok = _C.status == OK
        query = (
            select(
                _C.model, _C.benchmark, _C.config_hash, func.count(),
                func.count(_C.score), func.coalesce(func.sum(_C.score), 0.0),
                func.coalesce(func.sum(_C.cost), 0.0),
                func.sum(case((_C.cost.is_(None), 1), else_=0)),
                func.coalesce(func.sum(_C.rate_limits), 0),
                func.sum(case((_C.finish_reason == "length", 1), else_=0)),
            )
            .where(ok, _C.id <= top)
            .group_by(_C.model, _C.benchmark, _C.config_hash)
        )
        for model, bench, chash, n, graded, scores, dollars, unknown, rl, cut in (
            connection.execute(query)
        ):
            self.ok.setdefault((model, bench, chash), _OkAgg()).add(
                n, graded, scores, dollars, unknown or 0, rl, cut or 0
            )
        failed = select(_C.id, _C.model, _C.benchmark, _C.config_hash, _C.status, _C.attempts,
                        _C.cost, _C.rate_limits).where(_C.status != OK, _C.id <= top)
        for cid, model, bench, chash, status, attempts, cost, rl in connection.execute(failed):
            self._add(cid, model, bench, chash, status, None, cost, attempts, rl)
        recent = select(_C.finished_at, _C.model, _C.attempts).where(
            _C.id > top - self.recent_rows, _C.id <= top
        )
        self.recent.extend(sorted((f, m, a) for f, m, a in connection.execute(recent)))
        self.total_cells = int(connection.execute(select(func.count()).select_from(
            CellRecord.__table__)).scalar_one())  # type: ignore[attr-defined]
        self.max_id = top
        self._loaded = True

    def _load_since(self, connection: Connection, top: int) -> None:
        columns = (_C.id, _C.model, _C.benchmark, _C.config_hash, _C.status, _C.score, _C.cost,
                   _C.attempts, _C.finished_at, _C.rate_limits, _C.finish_reason)
        fresh = list(connection.execute(
            select(*columns).where(_C.id > self.max_id, _C.id <= top).order_by(_C.id)
        ))
        # Failed rows as they are now (a partial index holds exactly these); a known failed id
        # missing from it, or with new attempts, was retried since the last refresh.
        cursor = connection.connection.cursor()  # plain DB-API: no Row objects for hot rows
        try:
            cursor.execute(_FAILED_SQL)
            now_failed = dict(cursor.fetchall())
        finally:
            cursor.close()
        ids = [cid for cid, old in self.failed.items() if now_failed.get(cid) != old.attempts]
        changed = [
            row
            for start in range(0, len(ids), 500)
            for row in connection.execute(
                select(*columns).where(_C.id.in_(ids[start : start + 500]))
            ).all()
        ]
        self.total_cells += len(fresh)
        for cid, model, bench, chash, status, score, cost, attempts, finished, rl, fin in changed:
            old = self.failed.pop(cid)
            self._failed_agg(old, -1)
            self.recent.append((finished, model, max(1, attempts - old.attempts)))
            self._add(cid, model, bench, chash, status, score, cost, attempts, rl, fin)
        for cid, model, bench, chash, status, score, cost, attempts, finished, rl, fin in fresh:
            self.recent.append((finished, model, attempts))
            self._add(cid, model, bench, chash, status, score, cost, attempts, rl, fin)
        self.max_id = top

    def _add(self, cid: int, model: str, bench: str, chash: str, status: str,
             score: float | None, cost: float | None, attempts: int, rate_limits: int,
             finish_reason: str | None = None) -> None:
        if status == OK:
            self.ok.setdefault((model, bench, chash), _OkAgg()).add(
                1, score is not None, score or 0.0, cost or 0.0, cost is None, rate_limits,
                finish_reason == "length",
            )
        else:
            failed = _Failed(model, bench, chash, status, attempts, cost or 0.0, rate_limits)
            self.failed[cid] = failed
            self._failed_agg(failed, +1)

    def _failed_agg(self, f: _Failed, sign: int) -> None:
        """Add (+1) or remove (-1) a failed row from the per-(model, benchmark, hash) sums."""
        agg = self.failed_sums.setdefault((f.model, f.benchmark, f.config_hash),
                                          [0, 0, 0, 0.0, 0])
        agg[0] += sign * (f.status != Status.ANSWERED.value)  # an answer awaiting its grade
        agg[4] += sign * (f.status == CONTEXT)
        agg[1] += sign * f.rate_limits
        agg[2] += sign * f.attempts
        agg[3] += sign * f.cost

    # -- combining ----------------------------------------------------------------------------
    def _snapshot(
        self, plans: dict[tuple[str, str], tuple[str, int]], providers: dict[str, str],
        run: Any, now: float, run_pairs: set[tuple[str, str]] | None = None,
    ) -> LiveSnapshot:
        cells: dict[tuple[str, str], LiveCell] = {}

        by_hash = {chash: (model, bench) for (model, bench), (chash, _n) in plans.items()}

        def cell_for(model: str, bench: str, chash: str) -> LiveCell | None:
            if chash in by_hash:  # as `avp status`: the configuration's current label
                model, bench = by_hash[chash]
            elif plans:
                return None  # an older configuration, or (as `avp status`) a pair not planned
            plan = plans.get((model, bench))
            if (model, bench) not in cells:
                cells[(model, bench)] = LiveCell(model, bench, plan[1] if plan else None)
            return cells[(model, bench)]

        scores: dict[tuple[str, str], float] = {}
        limited: dict[str, int] = {}
        for (model, bench, chash), agg in self.ok.items():
            name = providers.get(model, "?")
            limited[name] = limited.get(name, 0) + agg.rate_limits
            c = cell_for(model, bench, chash)
            if c is None:
                continue
            c.rate_limited += agg.rate_limits
            c.done += agg.n
            c.truncated += agg.truncated
            c.graded += agg.graded
            c.dollars += agg.dollars
            scores[(model, bench)] = scores.get((model, bench), 0.0) + agg.score_sum
        for (model, bench, chash), (errors, rl, tries, dollars, ctx) in self.failed_sums.items():
            name = providers.get(model, "?")
            limited[name] = limited.get(name, 0) + rl
            c = cell_for(model, bench, chash)
            if c is None:
                continue
            c.errors += errors - ctx
            c.done += ctx
            c.context_exceeded += ctx
            c.rate_limited += rl
            c.attempts_failed += tries
            c.dollars += dollars
        for (model, bench), (_chash, planned) in plans.items():
            cells.setdefault((model, bench), LiveCell(model, bench, planned))
        for key, c in cells.items():
            if c.graded:
                c.accuracy = scores.get(key, 0.0) / c.graded

        while self.recent and self.recent[0][0] < now - WINDOW_S:
            self.recent.popleft()
        window = list(self.recent)
        span = min(WINDOW_S, now - window[0][0]) if window else WINDOW_S
        throughput = len(window) / max(span, 1.0)
        per_model: dict[str, int] = {}
        for _finished, model, attempts in window:
            per_model[model] = per_model.get(model, 0) + attempts
        rates: dict[str, ProviderRate] = {}
        for model, attempts in per_model.items():
            name = providers.get(model, "?")
            rates.setdefault(name, ProviderRate(name)).requests_per_min += attempts
        for rate in rates.values():
            rate.requests_per_min *= WINDOW_S / max(span, 1.0)
        for name, rl in limited.items():
            if rl:
                rates.setdefault(name, ProviderRate(name)).rate_limited += rl

        ordered = sorted(cells.values(), key=lambda c: (c.benchmark, c.model))
        planned_total = sum(c.planned or 0 for c in ordered)
        mine = [c for c in ordered if (c.model, c.benchmark) in (run_pairs or set())]
        # the ETA is the latest run's: pairs planned only by earlier runs are not waited for
        remaining = sum(c.remaining for c in (mine if run is not None else ordered))
        projected: float | None = 0.0
        for c in ordered:
            if c.remaining and projected is not None:
                projected = projected + c.dollars / c.done * c.remaining if c.done else None
        return LiveSnapshot(
            cells=ordered,
            providers=sorted(rates.values(), key=lambda r: r.name),
            spent=sum(c.dollars for c in ordered),
            planned=planned_total,
            done=sum(c.done for c in ordered),
            errors=sum(c.errors for c in ordered),
            projected_to_finish=projected,
            throughput=throughput,
            eta_s=remaining / throughput if throughput > 0 and remaining else None,
            run=None if run is None else dict(zip(("id", "status", "started_at", "budget"), run,
                                                  strict=True)),
            total_cells=self.total_cells,
            taken_at=now,
            run_planned=None if run is None else sum(c.planned or 0 for c in mine),
            run_done=sum(min(c.done, c.planned or c.done) for c in mine),
        )


def _latest_plans(connection: Connection) -> dict[tuple[str, str], tuple[str, int]]:
    """(model, benchmark) -> (config hash, planned) of the most recent run that planned it."""
    latest = (
        select(col(PlanRecord.model), col(PlanRecord.benchmark),
               func.max(PlanRecord.run_id).label("rid"))
        .group_by(PlanRecord.model, PlanRecord.benchmark)
        .subquery()
    )
    query = select(col(PlanRecord.model), col(PlanRecord.benchmark), col(PlanRecord.config_hash),
                   col(PlanRecord.planned), col(PlanRecord.run_id)).join(
        latest,
        (col(PlanRecord.model) == latest.c.model)
        & (col(PlanRecord.benchmark) == latest.c.benchmark)
        & (col(PlanRecord.run_id) == latest.c.rid),
    )
    by_hash: dict[str, tuple[str, str, int]] = {}  # a renamed model: its configuration's last id
    for m, b, h, n, _run in sorted(connection.execute(query), key=lambda row: row[4]):
        by_hash[h] = (m, b, n)
    return {(m, b): (h, n) for h, (m, b, n) in by_hash.items()}


# ---------------------------------------------------------------------------------- browsing
STATUS_FILTERS = ("all", "ok", "failed", "wrong", "right") + tuple(
    s.value for s in Status if s is not Status.OK
)


@dataclass(frozen=True)
class CellFilter:
    """Which cells to list. `status`: all, ok, failed (any non-ok), wrong / right (graded ok
    cells scoring below / at 1), or one exact status; `disagreements`: only items on which the
    models' scores differ."""

    model: str | None = None
    benchmark: str | None = None
    status: str = "all"
    disagreements: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUS_FILTERS:
            raise StoreError(f"unknown status filter {self.status!r}: use one of "
                             + ", ".join(STATUS_FILTERS))


@dataclass(frozen=True)
class CellRow:
    """A cell as one line of a listing."""

    id: int
    model: str
    benchmark: str
    item_id: str
    sample: int
    status: str
    score: float | None
    extracted: str | None
    cost: float | None
    latency_s: float | None
    attempts: int
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_cells(
    store: Store, flt: CellFilter, *, limit: int | None = 500, offset: int = 0
) -> list[CellRow]:
    """Cells matching the filter, in (benchmark, item, model) order (`limit=None`: all)."""
    query = _listing(flt, _C.id, _C.model, _C.benchmark, _C.item_id, _C.sample, _C.status,
                     _C.score, _C.extracted, _C.cost, _C.latency_s, _C.attempts, _C.error)
    query = query.order_by(_C.benchmark, _C.item_id, _C.model, _C.sample)
    query = query.limit(limit).offset(offset)
    with store.engine.connect() as connection:
        return [CellRow(*row) for row in connection.execute(query)]


def count_cells(store: Store, flt: CellFilter) -> int:
    """How many cells match the filter (what a limited listing leaves out)."""
    query = select(func.count()).select_from(_listing(flt, _C.id).subquery())
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _listing(flt: CellFilter, *columns: Any) -> Any:
    query = _apply(select(*columns), flt)
    if flt.disagreements:
        split = (
            select(_C.benchmark, _C.item_id)
            .where(_C.status == OK, _C.score.is_not(None))
            .group_by(_C.benchmark, _C.item_id)
            .having(func.min(_C.score) != func.max(_C.score))
        )
        if flt.benchmark is not None:
            split = split.where(_C.benchmark == flt.benchmark)
        pairs = split.subquery()
        query = query.join(pairs, (_C.benchmark == pairs.c.benchmark)
                           & (_C.item_id == pairs.c.item_id))
    return query


def _apply(query: Any, flt: CellFilter) -> Any:
    if flt.model is not None:
        query = query.where(_C.model == flt.model)
    if flt.benchmark is not None:
        query = query.where(_C.benchmark == flt.benchmark)
    if flt.status == "ok":
        query = query.where(_C.status == OK)
    elif flt.status == "failed":
        query = query.where(_C.status != OK)
    elif flt.status == "wrong":
        query = query.where(_C.status == OK, _C.score < 1.0)
    elif flt.status == "right":
        query = query.where(_C.status == OK, _C.score >= 1.0)
    elif flt.status != "all":
        query = query.where(_C.status == flt.status)
    return query


@dataclass(frozen=True)
class CellDetail:
    """A cell with the item it answered: everything the item view and `avp show-cell` print."""

    cell: CellRecord
    messages: list[dict[str, str]]
    target: Any
    item_metadata: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell.model_dump(),
            "messages": self.messages,
            "target": self.target,
            "item_metadata": self.item_metadata,
        }


def cell_detail(store: Store, cell_id: int) -> CellDetail:
    """The cell of that id and its item as rendered; a StoreError when there is none."""
    with Session(store.engine) as session:
        cell = session.get(CellRecord, cell_id)
        if cell is None:
            raise StoreError(f"no cell {cell_id} in {store.url} (list them with `avp cells`)")
        session.expunge(cell)
        item = session.scalars(
            select(ItemRecord).where(
                col(ItemRecord.benchmark) == cell.benchmark,
                col(ItemRecord.item_id) == cell.item_id,
                col(ItemRecord.content_hash) == cell.item_hash,
            )
        ).first()
    if item is None:
        return CellDetail(cell, [], None, {})
    return CellDetail(cell, json.loads(item.messages_json), json.loads(item.target_json),
                      json.loads(item.metadata_json or "{}"))


def cell_names(store: Store) -> tuple[list[str], list[str]]:
    """Models and benchmarks that have cells (for filter choices)."""
    with store.engine.connect() as connection:
        models = [m for (m,) in connection.execute(select(_C.model).distinct().order_by(_C.model))]
        benches = [b for (b,) in connection.execute(
            select(_C.benchmark).distinct().order_by(_C.benchmark))]
    return models, benches


def bulk_insert_cells(store: Store, rows: Iterable[dict[str, Any]], *, batch: int = 50_000) -> int:
    """Insert raw `cells` rows fast (perf scripts, big test stores): no upsert, no ORM objects."""
    table = CellRecord.__table__  # type: ignore[attr-defined]
    chunk: list[dict[str, Any]] = []
    written = 0
    with store.engine.begin() as connection:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                connection.execute(table.insert(), chunk)
                written += len(chunk)
                chunk = []
        if chunk:
            connection.execute(table.insert(), chunk)
            written += len(chunk)
    return written


def plan_pairs(store: Store, pairs: Sequence[tuple[str, str, str, int]]) -> int:
    """Record a run planning (model, benchmark, config hash, planned) pairs; returns its id."""
    from avp_harness.store.store import PlanEntry

    return store.start_run([PlanEntry(m, b, h, "1", n) for m, b, h, n in pairs])
