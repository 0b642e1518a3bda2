"""`avp serve` overhead against the zero-latency simulator (prints figures, asserts nothing).

In one run: a store with a TF-IDF router fitted on synthetic records (3 models), the simulator at
--latency-scale 0 in its own process, `avp serve` in its own process, and a load generator here
using the official `openai.AsyncOpenAI` client.

- throughput: REQUESTS chat completions, CONCURRENCY in flight, straight to the simulator (the
  bare client) and through `avp serve` (model `avp/main`: embedded, routed, forwarded through
  the gateway, recorded in the store), in three alternated rounds; the ratio of the medians.
  Target >= 70%. The load generator is one process (the openai client's CPU included), as a
  client of either would be.
- added latency per request, excluding the routing decision: sequential requests, each query sent
  straight then through the server in turn; added = through - straight - the server's own
  embedding + routing time (its `x-avp-route-ms` header), p50 / p99. Target p50 < 2 ms.

    .venv/bin/python perf/serve.py [REQUESTS] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avp_harness.cli import main as avp  # noqa: E402
from avp_harness.sim.server import SimServer  # noqa: E402

WORDS = ["solve", "equation", "polynomial", "poem", "sea", "moon", "python", "function", "sort",
         "list", "river", "train", "stone", "cloud", "engine", "letter", "apple", "number",
         "rhyme", "verse", "algebra"]
ROUNDS = 3
MODELS = {"small": ("sim/flash-mini", 0.1), "medium": ("sim/mid-pro", 0.8),
          "large": ("sim/atlas-xl", 5.0)}


def records(n: int = 300) -> str:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        words = rng.choice(WORDS, 8)
        skill = {"small": 0.3 + 0.6 * ("poem" in words), "medium": 0.6, "large": 0.9}
        lines.append(json.dumps({
            "query": " ".join(words), "dataset": "synthetic", "index": i,
            "records": {m: float(rng.uniform() < skill[m]) for m in MODELS},
            "usages": {m: {"cost": MODELS[m][1] / 1000} for m in MODELS},
        }))
    return "\n".join(lines) + "\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config(base_url: str, db: str) -> str:
    lines = [f'db = "{db}"', "[providers.sim]", f'base_url = "{base_url}"',
             "max_concurrency = 256"]
    for model_id, (sim_id, price) in MODELS.items():
        lines += ["[[models]]", f'id = "{model_id}"', 'provider = "sim"', f'model = "{sim_id}"',
                  f'price = {{ input_per_m = {price}, output_per_m = {price * 4}, '
                  'date = "2026-11-01" }']
    return "\n".join(lines) + "\n"


def start_serve(tmp: Path, toml: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    ready = tmp / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "avp_harness.cli", "serve", "main", "--config", str(toml),
         *options, "--port", "0", "--ready-file", str(ready)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(tmp / "serve.err").open("wb"))
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"avp serve did not start: {(tmp / 'serve.err').read_text()}")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{int(ready.read_text())}/v1"


async def throughput(base_url: str, model: str | None, queries: list[str], total: int,
                     concurrency: int) -> float:
    """Requests a second with `concurrency` in flight (model None: the query's own sim model)."""
    async with openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0,
                                  timeout=60) as client:
        sims = [v[0] for v in MODELS.values()]
        work = iter(range(total))

        async def worker() -> None:
            for i in work:
                await client.chat.completions.create(
                    model=model or sims[i % len(sims)],
                    messages=[{"role": "user", "content": queries[i % len(queries)]}])

        work = iter(range(min(total, 500)))  # warm-up
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        work = iter(range(total))
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


async def added_latency(sim_url: str, serve_url: str, queries: list[str],
                        n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per request: through - straight - route time (ms), and the route time (ms)."""
    added, route = [], []
    async with openai.AsyncOpenAI(base_url=sim_url, api_key="none", max_retries=0) as bare, \
            openai.AsyncOpenAI(base_url=serve_url, api_key="none", max_retries=0) as served:
        for i in range(n + 50):
            messages: Any = [{"role": "user", "content": queries[i % len(queries)]}]
            t0 = time.perf_counter()
            raw = await served.chat.completions.with_raw_response.create(model="avp/main",
                                                                         messages=messages)
            t1 = time.perf_counter()
            await bare.chat.completions.create(model=MODELS[raw.headers["x-avp-model"]][0],
                                               messages=messages)
            t2 = time.perf_counter()
            if i >= 50:  # warm-up left out
                routed = float(raw.headers["x-avp-route-ms"])
                added.append((t1 - t0) * 1000 - (t2 - t1) * 1000 - routed)
                route.append(routed)
    return np.array(added), np.array(route)


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(WORDS, 10)) for _ in range(500)]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        db = str(tmp / "runs.db")
        (tmp / "records.jsonl").write_text(records())
        quiet = open(os.devnull, "w")  # noqa: SIM115
        stdout, sys.stdout = sys.stdout, quiet
        try:
            avp(["import", "avengers-pro", str(tmp / "records.jsonl"), "--db", db])
            avp(["fit", "--name", "main", "--embedding", "tfidf", "--clusters", "8", "--db", db])
        finally:
            sys.stdout = stdout
        with SimServer(latency_scale=0, index_only=[]) as sim:
            toml = tmp / "avp.toml"
            toml.write_text(config(sim.base_url, db))
            proc, serve_url = start_serve(tmp, toml)
            try:
                bares, throughs = [], []
                serve_cpu = sim_cpu = 0.0
                assert sim.pid is not None
                client_cpu = 0.0
                for _ in range(ROUNDS):  # alternated: a burst of load elsewhere hits both
                    mine = cpu_seconds(os.getpid())
                    bares.append(asyncio.run(throughput(sim.base_url, None, queries,
                                                        total // ROUNDS, concurrency)))
                    client_cpu += cpu_seconds(os.getpid()) - mine
                    before = cpu_seconds(proc.pid), cpu_seconds(sim.pid)
                    throughs.append(asyncio.run(throughput(serve_url, "avp/main", queries,
                                                           total // ROUNDS, concurrency)))
                    serve_cpu += cpu_seconds(proc.pid) - before[0]
                    sim_cpu += cpu_seconds(sim.pid) - before[1]
                bare, through = float(np.median(bares)), float(np.median(throughs))
                added, route = asyncio.run(added_latency(sim.base_url, serve_url, queries, 500))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    print(f"requests: {total}  concurrency: {concurrency}  (simulator at zero latency)")
    print(f"bare client -> simulator:        {bare:7.0f} req/s")
    print(f"client -> avp serve -> simulator: {through:7.0f} req/s")
    ratios = ", ".join(f"{t / b:.0%}" for b, t in zip(bares, throughs, strict=True))
    print(f"throughput ratio: {through / bare:.0%} of medians over {ROUNDS} alternated rounds "
          f"(each round: {ratios})  (target >= 70%)")
    n = ROUNDS * (total // ROUNDS + min(total // ROUNDS, 500))  # with the warm-ups
    print(f"CPU per request through avp serve: server {serve_cpu / n * 1e6:.0f} us, simulator "
          f"{sim_cpu / n * 1e6:.0f} us; the bare client's own: {client_cpu / n * 1e6:.0f} us")
    p50, p99 = np.percentile(added, [50, 99])
    r50, r99 = np.percentile(route, [50, 99])
    print(f"added latency excluding embedding+routing, {len(added)} sequential requests: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms  (target p50 < 2 ms)")
    print(f"embedding + routing in the server (x-avp-route-ms): p50 {r50:.2f} ms, "
          f"p99 {r99:.2f} ms")


if __name__ == "__main__":
    main()
