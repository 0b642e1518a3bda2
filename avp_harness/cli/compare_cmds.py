"""`avp compare`: every collaboration method on one held-out split (logic in app/compare.py).

avp compare --embedding tfidf
avp compare --seeds 5 --json | --csv [--plot compare.png]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avp_harness.cli import (
    add_config_argument,
    add_db_argument,
    add_names_option,
    resolve_db,
)
from avp_harness.errors import RouterError
from avp_harness.names import COMPARE_METHODS as METHODS

if TYPE_CHECKING:  # routing (scikit-learn) and the store load when the command runs
    from avp_harness.app.compare import CompareResult

EPILOG = """\
systems: every single model, oracle, random (expected), cheapest, best model per benchmark,
Avengers-Pro (faithful) at the Pareto points of its alpha curve, the Avengers (direct,
Self-Consistency, Model-Switch and its ablation rule; these need stored samples), JiSi router-only
(needs stored response texts) and full JiSi (needs the aggregator cells `avp aggregate` makes).
A system the store cannot support is listed with the reason.
"frontier" (*) marks systems no other system beats on both cost and accuracy (oracle left out).

examples:
  avp import routerbench ../shared/data/records/routerbench_subset --db rb.db
  avp compare --db rb.db --embedding tfidf
  avp compare --seeds 5 --json > compare.json
  avp compare --csv --plot compare.png
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="every routing/collaboration method side by side on one held-out split",
        description="Fit every method on the same train split and evaluate it on the same "
        "held-out queries: accuracy per benchmark and macro, dollars, calls, 95% intervals.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_names_option(p, "--benchmarks", "benchmarks to compare on", "all in the store")
    add_names_option(p, "--models", "models to compare", "all in the store")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                   help="default: all")
    p.add_argument("--seed", type=int, default=42, help="first split seed (default 42)")
    p.add_argument("--seeds", type=int, default=1, help="splits pooled for the 95%% intervals")
    p.add_argument("--train-ratio", type=float, default=0.7, help="default 0.7")
    p.add_argument("--alphas", default="0:1:0.01", help="Avengers-Pro alpha grid")
    p.add_argument("--embedding", default=None,
                   help="local | tfidf | api:MODEL (default: avp.toml's [embedding], else local)")
    p.add_argument("--clusters", type=int, default=25, help="Avengers-Pro clusters (default 25)")
    p.add_argument("--avengers-clusters", type=int, default=64,
                   help="the Avengers' clusters (default 64, the paper's)")
    p.add_argument("--avengers-top-k", type=int, default=3, help="default 3")
    p.add_argument("--avengers-beta", type=float, default=3.0, help="default 3")
    p.add_argument("--sc-samples", type=int, default=10, help="Self-Consistency samples (10)")
    p.add_argument("--ms-samples", type=int, default=5, help="Model-Switch samples/model (5)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print everything as JSON")
    out.add_argument("--csv", action="store_true", help="print the table as CSV")
    p.add_argument("--plot", type=Path, default=None, help="write cost vs accuracy as a PNG")
    add_db_argument(p)
    add_config_argument(p)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from avp_harness.app.compare import CompareRequest, compare
    from avp_harness.routing import alpha_grid
    from avp_harness.store import Store

    if args.sc_samples < 1 or args.ms_samples < 1:
        raise RouterError("--sc-samples and --ms-samples must be at least 1")
    store = Store.open(resolve_db(args.db), create=False)  # read-only stores too; never a new one
    result = compare(store, CompareRequest(
        benchmarks=args.benchmarks, models=args.models, seed=args.seed, seeds=args.seeds,
        train_ratio=args.train_ratio, embedding=args.embedding, config_file=args.config,
        alphas=alpha_grid(args.alphas), methods=args.methods,
        pro={"n_clusters": args.clusters, "top_k": 3, "beta": 9.0},
        avengers={"n_clusters": args.avengers_clusters, "top_k": args.avengers_top_k,
                  "beta": args.avengers_beta, "top_n": 2},
        sc_samples=args.sc_samples, ms_samples=args.ms_samples,
    ))
    if args.plot:
        write_plot(result, args.plot)
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=1)
        print()
    elif args.csv:
        write_csv(result, sys.stdout)
    else:
        print_table(result)
    return 0


def write_csv(r: CompareResult, out: Any) -> None:
    writer = csv.writer(out)
    writer.writerow(["system", "family", "alpha", "accuracy", "low95", "high95", "cost", "calls",
                     "pareto", *r.benchmarks])
    for row in r.rows:
        writer.writerow([row.name, row.family, "" if row.alpha is None else f"{row.alpha:g}",
                         f"{row.accuracy:.6f}", f"{row.low:.6f}", f"{row.high:.6f}",
                         f"{row.cost:.6f}", f"{row.calls:g}", int(row.pareto),
                         *[f"{row.per_benchmark[b]:.6f}" for b in r.benchmarks]])


def print_table(r: CompareResult) -> None:
    print(f"{len(r.models)} models, benchmarks {', '.join(r.benchmarks)}; embedding {r.embedding}; "
          f"seeds {', '.join(map(str, r.seeds))}")
    lo, hi = min(r.n_test_per_seed), max(r.n_test_per_seed)
    sizes = f"{lo}" if lo == hi else f"{lo}-{hi}"
    print(f"held-out: {sizes} queries per split, train {r.n_train} ({r.n_test_dropped} items "
          "lacking a cell left out); cost and calls are totals per split (mean)")
    width = max(len(row.name) for row in r.rows)
    short = [b[:10] for b in r.benchmarks]
    print(f"{'system':{width}}  {'accuracy':>8} {'95% interval':>17} {'cost $':>10} "
          f"{'calls':>7}  " + " ".join(f"{b:>10}" for b in short) + "  frontier")
    for row in r.rows:
        interval = f"[{row.low:.4f}, {row.high:.4f}]"
        print(f"{row.name:{width}}  {row.accuracy:8.4f} {interval:>17} {row.cost:10.4f} "
              f"{row.calls:7.0f}  " + " ".join(f"{row.per_benchmark[b]:10.4f}"
                                              for b in r.benchmarks)
              + ("  *" if row.pareto else ""))
    for name, why in r.skipped.items():
        print(f"not evaluated: {name}: {why}")
    for note in r.notes:
        print(f"note: {note}")


def write_plot(r: CompareResult, path: Path) -> None:
    from avp_harness.app.figures import compare_figure, draw

    draw(compare_figure(r), path)
