"""Refresh cost of the TUI's live screen on a store with 1,000,000 cells.

    .venv/bin/python perf/tui.py [--cells 1000000] [--db PATH] [--refreshes 20]

Builds (or reuses) a store of synthetic cells: 20 models x 10 benchmarks x 5,000 items, 2% failed,
written with the bulk writer. Then it measures, and prints:

- the first refresh (one GROUP BY over the whole table, done once when the screen opens);
- steady refreshes with a concurrent writer's worth of change between them: 500 new cells and 100
  failed cells retried to ok per refresh (what a busy collector commits in a second);
- idle refreshes (nothing changed);
- for comparison, `Store.matrix()` (the full GROUP BY `avp status` uses) per call.

Target: a steady refresh under 100 ms, so the screen stays responsive on large runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avp_harness.store import PlanEntry, Store  # noqa: E402
from avp_harness.store.cells import LiveAggregator, bulk_insert_cells  # noqa: E402
from avp_harness.store.tables import CellRecord  # noqa: E402
from avp_harness.types import (  # noqa: E402
    CellKey,
    CellResult,
    Completion,
    CostSource,
    Grade,
    Status,
    Usage,
)

MODELS = [f"perf/model-{i:02d}" for i in range(20)]
BENCHES = [f"bench{j}" for j in range(10)]


def rows(n: int):  # type: ignore[no-untyped-def]
    per_pair = n // (len(MODELS) * len(BENCHES))
    now = time.time() - 3600
    k = 0
    for m in MODELS:
        for b in BENCHES:
            for i in range(per_pair):
                failed = k % 50 == 0
                k += 1
                yield {
                    "model": m, "benchmark": b, "item_id": f"{b}-{i}", "sample": 0,
                    "fingerprint": f"{m}|{b}|{i}", "config_hash": f"{m}|{b}",
                    "benchmark_version": "1", "item_hash": f"h{i}", "run_id": 1,
                    "status": "error" if failed else "ok", "attempts": 1,
                    "error": "boom" if failed else None, "started_at": now, "finished_at": now,
                    "prompt_tokens": 100, "completion_tokens": 50, "reasoning_tokens": 0,
                    "cached_tokens": 0, "cost": None if failed else 0.0001 * (1 + k % 7),
                    "cost_source": "reported", "latency_s": 0.5,
                    "score": None if failed else float(k % 3 == 0),
                    "parsed": None if failed else True,
                }


def build(db: str, n: int) -> None:
    with Store.open(db) as store:
        if store.count_cells() >= n:
            return
        start = time.perf_counter()
        written = bulk_insert_cells(store, rows(n))
        per_pair = n // (len(MODELS) * len(BENCHES))
        store.start_run([PlanEntry(m, b, f"{m}|{b}", "1", per_pair + 1000)
                         for m in MODELS for b in BENCHES])
        print(f"built {written:,} cells in {time.perf_counter() - start:.1f}s")


def churn(store: Store, step: int, failed: list[CellRecord]) -> None:
    """What a collector commits between two refreshes: 500 new cells, 100 retries turning ok."""
    now = time.time()
    results = []
    for i in range(500):
        m, b = MODELS[i % 20], BENCHES[(i // 20) % 10]
        item = f"new-{step}-{i}"
        results.append(_result(m, b, item, f"{m}|{b}|{item}", Status.OK, now))
    store.record_results(results)
    retried = []
    for cell in failed[step * 100 : (step + 1) * 100]:
        retried.append(_result(cell.model, cell.benchmark, cell.item_id, cell.fingerprint,
                               Status.OK, now))
    store.record_results(retried)


def _result(model: str, bench: str, item: str, fp: str, status: Status, now: float) -> CellResult:
    return CellResult(
        key=CellKey(model, bench, item, 0, fp), benchmark_version="1",
        config_hash=f"{model}|{bench}", item_hash="h", status=status, attempts=1,
        started_at=now, finished_at=now, run_id=2,
        completion=Completion("x", Usage(100, 50), 0.0002, CostSource.REPORTED, 0.3, "stop"),
        grade=Grade(1.0, "x", "", "perf", "1"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="reuse this store (default: a temp folder)")
    parser.add_argument("--refreshes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "perf-tui.db")
        build(db, args.cells)
        with Store.open(db) as store:
            failed = store.cells(status="error", limit=args.refreshes * 100)
            live = LiveAggregator(store)
            t0 = time.perf_counter()
            snap = live.refresh()
            first = (time.perf_counter() - t0) * 1000
            print(f"store: {snap.total_cells:,} cells, {len(snap.cells)} grid cells, "
                  f"{len(live.failed):,} failed")
            print(f"first refresh (full read, once): {first:.0f} ms")
            steady = []
            for step in range(args.refreshes):
                churn(store, step, failed)
                t0 = time.perf_counter()
                snap = live.refresh()
                steady.append((time.perf_counter() - t0) * 1000)
            idle = []
            for _ in range(args.refreshes):
                t0 = time.perf_counter()
                live.refresh()
                idle.append((time.perf_counter() - t0) * 1000)
            print(f"steady refresh (+500 new, 100 retried per refresh): median "
                  f"{statistics.median(steady):.1f} ms, max {max(steady):.1f} ms "
                  f"(target < 100 ms)")
            print(f"idle refresh: median {statistics.median(idle):.1f} ms")
            t0 = time.perf_counter()
            store.matrix()
            print(f"for comparison, full Store.matrix() GROUP BY: "
                  f"{(time.perf_counter() - t0) * 1000:.0f} ms per call")


if __name__ == "__main__":
    main()
