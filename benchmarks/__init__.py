"""Benchmarks: one module each, readable top to bottom.

Each module defines a `BENCHMARK` object satisfying `Benchmark`: its name, a version constant (bump
it when the prompt template, the answer format or the data handling changes: the version is part of
every cell's fingerprint, so a bump creates new cells and keeps the old ones), a loader for the
official distribution format, the prompt template as a constant and a default grader.

Beyond loading and grading, a benchmark declares the facts the rest of the harness asks about
(`BenchmarkBase` gives the usual answers; override what differs): whether an LLM judge grades it
(`needs_judge`), its official figures for `avp report` (`metrics(grades)`, with column labels and
notes), where its default data is (`data_status()`), and the options an `options` table in
avp.toml may set (`with_options(options)`). Adding a benchmark is one module plus one line in
`REGISTRY`: no CLI, report or config code names benchmarks.

`get(name)` imports the module lazily, so listing benchmarks never loads data.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from avp_harness.errors import DataError

if TYPE_CHECKING:
    from avp_harness.types import Grade, Item
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
    "tau2": "benchmarks.tau2",
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


@dataclass(frozen=True)
class DataStatus:
    """Whether a benchmark's default data is on this machine, and where (or what is missing)."""

    present: bool
    where: str


class OptionError(DataError):
    """A benchmark option that is unknown or has a bad value; `option` names it (None: all)."""

    def __init__(self, benchmark: str, option: str | None, reason: str) -> None:
        self.benchmark, self.option, self.reason = benchmark, option, reason
        where = f"{benchmark}: option {option!r}" if option else f"{benchmark}: options"
        super().__init__(f"{where}: {reason}")


class Benchmark(Protocol):
    name: str
    version: str
    description: str
    default_source: str
    needs_judge: bool
    """Graded by an LLM judge: `avp grade` refuses it, `avp run` needs a [judge]."""
    metric_labels: Mapping[str, str]
    """Column titles for `metrics()` keys that read badly as `key.replace("_", " ")`."""
    metric_notes: Sequence[str]
    """Lines printed under the benchmark's `avp report` table (how a figure is computed)."""

    def items(self, selection: Selection) -> Iterator[Item]: ...

    def grader(self, judge: Judge | None = None) -> Grader: ...

    def metrics(self, grades: Sequence[Grade]) -> dict[str, Any]:
        """The benchmark's official figures for `avp report`, from one model's stored grades:
        ints print as counts, floats as percentages (fractions), None as "-", and a "tags"
        dict of {tag: {score, bootstrap_std, n_samples}} as a per-tag table."""
        ...

    def data_status(self) -> DataStatus: ...

    def with_options(self, options: Mapping[str, Any]) -> Benchmark:
        """This benchmark with the options of its avp.toml `options` table applied (OptionError
        for an unknown option or a bad value; data is not loaded)."""
        ...

    # Optional: `load_notes() -> list[str]`, what the last `items()` left out (e.g. HLE's
    # questions with an image), printed by the collector when it plans a run.


def accuracy_metrics(grades: Sequence[Grade]) -> dict[str, Any]:
    """The default figures: mean score and how many answers could not be parsed."""
    return {
        "accuracy": sum(g.score for g in grades) / len(grades) if grades else 0.0,
        "unparsed": sum(not g.parsed for g in grades),
    }


SHARED_PREFIX = "../shared/data/"


def local_source(default_source: str) -> Path | None:
    """Where a project-relative default source (`../shared/data/...`) is on this machine, looked
    up as the loaders do ($AVP_SHARED_DATA, the working folder, the repository), or None."""
    from benchmarks._text_common import REPO_ROOT

    candidates = [Path.cwd() / default_source, REPO_ROOT / default_source]
    shared = os.environ.get("AVP_SHARED_DATA")
    if shared and default_source.startswith(SHARED_PREFIX):
        candidates.insert(0, Path(shared) / default_source[len(SHARED_PREFIX) :])
    for candidate in candidates:
        if candidate.is_file() or (candidate.is_dir() and any(candidate.iterdir())):
            return candidate.resolve()
    return None


def source_status(default_source: str) -> DataStatus:
    """The data status of a local file or folder source (`hf:...` is never offline)."""
    if default_source.startswith("hf:"):
        return DataStatus(False, f"Hugging Face hub {default_source} (not offline)")
    path = local_source(default_source)
    return DataStatus(path is not None, str(path) if path else f"{default_source} (absent)")


def package_status(module: str, package: str) -> DataStatus:
    """The data status of data shipped in an installed package."""
    present = importlib.util.find_spec(module) is not None
    return DataStatus(present, f"package {package}" + ("" if present else " (not installed)"))


class BenchmarkBase:
    """The usual answers to the `Benchmark` facts; a benchmark inherits it and overrides what
    differs (class attributes, so dataclass benchmarks keep their fields)."""

    name: str
    needs_judge = False
    metric_labels: Mapping[str, str] = MappingProxyType({})
    metric_notes: Sequence[str] = ()

    def metrics(self, grades: Sequence[Grade]) -> dict[str, Any]:
        return accuracy_metrics(grades)

    def data_status(self) -> DataStatus:
        return source_status(cast(Benchmark, self).default_source)

    def with_options(self, options: Mapping[str, Any]) -> Any:
        if options:
            raise OptionError(self.name, sorted(options)[0], "unknown option (this benchmark "
                              "takes none)")
        return self


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
