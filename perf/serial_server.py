"""A one-at-a-time server: generations per answer, as measured in one run.

    .venv/bin/python perf/serial_server.py [--answers 40] [--generation-s 0.1] [--timeout-s 1.0]

The simulated provider runs with `--serial` (one generation at a time; a request whose client gave
up is generated anyway, as llama-cpp-python does). The collector asks for `--answers` cells with
  1. the default configuration of a provider on 127.0.0.1 (4 in flight),
  2. max_concurrency 16, the old default (the issue: 74 generations for 40 answers), adapted by
     the timeouts it meets,
  3. the same without timeout adaptation (timeouts only counted: the behaviour before).
For each it prints the generations the server made (from its own counters), the answers, the
wasted generations the run summary counted, the final concurrency bound, the wall time, and the
mean request latency over the server's own timing (queueing included / excluded). Figures are
printed, never asserted: compare them side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from avp_harness.collect.runner import Collector
from avp_harness.config import config_from_dict
from avp_harness.sim.server import ServerModes, SimServer
from avp_harness.store import Store

MODELS = ("sim/atlas-xl", "sim/flash-mini")


def config(base_url: str, db: str, answers: int, timeout_s: float, concurrency: int | None) -> Any:
    provider: dict[str, Any] = {"base_url": base_url, "timeout_s": timeout_s}
    if concurrency is not None:
        provider["max_concurrency"] = concurrency
    return config_from_dict({
        "db": db,
        "providers": {"local": provider},
        "models": [{"id": m, "provider": "local"} for m in MODELS],
        "benchmarks": [{"name": "arc_agi", "limit": answers // len(MODELS)}],
    }, None)


async def run(server: SimServer, db: str, answers: int, timeout_s: float,
              concurrency: int | None, adapt: bool = True) -> None:
    cfg = config(server.base_url, db, answers, timeout_s, concurrency)
    before = server.stats()
    started = time.perf_counter()
    store = Store.open(db)
    try:
        collector = Collector(cfg, store)
        if not adapt:  # the behaviour before: timeouts counted, the bound left alone
            limits = collector._client_for(cfg.models[0])[1]

            def count_only(sent_at: float) -> bool:
                limits.timeouts += 1
                return False

            limits.on_timeout = count_only  # type: ignore[method-assign]
        summary = await collector.run()
        rows = [r for r in store.cells(limit=100_000) if r.status == "ok"]
    finally:
        store.close()
    wall = time.perf_counter() - started
    after = server.stats()
    generated = after["requests"] - before["requests"]
    limits = collector.limits["local"]
    latency = sum(r.latency_s or 0.0 for r in rows) / max(len(rows), 1)
    server_s = sum(r.server_time_s or 0.0 for r in rows) / max(len(rows), 1)
    label = f"max_concurrency {cfg.providers['local'].max_concurrency}"
    label += " (local default)" if concurrency is None else ""
    label += "" if adapt else ", timeouts not adapted to (before)"
    print(f"{label}: {generated} generations for {summary.ok} answers "
          f"({generated / max(summary.ok, 1):.2f} per answer), {summary.timed_out} counted as "
          f"wasted, {limits.late_timeouts if adapt else '?'} timeouts after the first wave; "
          f"bound now "
          f"{limits.concurrency}; {wall:.1f}s; request latency / server time "
          f"{latency / server_s if server_s else float('nan'):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=40)
    parser.add_argument("--generation-s", type=float, default=0.1)
    parser.add_argument("--timeout-s", type=float, default=1.0)
    args = parser.parse_args()
    modes = ServerModes(serial=True, generation_s=args.generation_s)
    with tempfile.TemporaryDirectory() as folder, SimServer(
        latency_scale=0.0, index_only=["arc_agi"], modes=modes
    ) as server:
        print(f"serial server, {args.generation_s:g}s a generation, client timeout "
              f"{args.timeout_s:g}s, {args.answers} answers")
        for i, (concurrency, adapt) in enumerate(((None, True), (16, True), (16, False))):
            db = str(Path(folder) / f"runs{i}.db")
            asyncio.run(run(server, db, args.answers, args.timeout_s, concurrency, adapt))


if __name__ == "__main__":
    main()
