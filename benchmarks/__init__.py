"""Benchmarks: one module each, readable top to bottom.

Each module defines a `BENCHMARK` object satisfying `Benchmark`: its name, a version constant (bump
it when the prompt template, the answer format or the data handling changes: the version is part of
every cell's fingerprint, so a bump creates new cells and keeps the old ones), a loader for the
official distribution format, the prompt template as a constant and a default grader.

`get(name)` imports the module lazily, so listing benchmarks never loads data.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from avp_harness.errors import DataError

if TYPE_CHECKING:
    from avp_harness.types import Item
    from graders import Grader, Judge

# name -> module under benchmarks/ (`module:ATTR` names another Benchmark object than BENCHMARK)
REGISTRY: dict[str, str] = {
    "arc_agi": "benchmarks.arc_agi",
    "humaneval": "benchmarks.humaneval",
    "arc_agi_2": "benchmarks.arc_agi_2",
    "livecodebench": "benchmarks.livecodebench",
    "gpqa_diamond": "benchmarks.gpqa",
    "mmlu_pro": "benchmarks.mmlu_pro",
    "aime": "benchmarks.aime",
    "aime_2024": "benchmarks.aime:BENCHMARK_2024",
    "aime_2025": "benchmarks.aime:BENCHMARK_2025",
    "math500": "benchmarks.math500",
    "simpleqa": "benchmarks.simpleqa",
    "hle": "benchmarks.hle",
    "healthbench": "benchmarks.healthbench",
    "healthbench_hard": "benchmarks.healthbench:BENCHMARK_HARD",
    "healthbench_consensus": "benchmarks.healthbench:BENCHMARK_CONSENSUS",
}


@dataclass(frozen=True)
class Selection:
    """Which items of a benchmark to use.

    `limit` keeps the first N items in the official order; `sample` draws N uniformly at random
    with `seed` (then sorted back into official order, so prompts and ids are stable).
    `source` overrides the default data location (a file or folder in the official format).
    """

    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    source: Path | None = None


class Benchmark(Protocol):
    name: str
    version: str
    description: str
    default_source: str

    def items(self, selection: Selection) -> Iterator[Item]: ...

    def grader(self, judge: Judge | None = None) -> Grader: ...

    # Optional: `load_notes() -> list[str]`, what the last `items()` left out (e.g. HLE's
    # questions with an image), printed by the collector when it plans a run.
    # Optional: `metrics(grades) -> dict`, the benchmark's official figures for `avp report`
    # (numbers become columns, a "tags" dict a per-tag table; see benchmarks/healthbench.py).


T = TypeVar("T")


def select(records: Sequence[T], selection: Selection) -> list[T]:
    """Apply `limit` / `sample` to records in official order (seeded, order-preserving)."""
    chosen = list(records)
    if selection.sample is not None and selection.sample < len(chosen):
        import random

        rng = random.Random(selection.seed)
        keep = sorted(rng.sample(range(len(chosen)), selection.sample))
        chosen = [chosen[i] for i in keep]
    if selection.limit is not None:
        chosen = chosen[: selection.limit]
    return chosen


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Benchmark:
    module_name = REGISTRY.get(name)
    if module_name is None:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(names())}")
    module_name, _, attr = module_name.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "BENCHMARK")
