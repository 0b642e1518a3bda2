"""Throughput of the simulated provider at --latency-scale 0 (prints figures, asserts nothing).

The server runs in its own process (one core); a load generator in this process keeps
CONCURRENCY aiohttp requests in flight over loopback with recognised HumanEval prompts and a
request log on disk, so the figure includes JSON parsing, the index lookup, the log write and the
response encoding. The generator shares the machine, so the figure is a lower bound.

    .venv/bin/python perf/sim_throughput.py [REQUESTS] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

import benchmarks
from avp_harness.sim.server import SimServer


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(base_url: str, bodies: list[dict], total: int, concurrency: int) -> float:
    """Send `total` requests, `concurrency` at a time; return the elapsed seconds."""
    queue = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm-up: the first request waits for the server's item index
        async with session.post(f"{base_url}/chat/completions", json=bodies[0]) as r:
            assert r.status == 200, await r.text()

        async def worker() -> None:
            for i in queue:
                async with session.post(
                    f"{base_url}/chat/completions", json=bodies[i % len(bodies)]
                ) as r:
                    await r.read()
                    assert r.status == 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


async def measure(
    base_url: str, bodies: list[dict], total: int, concurrency: int, pid: int
) -> tuple[float, float]:
    """(elapsed seconds, server CPU seconds) for one load run after a warm-up run."""
    await load(base_url, bodies, min(total, 2000), concurrency)
    cpu_before = cpu_seconds(pid)
    elapsed = await load(base_url, bodies, total, concurrency)
    return elapsed, cpu_seconds(pid) - cpu_before


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    items = list(benchmarks.get("humaneval").items(benchmarks.Selection()))
    models = ["sim/atlas-xl", "sim/flash-mini", "sim/coder-7b", "sim/reasoner-r1", "sim/mid-pro"]
    bodies = [
        {"model": m, "messages": [x.as_dict() for x in it.messages], "seed": s}
        for it in items
        for m in models
        for s in range(2)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        with SimServer(latency_scale=0, log_path=log, index_only=["humaneval"]) as sim:
            pid = sim.pid
            assert pid is not None
            elapsed, cpu = asyncio.run(measure(sim.base_url, bodies, total, concurrency, pid))
            lines = sum(1 for _ in log.open())
    print(f"requests: {total}  concurrency: {concurrency}  elapsed: {elapsed:.2f} s")
    print(f"throughput: {total / elapsed:.0f} req/s  (log lines on disk: {lines})")
    per_request = cpu / total
    print(
        f"server CPU: {per_request * 1e6:.0f} us/request -> "
        f"{1 / per_request:.0f} req/s on one core if the client were free"
    )


if __name__ == "__main__":
    main()
