"""τ²-bench simulations on the simulated provider: throughput and the time outside LLM calls.

    .venv/bin/python perf/tau2_sims.py [--simulations 24] [--concurrency 8] [--latency-scale 0.2]

Runs `--simulations` τ² simulations (airline and retail tasks, a simulated skilled or unskilled
agent against the simulated user) through the collector's model-call layer, `--concurrency` at a
time, then grades each with τ²'s evaluator, and prints:

1. simulations per minute (simulation only, and simulation + grading);
2. the share of a simulation's wall time spent outside its LLM calls: τ²'s orchestrator, its
   environment (database loading, tools), our bridge between its thread and the event loop, the
   GIL shared by the concurrent simulations (target < 20% at realistic latency);
3. the grading time per simulation (τ²'s evaluator replays the reference actions on fresh
   environments: CPU only).

At --latency-scale 0 the calls take about a millisecond, so the share outside them is the
harness's floor cost per simulation, shown as seconds too. Figures are printed, never asserted.
Needs the tau2 extra (`pip install -e '.[tau2]'`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from avp_harness.collect.runner import Collector
from avp_harness.config import config_from_dict
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from benchmarks import Selection
from benchmarks.tau2 import BENCHMARK, package_version


async def measure(base_url: str, db: str, simulations: int, concurrency: int) -> dict[str, Any]:
    config = config_from_dict({
        "providers": {"sim": {"base_url": base_url, "max_concurrency": 64,
                              "request_cost": True}},
        "models": [{"id": "sim/atlas-xl", "provider": "sim"}],
        "user_simulator": {"id": "sim/mid-pro", "provider": "sim"},
    })
    per_domain = (simulations + 1) // 2
    bench = BENCHMARK.with_options({"domains": ["airline", "retail"], "per_domain": per_domain})
    bench = bench.with_user_simulator(config)
    items = list(bench.items(Selection(limit=simulations)))
    grader = bench.grader()
    with Store.open(db) as store:
        collector = Collector(config, store)
        gate = asyncio.Semaphore(concurrency)
        model = config.models[0]
        grading: list[float] = []

        async def one(item: Any) -> Any:
            async with gate:
                outcome = await bench.simulate(item, model, 0, collector.gateway)
            assert outcome.completion is not None, outcome.decision
            started = time.perf_counter()
            await grader(item, outcome.completion)
            grading.append(time.perf_counter() - started)
            return outcome.completion

        started = time.perf_counter()
        completions = await asyncio.gather(*(one(item) for item in items))
        wall = time.perf_counter() - started
        await collector.gateway.close()
    shares = [(c.latency_s - c.raw["llm_wait_s"]) / c.latency_s for c in completions]
    outside = [c.latency_s - c.raw["llm_wait_s"] for c in completions]
    sim_time = sum(c.latency_s for c in completions) / concurrency
    return {"wall": wall, "sim_time": sim_time, "shares": shares, "outside": outside,
            "grading": grading, "n": len(items),
            "calls": statistics.mean(c.raw["agent_calls"] + c.raw["user_calls"]
                                     for c in completions)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-scale", type=float, default=0.2)
    args = parser.parse_args()
    if package_version() is None:
        print("perf/tau2_sims.py: the tau2 extra is not installed (pip install -e '.[tau2]')",
              file=sys.stderr)
        return 2
    list(BENCHMARK.items(Selection(limit=1)))  # import τ² before the clock starts
    with tempfile.TemporaryDirectory() as tmp, SimServer(
        latency_scale=args.latency_scale, log_path=Path(tmp) / "log.jsonl", index_only=["tau2"]
    ) as server:
        figures = asyncio.run(measure(server.base_url, str(Path(tmp) / "runs.db"),
                                      args.simulations, args.concurrency))
    n, wall = figures["n"], figures["wall"]
    print(f"τ² on the simulator: {n} simulations, concurrency {args.concurrency}, latency scale "
          f"{args.latency_scale:g}, {figures['calls']:.1f} LLM calls per simulation")
    print(f"  simulations + grading per minute: {60 * n / wall:.1f} ({wall:.1f} s wall)")
    print(f"  share of a simulation's wall time outside LLM calls: median "
          f"{statistics.median(figures['shares']):.0%}, max {max(figures['shares']):.0%} "
          f"(target < 20% at realistic latency); median seconds outside: "
          f"{statistics.median(figures['outside']):.2f}")
    print(f"  grading (τ²'s evaluator) per simulation: median "
          f"{statistics.median(figures['grading']):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
