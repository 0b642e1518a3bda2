"""Planning: every (model x item x sample) cell of the configuration, keyed by its fingerprint.

`config_hash` hashes everything about a (model, benchmark) pair that changes the answer: the
model name sent, the provider route (the provider's name: a server moving to another port or host
serves the same model), every generation parameter and the benchmark's name and prompt version.
A cell's `fingerprint` adds the item id and content hash. Prices, labels
and limits are deliberately left out: they do not change what the model is asked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import benchmarks
from avp_harness.config import Config, ModelConfig, ProviderConfig
from avp_harness.errors import DataError
from avp_harness.store import PlanEntry
from avp_harness.types import CellKey, Item, canonical_json, sha256_hex
from graders import Grader

# An agentic benchmark's cell (τ²-bench): (item, model, sample index, caller with the gateway's
# `complete`) -> the CallOutcome of the whole simulation, its answer being the trajectory.
Simulate = Callable[[Item, ModelConfig, int, Any], Awaitable[Any]]


def config_hash(
    model: ModelConfig, provider: ProviderConfig, benchmark: str, benchmark_version: str
) -> str:
    payload = {
        **model.generation_params(),
        "route": provider.name,
        "benchmark": benchmark,
        "benchmark_version": benchmark_version,
    }
    return sha256_hex(canonical_json(payload))[:32]


def fingerprint(chash: str, item_id: str, item_hash: str) -> str:
    return sha256_hex(f"{chash}\x1f{item_id}\x1f{item_hash}")[:32]


@dataclass(frozen=True, slots=True)
class PlannedCell:
    """One cell to request: its key, what to send, and how to grade it."""

    key: CellKey
    item: Item
    item_hash: str
    model: ModelConfig
    config_hash: str
    benchmark_version: str


@dataclass
class BenchmarkPlan:
    name: str
    version: str
    items: list[Item]
    samples: int
    grader: Grader
    temperature: float | None = None  # overrides every model's temperature on this benchmark
    simulate: Simulate | None = None  # an agentic benchmark's simulation (benchmarks/tau2.py)
    more_calls: bool = False  # a cell costs more than its one call (a judge, a simulated user)

    def model(self, model: ModelConfig) -> ModelConfig:
        """`model` as called on this benchmark (its temperature replaced when one is set)."""
        if self.temperature is None or self.temperature == model.temperature:
            return model
        return replace(model, temperature=self.temperature)


@dataclass
class Plan:
    """All cells of a configuration, plus the per-(model, benchmark) plan entries."""

    benchmarks: list[BenchmarkPlan]
    models: list[ModelConfig]
    entries: list[PlanEntry]
    hashes: dict[tuple[str, str], str]  # (model id, benchmark) -> config hash
    notes: list[str] = field(default_factory=list)  # what loading left out, for the user

    def cells(self) -> Iterator[PlannedCell]:
        """Cells interleaved item by item across models, so partial runs stay balanced."""
        for bench in self.benchmarks:
            models = [bench.model(m) for m in self.models]
            for item in bench.items:
                item_hash = item.content_hash()
                for sample in range(bench.samples):
                    for model in models:
                        chash = self.hashes[(model.id, bench.name)]
                        yield PlannedCell(
                            key=CellKey(
                                model.id,
                                bench.name,
                                item.id,
                                sample,
                                fingerprint(chash, item.id, item_hash),
                            ),
                            item=item,
                            item_hash=item_hash,
                            model=model,
                            config_hash=chash,
                            benchmark_version=bench.version,
                        )

    @property
    def total(self) -> int:
        return sum(e.planned for e in self.entries)


def _with_ids(benchmark: str, items: list[Item], ids: tuple[str, ...]) -> list[Item]:
    """The items with these ids, in official order; DataError naming any id not found."""
    missing = sorted(set(ids) - {item.id for item in items})
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(f"{benchmark}: no item with id {shown} among the selected items")
    wanted = set(ids)
    return [item for item in items if item.id in wanted]


def build_plan(config: Config, *, judge: object | None = None) -> Plan:
    """Load every configured benchmark's items and enumerate the cells."""
    bench_plans: list[BenchmarkPlan] = []
    notes: list[str] = []
    for bench_cfg in config.benchmarks:
        bench = benchmarks.get(bench_cfg.name).with_options(bench_cfg.options)
        if getattr(bench, "needs_user_simulator", False):  # τ²-bench: its user's model
            bench = bench.with_user_simulator(config)  # type: ignore[attr-defined]
        items = list(bench.items(bench_cfg.selection()))[bench_cfg.offset:]
        if bench_cfg.ids:
            items = _with_ids(bench.name, items, bench_cfg.ids)
        notes += getattr(bench, "load_notes", list)()
        grader = bench.grader(judge)  # type: ignore[arg-type]
        bench_plans.append(
            BenchmarkPlan(bench.name, bench.version, items, bench_cfg.samples, grader,
                          bench_cfg.temperature, getattr(bench, "simulate", None),
                          more_calls=bench.needs_judge
                          or bool(getattr(bench, "needs_user_simulator", False)))
        )
    entries: list[PlanEntry] = []
    hashes: dict[tuple[str, str], str] = {}
    for bench_plan in bench_plans:
        for model in config.models:
            provider = config.provider_for(model)
            chash = config_hash(bench_plan.model(model), provider, bench_plan.name,
                                bench_plan.version)
            hashes[(model.id, bench_plan.name)] = chash
            entries.append(
                PlanEntry(
                    model.id,
                    bench_plan.name,
                    chash,
                    bench_plan.version,
                    len(bench_plan.items) * bench_plan.samples,
                )
            )
    return Plan(bench_plans, list(config.models), entries, hashes, notes)
