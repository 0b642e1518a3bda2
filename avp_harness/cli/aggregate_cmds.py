"""`avp aggregate`: make the aggregator calls of full JiSi as cells (logic in collect/aggregate.py).

avp aggregate --config avp.toml --embedding tfidf [--seeds 3] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from avp_harness.cli import add_config_argument, add_db_argument, resolve_db

EPILOG = """\
JiSi's adaptive switch sends a query to an aggregator model when several models qualify
(|A^f| > 1): the aggregator reads their stored responses and answers itself. This command takes
the decisions `avp compare` takes (same split, seeds, embedding and JiSi settings), and makes
every aggregator call they ask for as a cell of its own: benchmark `<name>@jisi`, graded by the
benchmark's grader, through the providers' limits, retries and budget, resumable (an interrupted
or repeated run pays for no stored cell twice). `avp compare` then reports "jisi (full)".

examples:
  avp run --config avp.toml                       # the models' own answers first
  avp aggregate --config avp.toml --embedding tfidf --dry-run
  avp aggregate --config avp.toml --embedding tfidf
  avp compare --embedding tfidf
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from avp_harness.cli.collect_cmds import dollars

    p = subparsers.add_parser(
        "aggregate",
        help="make full JiSi's aggregator calls (cells of their own) for `avp compare`",
        description="Plan and make the aggregator calls JiSi's adaptive switch asks for on the "
        "held-out split of `avp compare`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--benchmarks", nargs="+", default=None, help="default: all in the store")
    p.add_argument("--models", nargs="+", default=None, help="default: all in the store")
    p.add_argument("--seed", type=int, default=42, help="first split seed (default 42)")
    p.add_argument("--seeds", type=int, default=1, help="splits (as avp compare --seeds)")
    p.add_argument("--train-ratio", type=float, default=0.7, help="default 0.7")
    p.add_argument("--embedding", default=None,
                   help="local | tfidf | api:MODEL (default: avp.toml's [embedding], else local)")
    p.add_argument("--budget", type=dollars, default=None,
                   help="dollars this run may spend (default: config)")
    p.add_argument("--progress", choices=["auto", "rich", "plain", "none"], default="auto")
    p.add_argument("--dry-run", action="store_true",
                   help="only say how many aggregator calls are asked for and not yet made")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    add_db_argument(p)
    add_config_argument(p)
    p.set_defaults(func=cmd_aggregate)


def cmd_aggregate(args: argparse.Namespace) -> int:
    from avp_harness.app.compare import CompareRequest, compare
    from avp_harness.cli.collect_cmds import _exit_code, _print_summary, collect
    from avp_harness.collect.aggregate import aggregation_plan
    from avp_harness.collect.judge import StoreJudge
    from avp_harness.config import load_config
    from avp_harness.store import Store

    config = load_config(args.config)
    db = resolve_db(args.db, config.db)
    with Store.open(db, create=False) as store:
        result = compare(store, CompareRequest(
            benchmarks=args.benchmarks, models=args.models, seed=args.seed, seeds=args.seeds,
            train_ratio=args.train_ratio, embedding=args.embedding, config_file=args.config,
            methods=["jisi"]))
    asked = result.aggregations
    why = result.skipped.get("jisi (router-only)")
    if why is not None:
        print(f"JiSi cannot run on this store: {why}")
        return 1
    distinct = len({(a.aggregator, a.cell_benchmark, a.cell_item_id) for a in asked})
    print(f"JiSi asks for {distinct} aggregator calls on {sum(result.n_test_per_seed)} held-out "
          f"queries ({len(result.seeds)} seed(s))")
    if args.dry_run:
        with Store.open(db, create=False) as store:
            plan = aggregation_plan(config, asked)
            done = store.ok_cells(list(plan.hashes.values()))
            todo = sum((c.key.fingerprint, c.key.sample) not in done for c in plan.cells())
        print(f"{todo} of them not made yet")
        for note in plan.notes:
            print(f"note: {note}")
        return 0

    def plan_for(collector: Any, store: Any) -> Any:
        judge = StoreJudge(collector.gateway, store, config.judge) if config.judge else None
        return aggregation_plan(config, asked, judge=judge)

    summary = collect(config, db, budget=args.budget, progress=args.progress, plan=plan_for)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    _print_summary(summary)
    return _exit_code(summary)
