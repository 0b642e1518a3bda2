"""`avp regrade`: grade stored responses again, without calling the candidate models.

For every ok cell of a benchmark (optionally only those last graded by one grader id), the item
is rebuilt from the store's `items` table and the completion from the cell; the benchmark's
current grader (with the configured judge, through the collector's provider layer and judge
cache) grades it again. New grades are written in place in batches, each replaced grade kept in
`grade_history`; an unchanged grade is not rewritten, so regrading is idempotent and an
interrupted regrade simply resumes. A grading failure (judge given up, sandbox failure) keeps the
old grade and is counted, never turned into a wrong answer.

Judge failures (`JudgeFailure`: the judge's reply, read by the current rule, holds no single
verdict or was cut off) are different: the old grade was read from such a reply by an older rule,
or the cell already is a judge failure. The grade is withdrawn (kept in `grade_history`) and the
cell goes back to `answered` with the error "judge failure: ..." (its answer kept). Cells that
are judge failures are regraded too (unless `grader_filter` is given): a verdict makes them ok.

What changed is counted per model: cells whose score went 1 -> 0 (`lost`) and 0 -> 1 (`gained`),
and the mean score before and after (a withdrawn grade counts 0 after). `dry_run=True` grades and
counts the same but writes nothing.

Imported cells (`avp import` of published records: grader "imported", no answer text) cannot be
graded again: they are skipped and counted (`skipped`), their scores left as imported.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import benchmarks
from avp_harness.collect.judge import StoreJudge
from avp_harness.config import Config
from avp_harness.errors import JudgeFailure, ProviderError, SandboxError
from avp_harness.gateway import Gateway
from avp_harness.store import Store
from avp_harness.store.grades import (
    StoredCell,
    iter_regrade_batches,
    replace_grades,
    withdraw_grades,
)
from avp_harness.types import Grade
from graders import Grader

IMPORTED_GRADER = "imported"
"""Grader id of cells written by `avp import` (store/routing.import_records)."""


def verdict_label(grade: Grade | None) -> str:
    """A grade in one word, for the old-vs-new confusion table."""
    if grade is None:
        return "ungraded"
    if grade.score >= 1.0:
        return "correct"
    return "wrong" if grade.parsed else "unparsed"


@dataclass
class ModelChanges:
    """One model's cells in a regrade: how its verdicts moved."""

    examined: int = 0
    lost: int = 0  # score went down (1 -> 0)
    gained: int = 0  # score went up (0 -> 1)
    score_before: float = 0.0  # sums over the examined cells (ungraded cells count 0)
    score_after: float = 0.0

    def accuracy(self, after: bool) -> float:
        total = self.score_after if after else self.score_before
        return total / self.examined if self.examined else 0.0


def _differs(old: Grade | None, new: Grade) -> bool:
    """Whether storing `new` would change the cell's grade (as replace_grades decides)."""
    if old is None:
        return True
    fields = ("score", "parsed", "extracted", "grader", "grader_version", "explanation",
              "judge_model", "judge_output")
    return any(getattr(old, f) != getattr(new, f) for f in fields)


@dataclass
class RegradeSummary:
    """What a regrade did."""

    benchmark: str
    grader: str
    grader_version: str
    examined: int = 0
    skipped: int = 0  # imported cells: no answer to grade again, left as they are
    score_changes: int = 0  # cells whose score changed
    rewritten: int = 0  # cells whose stored grade changed in any way (history kept)
    dry_run: bool = False  # then `rewritten` counts the grades that would have been rewritten
    by_model: dict[str, ModelChanges] = field(default_factory=dict)
    failed: int = 0  # cells that could not be graded again (old grade kept unless judge failure)
    judge_failures: int = 0  # of those, judge failures: answered again, old grade withdrawn
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (old, new) -> cells
    judge_model: str | None = None
    judge_calls: int = 0
    judge_cache_hits: int = 0
    judge_dollars: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few failures

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["confusion"] = [
            {"old": old, "new": new, "cells": n} for (old, new), n in sorted(self.confusion.items())
        ]
        data["by_model"] = {
            model: {**changes.__dict__, "accuracy_before": changes.accuracy(False),
                    "accuracy_after": changes.accuracy(True)}
            for model, changes in sorted(self.by_model.items())
        }
        return data


async def regrade(
    store: Store,
    benchmark: str,
    *,
    config: Config | None = None,
    grader_filter: str | None = None,
    grader: Grader | None = None,
    concurrency: int = 16,
    batch_size: int = 200,
    dry_run: bool = False,
) -> RegradeSummary:
    """Regrade the ok cells of `benchmark` in `store` (see the module docstring).

    `grader` overrides the benchmark's current grader (tests, experiments); otherwise the
    benchmark's grader is built with `config.judge` when the config has one.
    """
    config = config or Config()
    gateway = Gateway(config)
    judge = StoreJudge(gateway, store, config.judge) if config.judge is not None else None
    if grader is None:
        grader = benchmarks.get(benchmark).grader(judge)
    summary = RegradeSummary(benchmark, grader.id, grader.version, dry_run=dry_run)
    summary.judge_model = judge.model if judge is not None else None
    gate = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()

    async def grade_one(cell: StoredCell) -> Grade | JudgeFailure | None:
        async with gate:
            try:
                return await grader(cell.item, cell.completion)
            except JudgeFailure as exc:
                failure: JudgeFailure | None = exc
                reason = str(exc)
            except (ProviderError, SandboxError) as exc:
                failure, reason = None, str(exc)
            except Exception as exc:  # a grader bug keeps the old grade too
                failure, reason = None, f"grader crashed: {type(exc).__name__}: {exc}"
        summary.failed += 1
        if len(summary.errors) < 5:
            summary.errors.append(f"{cell.model} {cell.item.id}: {reason}")
        return failure

    try:
        batches = iter_regrade_batches(store, benchmark, grader=grader_filter, size=batch_size)
        while True:
            batch = await loop.run_in_executor(None, next, batches, None)
            if batch is None:
                break
            imported = [c for c in batch if c.grade and c.grade.grader == IMPORTED_GRADER]
            summary.skipped += len(imported)
            batch = [c for c in batch if not (c.grade and c.grade.grader == IMPORTED_GRADER)]
            grades = await asyncio.gather(*(grade_one(cell) for cell in batch))
            changes, withdrawn = [], []
            for cell, new in zip(batch, grades, strict=True):
                summary.examined += 1
                model = summary.by_model.setdefault(cell.model, ModelChanges())
                model.examined += 1
                old_score = cell.grade.score if cell.grade is not None else None
                model.score_before += old_score or 0.0
                if isinstance(new, JudgeFailure):
                    summary.judge_failures += 1
                    model.lost += bool(old_score)
                    withdrawn.append((cell.cell_id, str(new)))
                    continue
                model.score_after += (new.score if new is not None else old_score) or 0.0
                if new is None:
                    continue
                summary.confusion[(verdict_label(cell.grade), verdict_label(new))] += 1
                summary.score_changes += old_score != new.score
                if old_score is not None:
                    model.lost += new.score < old_score
                    model.gained += new.score > old_score
                changes.append((cell.cell_id, new))
            if dry_run:
                summary.rewritten += sum(
                    _differs(cell.grade, new)
                    for cell, new in zip(batch, grades, strict=True)
                    if isinstance(new, Grade)
                )
            else:
                summary.rewritten += await loop.run_in_executor(
                    None, replace_grades, store, changes
                )
                await loop.run_in_executor(None, withdraw_grades, store, withdrawn)
    finally:
        await gateway.close()
    if judge is not None:
        summary.judge_calls, summary.judge_cache_hits = judge.calls, judge.cache_hits
        summary.judge_dollars = judge.dollars
    return summary
