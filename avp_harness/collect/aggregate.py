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
    """A plan whose cells are (item, aggregator) pairs, not every model on every item."""

    pairs: list[tuple[str, str, ModelConfig]] = field(default_factory=list)  # bench, item, model

    def cells(self) -> Iterator[PlannedCell]:
        benches = {b.name: b for b in self.benchmarks}
        items = {(b.name, i.id): i for b in self.benchmarks for i in b.items}
        for bench_name, item_id, model in self.pairs:
            item, bench = items[(bench_name, item_id)], benches[bench_name]
            chash = self.hashes[(model.id, bench_name)]
            item_hash = item.content_hash()
            yield PlannedCell(
                key=CellKey(model.id, bench_name, item.id, 0,
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
    wanted: dict[str, dict[tuple[str, str], Aggregation]] = {}  # bench -> (cell item, model)
    lacking: dict[str, int] = {}
    for a in aggregations:
        if (a.benchmark, a.item_id) not in items or a.aggregator not in models:
            why = (f"item {a.benchmark}/{a.item_id}" if (a.benchmark, a.item_id) not in items
                   else f"aggregator model {a.aggregator}")
            lacking[why] = lacking.get(why, 0) + 1
            continue
        wanted.setdefault(a.benchmark, {})[(a.cell_item_id, a.aggregator)] = a
    for why, count in lacking.items():
        notes.append(f"{count} aggregator call(s) left out: {why} is not in the config")
    bench_plans: list[BenchmarkPlan] = []
    entries: list[PlanEntry] = []
    hashes: dict[tuple[str, str], str] = {}
    pairs: list[tuple[str, str, ModelConfig]] = []
    used: dict[str, ModelConfig] = {}
    for source in base.benchmarks:
        asked = wanted.get(source.name)
        if not asked:
            continue
        name = source.name + AGGREGATE_SUFFIX
        version = f"{source.version}+{AGGREGATION_PROMPT_VERSION}"
        cell_items: dict[str, Item] = {}
        counts: dict[str, int] = {}
        for (cell_id, model_id), a in asked.items():
            model = used[model_id] = models[model_id]
            if cell_id not in cell_items:
                cell_items[cell_id] = aggregation_item(items[(a.benchmark, a.item_id)], a)
            pairs.append((name, cell_id, model))
            counts[model_id] = counts.get(model_id, 0) + 1
            if (model_id, name) not in hashes:
                hashes[(model_id, name)] = config_hash(model, config.provider_for(model), name,
                                                       version)
        bench_plans.append(BenchmarkPlan(name, version, list(cell_items.values()), 1,
                                         source.grader, more_calls=source.more_calls))
        entries += [PlanEntry(m, name, hashes[(m, name)], version, n) for m, n in counts.items()]
    return AggregationPlan(bench_plans, list(used.values()), entries, hashes, notes, pairs=pairs)
