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
cell becomes an error "judge failure: ...". Cells that are judge failures, with their answer kept,
are regraded too (unless `grader_filter` is given): a verdict makes them ok.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import benchmarks
from avp_harness.collect.judge import CollectorJudge
from avp_harness.collect.runner import Collector
from avp_harness.config import Config
from avp_harness.errors import JudgeFailure, ProviderError, SandboxError
from avp_harness.store import Store
from avp_harness.store.grading_queries import (
    StoredCell,
    iter_regrade_batches,
    replace_grades,
    withdraw_grades,
)
from avp_harness.types import Grade
from graders import Grader


def verdict_label(grade: Grade | None) -> str:
    """A grade in one word, for the old-vs-new confusion table."""
    if grade is None:
        return "ungraded"
    if grade.score >= 1.0:
        return "correct"
    return "wrong" if grade.parsed else "unparsed"


@dataclass
class RegradeSummary:
    """What a regrade did."""

    benchmark: str
    grader: str
    grader_version: str
    examined: int = 0
    score_changes: int = 0  # cells whose score changed
    rewritten: int = 0  # cells whose stored grade changed in any way (history kept)
    failed: int = 0  # cells that could not be graded again (old grade kept unless judge failure)
    judge_failures: int = 0  # of those, judge failures: now errors, their old grade withdrawn
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
) -> RegradeSummary:
    """Regrade the ok cells of `benchmark` in `store` (see the module docstring).

    `grader` overrides the benchmark's current grader (tests, experiments); otherwise the
    benchmark's grader is built with `config.judge` when the config has one.
    """
    config = config or Config()
    collector = Collector(config, store)
    judge = CollectorJudge(collector, config.judge) if config.judge is not None else None
    if grader is None:
        grader = benchmarks.get(benchmark).grader(judge)
    summary = RegradeSummary(benchmark, grader.id, grader.version)
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
            grades = await asyncio.gather(*(grade_one(cell) for cell in batch))
            changes, withdrawn = [], []
            for cell, new in zip(batch, grades, strict=True):
                summary.examined += 1
                if isinstance(new, JudgeFailure):
                    summary.judge_failures += 1
                    withdrawn.append((cell.cell_id, str(new)))
                    continue
                if new is None:
                    continue
                summary.confusion[(verdict_label(cell.grade), verdict_label(new))] += 1
                old_score = cell.grade.score if cell.grade is not None else None
                summary.score_changes += old_score != new.score
                changes.append((cell.cell_id, new))
            summary.rewritten += await loop.run_in_executor(None, replace_grades, store, changes)
            await loop.run_in_executor(None, withdraw_grades, store, withdrawn)
    finally:
        await collector.close_clients()
    if judge is not None:
        summary.judge_calls, summary.judge_cache_hits = judge.calls, judge.cache_hits
        summary.judge_dollars = judge.dollars
    return summary
