"""JiSi's aggregator calls as planned cells (`avp aggregate`).

    plan = aggregation_plan(config, aggregations, judge=judge)   # aggregations: avp compare's
    summary = await Collector(config, store).run(plan)          # claimed, paid once, graded

Each `Aggregation` (the aggregator model, an item, A^f's responses best first) becomes one cell:
model = the aggregator, benchmark `<benchmark>@jisi`, item `<item id>~<candidate set>` whose one
user message is `aggregation_prompt(question, responses)`, target and metadata the item's own,
graded by the benchmark's grader. The collector makes them like every cell: through the model
gateway (limits, retries, budget), persisted before grading, claimed so concurrent collectors do
not duplicate them, skipped when already ok (so a resumed or repeated `avp aggregate` pays for
none twice).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from avp_harness.aggregation import (
    AGGREGATE_SUFFIX,
    AGGREGATION_PROMPT_VERSION,
    Aggregation,
    aggregation_prompt,
)
from avp_harness.collect.plan import BenchmarkPlan, Plan, PlannedCell, build_plan, config_hash
from avp_harness.collect.plan import fingerprint as cell_fingerprint
from avp_harness.config import Config, ModelConfig
from avp_harness.store import PlanEntry
from avp_harness.types import CellKey, Item, Message


@dataclass
class AggregationPlan(Plan):
    """A plan whose items each have one model: their aggregator."""

    aggregator: dict[tuple[str, str], ModelConfig] = field(default_factory=dict)

    def cells(self) -> Iterator[PlannedCell]:
        for bench in self.benchmarks:
            for item in bench.items:
                model = self.aggregator[(bench.name, item.id)]
                chash = self.hashes[(model.id, bench.name)]
                item_hash = item.content_hash()
                yield PlannedCell(
                    key=CellKey(model.id, bench.name, item.id, 0,
                                cell_fingerprint(chash, item.id, item_hash)),
                    item=item, item_hash=item_hash, model=model, config_hash=chash,
                    benchmark_version=bench.version,
                )


def aggregation_item(item: Item, aggregation: Aggregation) -> Item:
    """The item the aggregator is asked: the aggregation prompt as its one user message."""
    prompt = aggregation_prompt(item.prompt_text, aggregation.responses)
    return replace(item, id=aggregation.cell_item_id, dataset=aggregation.cell_benchmark,
                   messages=(Message("user", prompt),))


def aggregation_plan(
    config: Config, aggregations: Sequence[Aggregation], *, judge: object | None = None
) -> AggregationPlan:
    """The cells of `aggregations` (duplicates made once), on the config's benchmarks and
    models; an aggregation whose item or model the config lacks is left out with a note."""
    base = build_plan(config, judge=judge)
    models = {m.id: m for m in config.models}
    items = {(b.name, i.id): i for b in base.benchmarks for i in b.items}
    notes = list(base.notes)
    per_bench: dict[str, dict[str, tuple[Item, ModelConfig]]] = {}
    lacking: dict[str, int] = {}
    for a in aggregations:
        item, model = items.get((a.benchmark, a.item_id)), models.get(a.aggregator)
        if item is None or model is None:
            why = (f"item {a.benchmark}/{a.item_id}" if item is None
                   else f"aggregator model {a.aggregator}")
            lacking[why] = lacking.get(why, 0) + 1
            continue
        per_bench.setdefault(a.benchmark, {})[a.cell_item_id] = (aggregation_item(item, a), model)
    for why, count in lacking.items():
        notes.append(f"{count} aggregator call(s) left out: {why} is not in the config")
    bench_plans: list[BenchmarkPlan] = []
    entries: list[PlanEntry] = []
    hashes: dict[tuple[str, str], str] = {}
    aggregator: dict[tuple[str, str], ModelConfig] = {}
    used: dict[str, ModelConfig] = {}
    for source in base.benchmarks:
        cells = per_bench.get(source.name)
        if not cells:
            continue
        name = source.name + AGGREGATE_SUFFIX
        version = f"{source.version}+{AGGREGATION_PROMPT_VERSION}"
        bench_plans.append(BenchmarkPlan(name, version, [i for i, _ in cells.values()], 1,
                                         source.grader))
        counts: dict[str, int] = {}
        for item, model in cells.values():
            aggregator[(name, item.id)] = model
            counts[model.id] = counts.get(model.id, 0) + 1
            used[model.id] = model
            if (model.id, name) not in hashes:
                hashes[(model.id, name)] = config_hash(model, config.provider_for(model), name,
                                                       version)
        entries += [PlanEntry(m, name, hashes[(m, name)], version, n) for m, n in counts.items()]
    return AggregationPlan(bench_plans, list(used.values()), entries, hashes, notes,
                           aggregator=aggregator)
