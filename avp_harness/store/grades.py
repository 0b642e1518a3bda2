"""Typed queries for grading: the judge cache, stored cells for `avp regrade`, grade replacement
with history, and the grades behind per-benchmark metrics.

Functions over a `Store` (kept out of store.py so grading's queries live in one place):

    get_judgement(store, key) / put_judgement(store, judgement)  the judge cache
    iter_regrade_batches(store, "simpleqa", grader=None)          ok and judge-failed cells
    replace_grades(store, [(cell_id, grade), ...])                 old grade -> grade_history
    withdraw_grades(store, [(cell_id, error), ...])                 a judge failure on re-reading
    outdated_grades(store, hashes, {"simpleqa": ("simpleqa_judge", "simpleqa-2")})  to regrade
    benchmark_grades(store, "hle")                                 model -> [Grade] for metrics

Every write is one short transaction, so these are safe next to the collector's single writer
(SQLite WAL, busy timeout) and an interrupted regrade leaves whole batches behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from avp_harness.errors import JudgeFailure
from avp_harness.store.store import Store
from avp_harness.store.tables import CellRecord, GradeHistoryRecord, ItemRecord, JudgementRecord
from avp_harness.types import (
    Completion,
    CostSource,
    Grade,
    Item,
    Judgement,
    Message,
    Status,
    Usage,
)

# Column objects typed Any: SQLModel's class attributes read as plain values to mypy.
CELLS: Any = CellRecord.__table__.c  # type: ignore[attr-defined]
ITEMS: Any = ItemRecord.__table__.c  # type: ignore[attr-defined]
HISTORY: Any = GradeHistoryRecord.__table__.c  # type: ignore[attr-defined]
JUDGEMENTS: Any = JudgementRecord.__table__.c  # type: ignore[attr-defined]

# ------------------------------------------------------------------------------ judge cache


def get_judgement(store: Store, key: str) -> Judgement | None:
    """The cached judge call with this `graders.judge.judge_cache_key`, if any."""
    with Session(store.engine) as session:
        r = session.get(JudgementRecord, key)
        if r is None:
            return None
        return Judgement(r.key, r.judge_model, r.prompt_version, r.output, r.prompt_tokens,
                         r.completion_tokens, r.cost, r.cost_source)


def put_judgement(store: Store, judgement: Judgement, *, replace: bool = False) -> None:
    """Cache a judge call; a key already present is kept (the first verdict wins) unless
    `replace` (a fresh call made because the cached reply held no verdict)."""
    row = {f: getattr(judgement, f) for f in Judgement.__dataclass_fields__}
    row["created_at"] = time.time()
    statement = store._insert(JudgementRecord)
    if replace:
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={k: statement.excluded[k] for k in row if k != "key"}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["key"])
    with store.engine.begin() as connection:
        connection.execute(statement, [row])


def count_judgements(store: Store, judge_model: str | None = None) -> int:
    query = select(func.count()).select_from(JudgementRecord)
    if judge_model is not None:
        query = query.where(JUDGEMENTS.judge_model == judge_model)
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


# ------------------------------------------------------------------------------ stored cells


@dataclass(frozen=True)
class StoredCell:
    """An ok cell as `avp regrade` sees it: the item as rendered, the answer, its current grade."""

    cell_id: int
    model: str
    item: Item
    completion: Completion
    grade: Grade | None


def item_from_record(record: ItemRecord) -> Item:
    """The Item exactly as it was sent (messages, target and metadata from their JSON)."""
    messages = tuple(
        Message(m["role"], m["content"]) for m in json.loads(record.messages_json)
    )
    return Item(
        id=record.item_id,
        dataset=record.benchmark,
        messages=messages,
        target=json.loads(record.target_json),
        metadata=json.loads(record.metadata_json or "{}"),
    )


def completion_from_cell(cell: CellRecord) -> Completion:
    """The candidate's completion as recorded on its cell."""
    return Completion(
        text=cell.response or "",
        usage=Usage(
            cell.prompt_tokens, cell.completion_tokens, cell.reasoning_tokens, cell.cached_tokens
        ),
        cost=cell.cost,
        cost_source=CostSource(cell.cost_source),
        latency_s=cell.latency_s or 0.0,
        finish_reason=cell.finish_reason,
        price_version=cell.price_version,
    )


def grade_from_cell(cell: CellRecord) -> Grade | None:
    """The grade stored on a cell (None when it has none)."""
    if cell.score is None or cell.grader is None:
        return None
    return Grade(
        score=cell.score,
        extracted=cell.extracted,
        explanation=cell.grade_explanation or "",
        grader=cell.grader,
        grader_version=cell.grader_version or "",
        parsed=bool(cell.parsed) if cell.parsed is not None else True,
        judge_model=cell.judge_model,
        judge_output=cell.judge_output,
        judge_usage=Usage(cell.judge_prompt_tokens, cell.judge_completion_tokens),
        judge_cost=cell.judge_cost,
    )


def regrade_batch(
    store: Store, benchmark: str, *, grader: str | None = None, after_id: int = 0, size: int = 200
) -> list[StoredCell]:
    """Up to `size` ok cells of `benchmark` with id > `after_id` (in id order), joined with the
    item they answered; `grader` keeps only cells last graded by that grader id. Without
    `grader`, cells whose answer is kept but whose judge failed ("judge failure: ...") come too."""
    query = (
        select(CellRecord, ItemRecord)
        .join(
            ItemRecord,
            (ITEMS.benchmark == CELLS.benchmark)
            & (ITEMS.item_id == CELLS.item_id)
            & (ITEMS.content_hash == CELLS.item_hash),
        )
        .where(
            CELLS.benchmark == benchmark,
            _regradable(judge_failed=grader is None),
            CELLS.id > after_id,
        )
        .order_by(CELLS.id)
        .limit(size)
    )
    if grader is not None:
        query = query.where(CELLS.grader == grader)
    with Session(store.engine) as session:
        rows = session.exec(query).all()  # type: ignore[call-overload]
    return [
        StoredCell(
            cell_id=cell.id,
            model=cell.model,
            item=item_from_record(item),
            completion=completion_from_cell(cell),
            grade=grade_from_cell(cell),
        )
        for cell, item in rows
    ]


# A judge-failed cell keeps its answer as `answered` (the next run grades it without calling the
# candidate again); stores written before that kept it as an `error`.
_JUDGE_FAILED = (Status.ANSWERED.value, Status.ERROR.value)


def _regradable(*, judge_failed: bool) -> Any:
    """Ok cells, and (with `judge_failed`) error cells with an answer that the judge failed."""
    ok = CELLS.status == Status.OK.value
    if not judge_failed:
        return ok
    failed = (
        CELLS.status.in_(_JUDGE_FAILED)
        & CELLS.error.startswith(JudgeFailure.PREFIX, autoescape=True)
        & CELLS.response.is_not(None)
    )
    return ok | failed


def iter_regrade_batches(
    store: Store, benchmark: str, *, grader: str | None = None, size: int = 200
) -> Iterator[list[StoredCell]]:
    """`regrade_batch` page after page (keyset by cell id, so writes in between are safe)."""
    after = 0
    while True:
        batch = regrade_batch(store, benchmark, grader=grader, after_id=after, size=size)
        if not batch:
            return
        yield batch
        after = batch[-1].cell_id


def count_regradable(store: Store, benchmark: str, grader: str | None = None) -> int:
    query = select(func.count()).select_from(CellRecord).where(
        CELLS.benchmark == benchmark, _regradable(judge_failed=grader is None)
    )
    if grader is not None:
        query = query.where(CELLS.grader == grader)
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


# ------------------------------------------------------------------------------ replacing grades


def _same_verdict(cell: CellRecord, grade: Grade) -> bool:
    return (
        cell.status == Status.OK.value
        and cell.score == grade.score
        and cell.parsed == grade.parsed
        and cell.extracted == grade.extracted
        and cell.grader == grade.grader
        and cell.grader_version == grade.grader_version
        and (cell.grade_explanation or "") == grade.explanation
        and cell.judge_model == grade.judge_model
        and cell.judge_output == grade.judge_output
    )


def _add(old: float | None, new: float | None) -> float | None:
    return None if old is None and new is None else (old or 0.0) + (new or 0.0)


def replace_grades(store: Store, changes: Sequence[tuple[int, Grade]]) -> int:
    """Write new grades in place, moving each replaced grade into `grade_history`; one
    transaction. A grade identical to the stored one is left alone (so regrading is idempotent).
    A judge-failed cell that gets a grade becomes ok.

    The cell's judge tokens and dollars accumulate: they stay the judge spend on that cell (a
    cache hit adds nothing). Returns how many cells were changed.
    """
    if not changes:
        return 0
    now = time.time()
    changed = 0
    by_id = dict(changes)
    with Session(store.engine) as session:
        cells = session.exec(  # type: ignore[call-overload]
            select(CellRecord).where(CELLS.id.in_(list(by_id)))
        ).scalars()
        for cell in cells:
            grade = by_id[cell.id]
            if _same_verdict(cell, grade):
                continue
            if cell.grader is not None:
                session.add(_history(cell, now))
            usage = grade.judge_usage or Usage()
            session.execute(
                update(CellRecord)
                .where(CELLS.id == cell.id)
                .values(
                    status=Status.OK.value,
                    error=None,
                    score=grade.score,
                    parsed=grade.parsed,
                    extracted=grade.extracted,
                    grader=grade.grader,
                    grader_version=grade.grader_version,
                    grade_explanation=grade.explanation,
                    judge_model=grade.judge_model,
                    judge_output=grade.judge_output,
                    judge_cost=_add(cell.judge_cost, grade.judge_cost),
                    judge_prompt_tokens=cell.judge_prompt_tokens + usage.prompt_tokens,
                    judge_completion_tokens=cell.judge_completion_tokens
                    + usage.completion_tokens,
                )
            )
            changed += 1
        session.commit()
    return changed


def _history(cell: CellRecord, now: float) -> GradeHistoryRecord:
    return GradeHistoryRecord(
        cell_id=cell.id or 0,  # stored cells always have an id
        replaced_at=now,
        score=cell.score,
        parsed=cell.parsed,
        extracted=cell.extracted,
        grader=cell.grader,
        grader_version=cell.grader_version,
        grade_explanation=cell.grade_explanation,
        judge_model=cell.judge_model,
        judge_output=cell.judge_output,
    )


def withdraw_grades(store: Store, failures: Sequence[tuple[int, str]]) -> int:
    """Cells whose judge reply, read again, holds no verdict: the grade goes to `grade_history`
    and the cell goes back to `answered` with `message` ("judge failure: ..."): its answer is
    kept, `avp run` grades it again without calling the candidate, `avp regrade` too; it is
    never left graded by a rule that was fooled. One transaction; returns how many changed."""
    if not failures:
        return 0
    now = time.time()
    changed = 0
    by_id = dict(failures)
    with Session(store.engine) as session:
        cells = session.exec(  # type: ignore[call-overload]
            select(CellRecord).where(CELLS.id.in_(list(by_id)))
        ).scalars()
        for cell in cells:
            if cell.status in _JUDGE_FAILED and cell.error == by_id[cell.id]:
                continue
            if cell.grader is not None:
                session.add(_history(cell, now))
            session.execute(
                update(CellRecord)
                .where(CELLS.id == cell.id)
                .values(
                    status=Status.ANSWERED.value, error=by_id[cell.id], score=None, parsed=None,
                    extracted=None, grader=None, grader_version=None, grade_explanation=None,
                    judge_model=None, judge_output=None,
                )
            )
            changed += 1
        session.commit()
    return changed


def grade_history(store: Store, cell_id: int) -> list[GradeHistoryRecord]:
    """Grades a cell had before, oldest first."""
    query = (
        select(GradeHistoryRecord)
        .where(HISTORY.cell_id == cell_id)
        .order_by(HISTORY.id)
    )
    with Session(store.engine) as session:
        return list(session.exec(query).scalars())  # type: ignore[call-overload]


def count_grade_history(store: Store) -> int:
    with store.engine.connect() as connection:
        query = select(func.count()).select_from(GradeHistoryRecord)
        return int(connection.execute(query).scalar_one())


# ------------------------------------------------------------------------------ metrics


@dataclass(frozen=True)
class ModelGrades:
    """One model's graded cells on one benchmark, and the dollars spent on them."""

    model: str
    grades: list[Grade]
    dollars: float  # the candidate's known dollars
    judge_dollars: float  # the judge's dollars, counted apart
    judge_tokens: int
    user_dollars: float = 0.0  # τ²-bench's simulated user, counted apart


def benchmark_grades(store: Store, benchmark: str) -> list[ModelGrades]:
    """Graded ok cells per model, in each model's most recent configuration of `benchmark`
    (all of its cells when it has no recorded plan, e.g. imported records)."""
    latest = {p.model: p.config_hash for p in store.latest_plans() if p.benchmark == benchmark}
    labels = {chash: model for model, chash in latest.items()}
    query = (
        select(CellRecord)
        .where(
            CELLS.benchmark == benchmark,
            CELLS.status == Status.OK.value,
            CELLS.score.is_not(None),
        )
        .order_by(CELLS.model, CELLS.id)
    )
    by_model: dict[str, list[CellRecord]] = {}
    with Session(store.engine) as session:
        for cell in session.exec(query).scalars():  # type: ignore[call-overload]
            model = labels.get(cell.config_hash, cell.model)  # a renamed model: its new id
            if model in latest and cell.config_hash != latest[model]:
                continue
            by_model.setdefault(model, []).append(cell)
    result = []
    for model, cells in by_model.items():
        grades = [g for g in map(grade_from_cell, cells) if g is not None]
        result.append(
            ModelGrades(
                model=model,
                grades=grades,
                dollars=sum(c.cost or 0.0 for c in cells),
                judge_dollars=sum(c.judge_cost or 0.0 for c in cells),
                judge_tokens=sum(c.judge_prompt_tokens + c.judge_completion_tokens for c in cells),
                user_dollars=sum(c.user_cost or 0.0 for c in cells),
            )
        )
    return result


def graded_benchmarks(store: Store) -> list[str]:
    """Benchmarks with at least one graded ok cell, sorted."""
    query = (
        select(CELLS.benchmark)
        .where(CELLS.status == Status.OK.value, CELLS.score.is_not(None))
        .distinct()
        .order_by(CELLS.benchmark)
    )
    with store.engine.connect() as connection:
        return [row[0] for row in connection.execute(query)]


def regradable_benchmarks(store: Store) -> list[str]:
    """Benchmarks with a graded ok cell or a judge-failed cell with its answer, sorted."""
    graded = (CELLS.status == Status.OK.value) & CELLS.score.is_not(None)
    query = (
        select(CELLS.benchmark)
        .where(graded | _regradable(judge_failed=True) & CELLS.status.in_(_JUDGE_FAILED))
        .distinct()
        .order_by(CELLS.benchmark)
    )
    with store.engine.connect() as connection:
        return [row[0] for row in connection.execute(query)]


def outdated_grades(
    store: Store, config_hashes: Sequence[str], graders: dict[str, tuple[str, str]]
) -> dict[str, int]:
    """benchmark -> ok cells (of `config_hashes`) graded by its current grader id at another
    version than the current one (`graders`: benchmark -> (grader id, version)); only
    benchmarks that have such cells."""
    if not config_hashes or not graders:
        return {}
    outdated = [
        (CELLS.benchmark == name) & (CELLS.grader == grader) & (CELLS.grader_version != version)
        for name, (grader, version) in graders.items()
    ]
    query = (
        select(CELLS.benchmark, func.count())
        .where(
            CELLS.status == Status.OK.value,
            CELLS.config_hash.in_(list(config_hashes)),
            or_(*outdated),
        )
        .group_by(CELLS.benchmark)
    )
    with store.engine.connect() as connection:
        return {row[0]: int(row[1]) for row in connection.execute(query)}
