"""Collector throughput against the simulated provider, as ratios measured in one run.

    .venv/bin/python perf/collector.py [--cells 2000] [--concurrency 32] [--rpm 3000]

1. Ceiling: the bare `openai.AsyncOpenAI` client sends the same requests to the same server with
   the same concurrency and does nothing else.
   A second ceiling sends them the way the gateway does (`HttpPost`: the plain JSON body on
   aiohttp, the answer read as JSON, no SDK TypedDict walk, response models or httpx) and does
   nothing else.
2. No latency: the full collector (limits, retries, ARC grading, SQLite commits) on the same cells.
   Target: >= 90% of the SDK ceiling; the ratio to the lean ceiling is the collector's own cost.
3. Rate limit: the collector under an RPM limit. Target: >= 95% of the theoretical maximum, which
   for an aiolimiter bucket of one second's worth of requests is the time to drain
   (cells - bucket) at RPM/60 a second.
4. Scale-out (`--scale-out`): 1 and then 3 `avp run` processes on one PostgreSQL store (a
   throw-away server from Debian's binaries, as the tests start it, or `--pg-url`), against the
   simulator with realistic latency. Aggregate cells/s from the first to the last request of
   each phase (process start-up excluded, printed apart); target 3 collectors >= 2.5x one, with
   zero cells requested twice.

5. Random 429s (`--noise`): the collector under a steady 3% random 429 rate (`avp sim serve
   --fault 429=0.03`, each with the simulator's Retry-After of 1 s) against the same run without
   faults, at a small simulated latency (each run twice, alternated, the best of each kept: the
   machines are noisy). Target: >= 85% of the fault-free throughput. Also prints
   the concurrency bound at the end (it used to sink from 16 to 2-3 and stay there).

The simulated provider runs in its own process with zero latency. Figures are printed, never
asserted: the machines are noisy, so compare the ratios, which are measured side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import openai

from avp_harness.collect.plan import Plan, build_plan
from avp_harness.collect.runner import Collector
from avp_harness.config import config_from_dict
from avp_harness.gateway.client import HttpPost
from avp_harness.sim.models import SIM_MODELS
from avp_harness.sim.server import SimServer
from avp_harness.store import Store


def make_config(base_url: str, db: str, n_items: int, n_models: int, concurrency: int,
                rpm: int | None) -> Any:
    models = list(SIM_MODELS.values())[:n_models]
    provider: dict[str, Any] = {"base_url": base_url, "max_concurrency": concurrency,
                                "request_cost": True, "timeout_s": 30}
    if rpm:
        provider["rpm"] = rpm
    return config_from_dict({
        "db": db,
        "providers": {"sim": provider},
        "models": [{"id": m.id, "provider": "sim",
                    "price": {"input_per_m": m.price_in, "output_per_m": m.price_out}}
                   for m in models],
        "benchmarks": [{"name": "arc_agi", "limit": n_items}],
    }, None)


async def bare_client(base_url: str, plan: Plan, concurrency: int, lean: bool = False) -> float:
    """Seconds for the bare SDK to send every planned request with `concurrency` in flight:
    `chat.completions.create` (what a user's own loop does), or with `lean` the way the gateway
    sends (`post` of the plain JSON body, the answer read as JSON) and nothing else."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=30)
    post = HttpPost(client, "/chat/completions")  # the gateway's transport
    cells = list(plan.cells())
    queue = iter(cells)

    async def worker() -> None:
        for cell in queue:
            body = {"model": cell.model.model, "temperature": 0.0,
                    "messages": [m.as_dict() for m in cell.item.messages]}
            if lean:
                await post.post(body)
            else:
                await client.chat.completions.create(**body)  # type: ignore[call-overload]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await post.close()
    await client.close()
    return elapsed


async def collector(config: Any, plan: Plan, db: str) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, ok cells) for a full collector run."""
    store = Store.open(db)
    collector = Collector(config, store)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = await collector.run(plan)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    store.close()
    return wall, cpu, summary.ok


def scale_out(args: argparse.Namespace) -> None:
    """1 vs 3 collector processes on one PostgreSQL store; prints the figures."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.integration.conftest import PgServer

    server = None
    if not args.pg_url:
        server = PgServer()
        server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "requests.jsonl"
            with SimServer(latency_scale=args.latency_scale, log_path=log) as sim:
                toml = Path(tmp) / "avp.toml"
                text = (f'[providers.sim]\nbase_url = "{sim.base_url}"\n'
                        f"max_concurrency = {args.scale_concurrency}\n\n")
                for model in list(SIM_MODELS)[: args.models]:
                    text += f'[[models]]\nid = "{model}"\nprovider = "sim"\n\n'
                toml.write_text(text + f'[[benchmarks]]\nname = "arc_agi"\n'
                                f"limit = {args.scale_items}\n")
                rates = {}
                for n in (1, 3):
                    url = args.pg_url if args.pg_url else server.new_database()  # type: ignore[union-attr]
                    since = time.time()
                    started = time.perf_counter()
                    procs = [subprocess.Popen(
                        [sys.executable, "-m", "avp_harness.cli", "run", "--config", str(toml),
                         "--db", url, "--progress", "none"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(n)]
                    codes = [proc.wait() for proc in procs]
                    wall = time.perf_counter() - started
                    for proc in procs:
                        assert proc.stderr is not None
                        proc.stderr.close()
                    entries = [json.loads(line) for line in log.read_text().splitlines()]
                    chat = [e for e in entries if e["endpoint"] == "chat" and e["time"] >= since]
                    twice = sum(1 for k in Counter((e["model"], e["prompt_sha"]) for e in chat)
                                .values() if k > 1)
                    span = max(e["time"] for e in chat) - min(e["time"] for e in chat)
                    rates[n] = len(chat) / span
                    print(f"{n} collector(s) x concurrency {args.scale_concurrency}: "
                          f"{len(chat)} requests, {rates[n]:.1f} cells/s between the first and "
                          f"the last request ({wall:.1f}s wall with start-up), exit codes "
                          f"{codes}, {twice} cells requested twice")
                print(f"scale-out 3 / 1           : {rates[3] / rates[1]:8.2f}x   "
                      f"(target >= 2.5x, zero requested twice) at latency scale "
                      f"{args.latency_scale:g}")
    finally:
        if server is not None:
            server.stop()


def noise(args: argparse.Namespace) -> None:
    """Throughput under a steady random 429 rate as a share of the same run without faults."""
    rates: dict[float, float] = {}
    for rate in (0.0, args.noise_rate) * args.noise_repeats:  # alternated; the best of each
        faults = {"429": rate} if rate else None
        with SimServer(latency_scale=args.noise_latency, faults=faults) as sim, \
                tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "runs.db")
            config = make_config(sim.base_url, db, args.noise_items, args.models,
                                 args.noise_concurrency, None)
            plan = build_plan(config)
            store = Store.open(db)
            collector = Collector(config, store)
            started = time.perf_counter()
            summary = asyncio.run(collector.run(plan))
            wall = time.perf_counter() - started
            store.close()
            limits = collector.limits["sim"]
            rates[rate] = max(rates.get(rate, 0.0), summary.ok / wall)
            print(f"429 rate {rate:4.0%}: {summary.ok}/{plan.total} ok in {wall:.1f}s = "
                  f"{rates[rate]:.1f} cells/s, {limits.rate_limit_hits} 429s, bound at the end "
                  f"{limits.concurrency} of {limits.max_concurrency}")
    print(f"with {args.noise_rate:.0%} random 429s / without (best of {args.noise_repeats} "
          f"each): "
          f"{rates[args.noise_rate] / rates[0.0]:8.1%}   (target >= 85%) at latency scale "
          f"{args.noise_latency:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400, help="ARC-AGI items (max 400)")
    parser.add_argument("--models", type=int, default=5, help="simulated models (max 5)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rpm", type=int, default=3000, help="RPM for the rate-limited run")
    parser.add_argument("--rate-items", type=int, default=120,
                        help="ARC items for the rate-limited run")
    parser.add_argument("--scale-out", action="store_true",
                        help="only the 1 vs 3 collector processes figure on PostgreSQL")
    parser.add_argument("--pg-url", default=None,
                        help="an empty PostgreSQL database for --scale-out (default: start one)")
    parser.add_argument("--scale-items", type=int, default=80, help="ARC items for --scale-out")
    parser.add_argument("--scale-concurrency", type=int, default=8,
                        help="concurrency of each collector in --scale-out")
    parser.add_argument("--latency-scale", type=float, default=0.5,
                        help="simulated latency for --scale-out (1: realistic)")
    parser.add_argument("--postgres", action="store_true",
                        help="runs 2 and 3 on a PostgreSQL store (a throw-away server, or "
                        "--pg-url) instead of SQLite")
    parser.add_argument("--noise", action="store_true",
                        help="only the steady random 429 figure")
    parser.add_argument("--noise-rate", type=float, default=0.03,
                        help="share of requests answered 429 in --noise (default 0.03)")
    parser.add_argument("--noise-items", type=int, default=400, help="ARC items for --noise")
    parser.add_argument("--noise-concurrency", type=int, default=16)
    parser.add_argument("--noise-repeats", type=int, default=2,
                        help="runs of each kind in --noise, alternated (the best counts)")
    parser.add_argument("--noise-latency", type=float, default=0.1,
                        help="simulated latency scale for --noise (default 0.1)")
    args = parser.parse_args()
    if args.noise:
        noise(args)
        return
    if args.scale_out:
        scale_out(args)
        return
    server = None
    if args.postgres and not args.pg_url:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.integration.conftest import PgServer

        server = PgServer()
        server.start()
    try:
        unthrottled(args, server)
    finally:
        if server is not None:
            server.stop()


def unthrottled(args: argparse.Namespace, server: Any) -> None:
    """Runs 1-3 of the module docstring."""

    def store(tmp: str, name: str) -> str:
        if not args.postgres:
            return str(Path(tmp) / f"{name}.db")
        return str(args.pg_url or server.new_database())

    with SimServer(latency_scale=0.0) as sim, tempfile.TemporaryDirectory() as tmp:
        config = make_config(
            sim.base_url, "unused.db", args.items, args.models, args.concurrency, None
        )
        t0 = time.perf_counter()
        plan = build_plan(config)
        plan_s = time.perf_counter() - t0
        n = plan.total
        asyncio.run(bare_client(sim.base_url, plan, args.concurrency))  # warm the server up
        bare_s = asyncio.run(bare_client(sim.base_url, plan, args.concurrency))
        lean_s = asyncio.run(bare_client(sim.base_url, plan, args.concurrency, lean=True))
        wall, cpu, ok = asyncio.run(collector(config, plan, store(tmp, "a")))
        bare_rate, lean_rate, rate = n / bare_s, n / lean_s, ok / wall
        print(f"cells: {n} ({args.items} ARC-AGI items x {args.models} models), "
              f"concurrency {args.concurrency}, zero simulated latency, "
              f"{'PostgreSQL' if args.postgres else 'SQLite'} store; "
              f"plan built in {plan_s:.2f}s")
        print(f"bare openai client ceiling : {bare_rate:8.1f} requests/s")
        print(f"collector end to end       : {rate:8.1f} cells/s  "
              f"({cpu / ok * 1000:.2f} CPU ms/cell, {ok} ok)")
        print(f"lean post ceiling          : {lean_rate:8.1f} requests/s  "
              f"(the gateway's way of sending, nothing else)")
        print(f"collector / SDK ceiling    : {rate / bare_rate:8.1%}   (target >= 90%)")
        print(f"collector / lean ceiling   : {rate / lean_rate:8.1%}   "
              f"(the collector's own overhead: limits, grading, store)")

        rconfig = make_config(
            sim.base_url, "unused.db", args.rate_items, args.models, args.concurrency, args.rpm
        )
        rplan = build_plan(rconfig)
        wall, cpu, ok = asyncio.run(collector(rconfig, rplan, store(tmp, "b")))
        per_s = args.rpm / 60.0
        bucket = per_s * max(1.0, 60.0 / args.rpm)  # requests the limiter lets through at once
        theoretical_s = max(rplan.total - bucket, 0.0) / per_s
        print(f"rate-limited run           : {rplan.total} cells at RPM {args.rpm} "
              f"({per_s:.0f}/s nominal): {ok / wall:.1f} cells/s, {wall:.2f}s "
              f"(theoretical minimum {theoretical_s:.2f}s)")
        print(f"achieved / theoretical max : {theoretical_s / wall:8.1%}   (target >= 95%)")


if __name__ == "__main__":
    main()
