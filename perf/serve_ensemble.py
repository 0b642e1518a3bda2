"""`avp serve` for an ensemble router against the zero-latency simulator (prints figures, asserts
nothing): what serving Self-Consistency adds on top of the calls it makes.

In one run: an Avengers router fitted on synthetic records (perf/serve.py's), the simulator at
--latency-scale 0, `avp serve main --samples N` in its own process, and a load generator here
using the official `openai.AsyncOpenAI` client. Per query the bare client makes the same N sample
calls straight to the simulator (at once, seeds 1..N-1 as the server sends them); through
`avp serve` one request makes them (embedded, routed, N gateway calls, the vote, recorded).
Printed: queries a second both ways and their ratio (medians of alternated rounds), and the
server's CPU per query and per model call.

    .venv/bin/python perf/serve_ensemble.py [QUERIES] [CONCURRENCY] [SAMPLES]
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avp_harness.cli import main as avp  # noqa: E402
from avp_harness.sim.server import SimServer  # noqa: E402

_spec = importlib.util.spec_from_file_location("perf_serve", ROOT / "perf" / "serve.py")
assert _spec is not None and _spec.loader is not None
serve_perf: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve_perf)  # records(), config(), start_serve(), WORDS, MODELS, ...
ROUNDS = 3


async def rate(url: str, served: bool, queries: list[str], total: int, concurrency: int,
               samples: int, top: dict[str, str]) -> float:
    """Queries a second, `concurrency` in flight; bare: the N sample calls of each at once."""
    async with openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0,
                                  timeout=120) as client:
        async def one(i: int) -> None:
            messages: Any = [{"role": "user", "content": queries[i % len(queries)]}]
            if served:
                await client.chat.completions.create(model="avp/main", messages=messages)
                return
            model = top[queries[i % len(queries)]]
            await asyncio.gather(*(client.chat.completions.create(
                model=model, messages=messages, temperature=0.7,
                **({"seed": k} if k else {})) for k in range(samples)))

        async def worker(work: Any) -> None:
            for i in work:
                await one(i)

        warm = iter(range(min(total, 50)))
        await asyncio.gather(*(worker(warm) for _ in range(concurrency)))
        work = iter(range(total))
        started = time.perf_counter()
        await asyncio.gather(*(worker(work) for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


async def top_models(url: str, queries: list[str]) -> dict[str, str]:
    """The simulator id of each query's top model, as the server routes it."""
    sims = {k: v[0] for k, v in serve_perf.MODELS.items()}
    async with openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0) as client:
        out = {}
        for q in queries:
            reply = await client.chat.completions.create(
                model="avp/main", messages=[{"role": "user", "content": q}])
            out[q] = sims[reply.model]
        return out


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(serve_perf.WORDS, 10)) for _ in range(100)]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        db = str(tmp / "runs.db")
        (tmp / "records.jsonl").write_text(serve_perf.records())
        quiet = open(os.devnull, "w")  # noqa: SIM115
        stdout, sys.stdout = sys.stdout, quiet
        try:
            avp(["import", "avengers-pro", str(tmp / "records.jsonl"), "--db", db])
            avp(["fit", "--name", "main", "--kind", "avengers", "--embedding", "tfidf",
                 "--clusters", "8", "--db", db])
        finally:
            sys.stdout = stdout
        with SimServer(latency_scale=0, index_only=[]) as sim:
            toml = tmp / "avp.toml"
            toml.write_text(serve_perf.config(sim.base_url, db))
            proc, url = serve_perf.start_serve(tmp, toml, "--samples", str(samples))
            try:
                top = asyncio.run(top_models(url, queries))
                bares, throughs, cpu = [], [], 0.0
                for _ in range(ROUNDS):  # alternated: a burst of load elsewhere hits both
                    bares.append(asyncio.run(rate(sim.base_url, False, queries, total // ROUNDS,
                                                  concurrency, samples, top)))
                    before = serve_perf.cpu_seconds(proc.pid)
                    throughs.append(asyncio.run(rate(url, True, queries, total // ROUNDS,
                                                     concurrency, samples, top)))
                    cpu += serve_perf.cpu_seconds(proc.pid) - before
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    bare, through = float(np.median(bares)), float(np.median(throughs))
    n = ROUNDS * (total // ROUNDS + min(total // ROUNDS, 50))
    print(f"Self-Consistency, {samples} samples a query; {total} queries, {concurrency} in flight "
          "(simulator at zero latency)")
    print(f"bare client, {samples} calls a query -> simulator: {bare:6.1f} queries/s")
    print(f"client -> avp serve (SC) -> simulator:        {through:6.1f} queries/s")
    print(f"ratio: {through / bare:.0%} of medians over {ROUNDS} alternated rounds")
    print(f"avp serve CPU: {cpu / n * 1e3:.2f} ms a query, {cpu / n / samples * 1e3:.3f} ms a "
          "model call (embedding, routing, gateway calls, vote, record)")


if __name__ == "__main__":
    main()
