"""Router commands: fit, sweep, route, routers (list/show/export/import), import, export.

avp import routerbench ../shared/data/records/routerbench_subset
avp fit --name main --embedding tfidf
avp sweep main --seeds 5 [--json | --csv] [--plot out.png]
avp route main "What is 2 + 2?" --alpha 0.45
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avp_harness.cli import (
    add_config_argument,
    add_db_argument,
    add_names_option,
    resolve_db,
)
from avp_harness.errors import DataError, RouterError, StoreError, StoreWriteError
from avp_harness.names import BUILTIN_KINDS, DEFAULT_MISSING, MISSING

if TYPE_CHECKING:  # numpy, routing (scikit-learn) and the store load when a command runs

    from avp_harness.routing.sweep import SweepResult
    from avp_harness.store import Store

FIT_EPILOG = """\
examples:
  avp fit --name main                                  every model and benchmark in the store
  avp fit --name arc --benchmarks arc_agi --clusters 8 --embedding tfidf
  avp fit --name main --refit                          same embedding and clusters, new statistics
                                                       (after a new model's cells arrived)
  avp fit --name mine --embedding file:vectors.npz     your own vectors (arrays texts and X)
The held-out metrics of the fit are printed and stored with the router.
"""

SWEEP_EPILOG = """\
examples:
  avp sweep main                          101 alphas, frontier marked, baselines, summary
  avp sweep main --alphas 0,0.3,0.6,1     chosen alphas
  avp sweep main --seeds 5 --json         95% intervals over 5 random splits, as JSON
  avp sweep main --plot frontier.png      the cost-accuracy frontier (needs the `plot` extra)
  avp sweep main --decisions d.jsonl      every held-out decision, to audit
"""

ROUTE_EPILOG = """\
examples:
  avp route main "Write a function that reverses a string" --alpha 0.4
  avp route main --file queries.jsonl --json          one {"query": "..."} object per line

--json prints JSON Lines: one object per query (query, alpha, model, scores; models and their
weights when the kind chooses several), one line each, also for a single query.
"""

FORMATS = 'avengers-pro: JSONL of {"query", "dataset", "index", "records": {model: score},'
FORMATS += ' "usages": {model: {"cost": dollars}}}; routerbench: a folder of its CSVs'


def register(subparsers: argparse._SubParsersAction) -> None:
    fit = subparsers.add_parser(
        "fit",
        help="fit a router on the cells in the store",
        description="Fit a router on the store's cells (70/30 split per dataset, held-out "
        "metrics printed) and store it under --name.",
        epilog=FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("--name", required=True, help="name to store the router under")
    add_names_option(fit, "--benchmarks", "benchmarks to fit on", "all in the store")
    add_names_option(fit, "--models", "models to route between", "all in the store")
    # the built-in kinds, named without importing routing code; any registered kind is accepted
    fit.add_argument("--kind", metavar="{" + ",".join(BUILTIN_KINDS) + "}", default="faithful",
                     help="; ".join(f"{k}: {h}" for k, h in BUILTIN_KINDS.items()))
    fit.add_argument("--clusters", type=int, default=25, help="k-means clusters (default 25)")
    fit.add_argument("--top-k", type=int, default=3,
                     help="nearest clusters a query votes with (default 3)")
    fit.add_argument("--beta", type=float, default=9.0,
                     help="softmax sharpness over cluster distances (default 9)")
    fit.add_argument("--neighbors", type=int, default=20, help="kNN router only (default 20)")
    fit.add_argument("--seed", type=int, default=42, help="split and k-means seed (default 42)")
    fit.add_argument("--train-ratio", type=float, default=0.7,
                     help="share of each dataset used to fit (default 0.7)")
    fit.add_argument("--embedding", default=None,
                     help="local (MiniLM ONNX) | tfidf | api:MODEL | file:PATH.npz (your own "
                     "vectors: arrays texts and X) (default: the [embedding] table of avp.toml, "
                     "else local)")
    fit.add_argument("--missing", choices=list(MISSING), default=DEFAULT_MISSING,
                     help="items lacking a model's score or cost: drop-first = dropped before "
                     "the split, as the reference code does (faithful, default); keep = split "
                     "everything, fit on observed cells, evaluate complete test items")
    fit.add_argument(
        "--refit",
        action="store_true",
        help="keep the named router's embedding and clusters; recompute statistics",
    )
    add_db_argument(fit)
    add_config_argument(fit)
    fit.set_defaults(func=cmd_fit)

    sweep = subparsers.add_parser(
        "sweep",
        help="cost-accuracy table over alpha on the test split",
        description="Route the held-out split at every alpha: accuracy, cost, Pareto frontier, "
        "usage shares, every single model and the baselines, AUC, APGR, oracle gap.",
        epilog=SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("name", help="a fitted router")
    sweep.add_argument("--alphas", default="0:1:0.01", help="START:STOP:STEP or a,b,c")
    sweep.add_argument("--seeds", type=int, default=1, help="repeated splits for 95%% intervals")
    out = sweep.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print everything as JSON")
    out.add_argument("--csv", action="store_true", help="print the alpha table as CSV")
    sweep.add_argument("--plot", type=Path, default=None, help="write the frontier as a PNG")
    sweep.add_argument("--decisions", type=Path, default=None, metavar="FILE.jsonl",
                       help="write one line per held-out query and alpha (first split): "
                       "dataset, item id, index, chosen model(s), router score, graded score")
    add_db_argument(sweep)
    sweep.set_defaults(func=cmd_sweep)

    route = subparsers.add_parser(
        "route",
        help="route a query (or a JSONL file of queries)",
        description="Print the model a fitted router picks for a query and every model's "
        "aggregated score.",
        epilog=ROUTE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    route.add_argument("name", help="a fitted router")
    route.add_argument("query", nargs="?", default=None, help="the query text")
    route.add_argument("--file", type=Path, default=None, help='JSONL with a "query" per line')
    route.add_argument("--alpha", type=float, default=None,
                       help="trade-off in [0, 1]: 1 = accuracy only, 0 = cost only "
                       "(default: the fit's)")
    route.add_argument("--json", action="store_true",
                       help="print the decisions as JSON Lines: one object per query and line")
    add_db_argument(route)
    route.set_defaults(func=cmd_route)

    routers = subparsers.add_parser("routers", help="list, show, export or import routers")
    sub = routers.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="the fitted routers in the store")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object per router, in a list")
    p.set_defaults(func=cmd_routers_list)
    p = sub.add_parser("show", help="a router's parameters, what it was fitted on, its metrics")
    p.add_argument("name", help="a fitted router")
    add_db_argument(p)
    p.set_defaults(func=cmd_routers_show)
    p = sub.add_parser("export", help="write a router to a folder (JSON + .npz arrays)")
    p.add_argument("name", help="a fitted router")
    p.add_argument("dir", type=Path, help="folder to write")
    add_db_argument(p)
    p.set_defaults(func=cmd_routers_export)
    p = sub.add_parser(
        "import", help="read a router written by `avp routers export`",
        description="Add a router written by `avp routers export` to an existing store. A path "
        "that is not a store yet is refused unless --create; a router of the same name is kept "
        "unless --force (replace it) or --as NEW_NAME.")
    p.add_argument("dir", type=Path, help="folder written by export")
    add_db_argument(p)
    p.add_argument("--create", action="store_true", help="create the store if there is none")
    p.add_argument("--force", action="store_true", help="replace a router of the same name")
    p.add_argument("--as", dest="as_name", metavar="NEW_NAME", help="import under another name")
    p.set_defaults(func=cmd_routers_import)

    imp = subparsers.add_parser(
        "import",
        help="load published per-query records as a run",
        description="Load per-query records (query, per-model score and cost, dataset) into the "
        "store as an imported run, so routers can be fitted on them. " + FORMATS + ".",
    )
    imp.add_argument("format", choices=["avengers-pro", "routerbench"], help="record format")
    imp.add_argument("path", type=Path, help="a JSONL file (avengers-pro) or a folder of CSVs")
    add_db_argument(imp)
    imp.set_defaults(func=cmd_import)

    onboard = subparsers.add_parser(
        "onboard",
        help="evaluate a new model where it could change the router's choices",
        description="Evaluate a model added to avp.toml first on the items nearest each cluster "
        "centre, estimate its per-cluster accuracy with intervals, report where the router's "
        "choice would change or is still uncertain, and spend further calls only there.",
    )
    onboard.add_argument("model", help="the new model's id (as in avp.toml)")
    onboard.add_argument("--router", required=True, help="name of a fitted cluster router")
    onboard.add_argument("--budget", type=int, required=True, help="most calls to spend")
    onboard.add_argument("--alpha", type=float, default=None, help="default: the router's alpha")
    onboard.add_argument("--batch", type=int, default=20, help="calls per round (default 20)")
    onboard.add_argument("--min-per-cluster", type=int, default=2,
                         help="items per cluster before any cluster gets more (default 2)")
    onboard.add_argument(
        "--plan-only", action="store_true", help="report estimates and the next items; call nothing"
    )
    onboard.add_argument("--config", "-c", default=None,
                         help="config file (default: $AVP_CONFIG or ./avp.toml)")
    add_db_argument(onboard)
    onboard.set_defaults(func=cmd_onboard)

    exp = subparsers.add_parser(
        "export",
        help="write the store's scores and costs as records",
        description="Write the store's per-query scores and dollars as Avengers-Pro JSONL.",
    )
    exp.add_argument("format", choices=["avengers-pro"], help="record format")
    exp.add_argument("path", type=Path, help="JSONL file to write")
    add_names_option(exp, "--benchmarks", "benchmarks to write")
    add_names_option(exp, "--models", "models to write")
    add_db_argument(exp)
    exp.set_defaults(func=cmd_export)


# -- shared steps -----------------------------------------------------------------------------


def embedding_progress(command: Any) -> Any:
    """Show a progress bar with ETA (stderr) on any embedding of the command that takes long."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from avp_harness.embed.progress import reporting

        with reporting():
            return int(command(args))

    return run


def open_store(args: argparse.Namespace, create: bool = False) -> Store:
    from avp_harness.store import Store

    # a command that writes cells (import) never falls back to the demo store
    return Store.open(resolve_db(args.db, demo_fallback=not create), create=create)


# -- fit --------------------------------------------------------------------------------------


@embedding_progress
def cmd_fit(args: argparse.Namespace) -> int:
    from avp_harness.app.routing import FitRequest, fit_router
    from avp_harness.routing import get_kind

    get_kind(args.kind)  # unknown kind: one line naming the registered ones
    store = open_store(args)
    if store.read_only:  # say so before fitting, not after
        raise StoreWriteError(f"store {store.display_url} is read-only: `avp fit` saves the "
                              f"router in it (read commands such as `avp sweep` work)")
    fitted = fit_router(store, FitRequest(
        name=args.name,
        kind=args.kind,
        hyper={"n_clusters": args.clusters, "top_k": args.top_k, "beta": args.beta,
               "n_neighbors": args.neighbors},
        benchmarks=args.benchmarks,
        models=args.models,
        seed=args.seed,
        train_ratio=args.train_ratio,
        embedding=args.embedding,
        config_file=args.config,
        refit=args.refit,
        missing=args.missing,
    ))
    print(
        f"router {fitted.name!r} ({fitted.kind}, {len(fitted.data.models)} models, "
        f"{fitted.data.n} items, embedding {fitted.embedding}) "
        f"{'refitted' if fitted.refit else 'fitted'} in {fitted.seconds:.1f}s"
    )
    if fitted.result is None:
        print(f"held-out: not evaluated ({fitted.summary['reason']})")
    else:
        print_summary(fitted.summary, fitted.result)
    return 0


def print_summary(s: dict[str, Any], r: SweepResult) -> None:
    """The headline figures of a split, as short lines."""
    before = s.get("n_dropped_missing_before_split", 0)
    print(
        f"held-out: {s['n_test']} queries; missing cells ({s.get('missing', 'keep')}): "
        f"{before} items dropped before the split, {s['n_test_dropped_missing']} test items "
        "not scored"
    )
    if r.missing_cells:
        print(
            "missing cells per model: " + ", ".join(f"{m} {k}" for m, k in r.missing_cells.items())
        )
    print(
        f"best single model: {s['best_model']}  accuracy {s['best_model_accuracy']:.4f}  "
        f"cost ${s['best_model_cost']:.4f}"
    )
    m = s["match_best"]
    if m:
        print(
            f"router matches it at alpha={m['alpha']:.2f}: accuracy {m['accuracy']:.4f} for "
            f"${m['cost']:.4f} ({m['cost_ratio']:.1%} of its cost)"
        )
    else:
        print(f"router does not reach its accuracy (max {s['router_max_accuracy']:.4f})")
    for f, v in s["at_fraction_of_best_cost"].items():
        if v:
            print(
                f"at <= {float(f):.0%} of its cost: accuracy {v['accuracy']:.4f} "
                f"({v['accuracy'] / s['best_model_accuracy']:.1%} of it) at alpha={v['alpha']:.2f}"
            )
    print(
        f"AUC {s['auc']:.4f}  APGR {s['apgr']:.4f}  oracle {s['oracle_accuracy']:.4f} "
        f"(gap {s['oracle_gap']:.4f})"
    )
    above = s.get("above_frontier", s["models_above_frontier"])
    how = "every decision alpha" if s.get("frontier_exact") else "the alpha grid"
    print(f"models and baselines above the router frontier (hull over {how}): "
          + (", ".join(above) if above else "none"))
    if "note" in s:
        print(f"note: {s['note']}")


# -- sweep ------------------------------------------------------------------------------------


@embedding_progress
def cmd_sweep(args: argparse.Namespace) -> int:
    from avp_harness.app.routing import sweep_router
    from avp_harness.routing import alpha_grid
    from avp_harness.routing.sweep import intervals

    if args.seeds < 1:
        raise RouterError("--seeds must be at least 1")
    store = open_store(args)
    results = sweep_router(store, args.name, alpha_grid(args.alphas), args.seeds)
    main = results[0]
    if args.decisions:
        write_decisions(store, args.name, main, args.decisions)
    ci = intervals(results) if len(results) > 1 else {}
    if args.plot:
        write_plot(main, args.plot)
    if args.json:
        json.dump(sweep_json(main, ci), sys.stdout, indent=1)
        print()
    elif args.csv:
        write_csv(main, sys.stdout)
    else:
        print_sweep(main, ci)
    return 0


def write_decisions(store: Store, name: str, r: SweepResult, path: Path) -> None:
    from avp_harness.app.routing import decision_rows, load_router, loaded_data

    data = loaded_data(store, load_router(store, name))
    try:
        with path.open("w", encoding="utf-8") as out:
            for row in decision_rows(data, r):
                out.write(json.dumps(row) + "\n")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror}") from None


def sweep_json(r: SweepResult, ci: dict[str, tuple[float, float, float]]) -> dict[str, Any]:
    hc, ha = r.hull()
    pareto = r.pareto()
    return {
        "models": list(r.models),
        "curve": [
            {
                "alpha": float(a),
                "accuracy": float(acc),
                "cost": float(c),
                "pareto": bool(p),
                "usage": dict(zip(r.models, map(float, u), strict=True)),
            }
            for a, acc, c, p, u in zip(r.alphas, r.accuracy, r.cost, pareto, r.usage, strict=True)
        ],
        "hull": [{"cost": float(c), "accuracy": float(a)} for c, a in zip(hc, ha, strict=True)],
        "single_models": {m: {"accuracy": a, "cost": c} for m, (a, c) in r.single.items()},
        "baselines": {m: {"accuracy": a, "cost": c} for m, (a, c) in r.baselines.items()},
        "summary": r.summary(),
        "intervals_95": {k: {"mean": v[0], "low": v[1], "high": v[2]} for k, v in ci.items()},
    }


def write_csv(r: SweepResult, out: Any) -> None:
    writer = csv.writer(out)
    writer.writerow(["alpha", "accuracy", "cost", "pareto", *[f"share:{m}" for m in r.models]])
    for a, acc, c, p, u in zip(r.alphas, r.accuracy, r.cost, r.pareto(), r.usage, strict=True):
        writer.writerow([f"{a:g}", f"{acc:.6f}", f"{c:.6f}", int(p), *[f"{v:.4f}" for v in u]])


def short(model: str) -> str:
    return model.rsplit("/", 1)[-1]


def print_sweep(r: SweepResult, ci: dict[str, tuple[float, float, float]]) -> None:
    import numpy as np

    pareto = r.pareto()
    print(f"{'alpha':>6} {'accuracy':>9} {'cost $':>10}  frontier  top models (share)")
    for a, acc, c, p, u in zip(r.alphas, r.accuracy, r.cost, pareto, r.usage, strict=True):
        top = np.argsort(-u, kind="stable")[:3]
        shares = ", ".join(f"{short(r.models[j])} {u[j]:.0%}" for j in top if u[j] > 0)
        print(f"{a:6.2f} {acc:9.4f} {c:10.4f}  {'*' if p else ' ':^8}  {shares}")
    above = set(r.above_frontier())
    print("\nsingle models and baselines (held-out)")
    print(f"{'system':34} {'accuracy':>9} {'cost $':>10}  router frontier at that cost")
    for name, (acc, c) in sorted(r.systems().items(), key=lambda kv: kv[1][1]):
        reach = r.frontier_reach(c)
        where = "below cheapest alpha" if math.isnan(reach) else f"{reach:.4f}"
        flag = "  ABOVE" if name in above else ""
        print(f"{name:34} {acc:9.4f} {c:10.4f}  {where}{flag}")
    print()
    print_summary(r.summary(), r)
    if ci:
        print(f"\n95% intervals over {len(ci) and 'repeated'} splits (mean [low, high]):")
        for k, (m, lo, hi) in ci.items():
            print(f"  {k:28} {m:.4f} [{lo:.4f}, {hi:.4f}]")


def write_plot(r: SweepResult, path: Path) -> None:
    from avp_harness.app.figures import draw, sweep_figure

    draw(sweep_figure(r), path)


# -- route ------------------------------------------------------------------------------------


@embedding_progress
def cmd_route(args: argparse.Namespace) -> int:
    from avp_harness.app.routing import route_queries
    from avp_harness.routing import check_alpha

    if (args.query is None) == (args.file is None):
        raise RouterError("give a query text or --file queries.jsonl (one of them)")
    if args.alpha is not None:
        check_alpha(args.alpha)
    queries = [args.query] if args.query is not None else read_queries(args.file)
    decisions = route_queries(open_store(args), args.name, queries, args.alpha)
    for i, d in enumerate(decisions):
        chosen = " + ".join(d.selected)
        if args.json:
            print(json.dumps({
                "query": d.query[:200],
                "alpha": d.alpha,
                "model": d.chosen,
                **({"models": dict(zip(d.selected, d.weights, strict=True))}
                   if len(d.selected) > 1 else {}),
                "scores": {m: _num(s) for m, s in d.scores},
            }))
        else:
            if len(decisions) > 1:
                print(f"[{i}] {d.query[:60]!r}")
            print(f"{chosen}  (alpha={d.alpha:g})")
            for m, s in d.scores:
                print(f"  {_num(s) if _num(s) is not None else '-':>10}  {m}")
    return 0


def _num(v: float) -> float | None:
    return None if not math.isfinite(v) else round(float(v), 6)


def read_queries(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("query"), str):
            raise DataError(f'{path}:{n}: expected an object with a "query" string')
        out.append(obj["query"])
    if not out:
        raise DataError(f"{path}: no queries")
    return out


# -- routers list/show/export/import ----------------------------------------------------------


def cmd_routers_list(args: argparse.Namespace) -> int:
    from avp_harness.store.routing import list_routers

    rows = [{
        "name": r.name, "kind": r.kind, "models": len(r.fitted_on.get("models", [])),
        "items": r.fitted_on.get("n_items", 0), "embedding": r.fitted_on.get("embedding", "?"),
        "best_router_accuracy": r.metrics.get("router_max_accuracy"),
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
    } for r in list_routers(open_store(args))]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no routers yet: avp fit --name NAME", file=sys.stderr)
        return 0
    from avp_harness.cli.textgrid import terminal_width, wrap_columns

    header = ["name", "kind", "models", "items", "embedding", "best accuracy", "created"]
    table = [[r["name"], r["kind"], str(r["models"]), str(r["items"]), str(r["embedding"]),
              "-" if r["best_router_accuracy"] is None else f"{r['best_router_accuracy']:.4f}",
              str(r["created"])] for r in rows]
    print("\n".join(wrap_columns(header, table, terminal_width(), left=2)))
    return 0


def cmd_routers_show(args: argparse.Namespace) -> int:
    from avp_harness.store.routing import get_router

    r = get_router(open_store(args), args.name)
    shown = {"name": r.name, "kind": r.kind, "params": r.params, "fitted_on": r.fitted_on,
             "metrics": r.metrics, "created_at": r.created_at, "arrays_bytes": len(r.arrays)}
    print(json.dumps(shown, indent=1))
    return 0


def cmd_routers_export(args: argparse.Namespace) -> int:
    from avp_harness.app.routing import export_router

    r = export_router(open_store(args), args.name, args.dir)
    print(f"exported router {r.name!r} to {args.dir}")
    return 0


def cmd_routers_import(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from avp_harness.app.routing import read_exported
    from avp_harness.store import Store
    from avp_harness.store.routing import list_routers, save_router

    stored = read_exported(args.dir)  # complete, before anything is written
    if args.as_name:
        stored = replace(stored, name=args.as_name)
    db = resolve_db(args.db)
    if "://" not in db and not Path(db).exists() and not args.create:
        raise StoreError(f"no store at {db}: `avp routers import` adds to an existing store "
                         "(check --db, or --create to make a new one)")
    store = Store.open(db, create=True)
    if not args.force and stored.name in {r.name for r in list_routers(store)}:
        raise RouterError(f"{store.display_url} already has a router named {stored.name!r}: "
                          "--force replaces it, --as NEW_NAME imports it beside it")
    save_router(store, stored)
    print(f"imported router {stored.name!r} into {store.display_url}")
    return 0


# -- records import/export --------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    from avp_harness.routing.records import read_avengers_jsonl, read_routerbench
    from avp_harness.store.routing import import_records

    if not args.path.exists():
        raise DataError(f"{args.path}: no such file or folder")
    data = (
        read_routerbench(args.path)
        if args.format == "routerbench"
        else read_avengers_jsonl(args.path)
    )
    store = open_store(args, create=True)
    run_id, cells = import_records(
        store,
        source=f"{args.format}:{args.path.name}",
        models=data.models,
        datasets=list(data.datasets),
        item_ids=data.item_ids,
        texts=data.texts,
        index=data.index.tolist(),
        A=data.A,
        C=data.C,
        responses=data.meta.get("responses"),  # type: ignore[arg-type]
    )
    missing = sum(data.missing_report().values())
    print(
        f"imported run {run_id}: {data.n} items, {len(data.models)} models, {cells} cells "
        f"({missing} missing cells left empty) into {store.display_url}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from avp_harness.app.routing import load_data
    from avp_harness.routing.records import avengers_lines

    data = load_data(open_store(args), args.benchmarks, args.models)
    try:
        with args.path.open("w", encoding="utf-8") as out:
            for line in avengers_lines(data):
                out.write(line + "\n")
    except OSError as exc:
        raise DataError(f"cannot write {args.path}: {exc.strerror}") from None
    print(f"wrote {data.n} records ({len(data.models)} models) to {args.path}")
    return 0


# -- onboard ----------------------------------------------------------------------------------


@embedding_progress
def cmd_onboard(args: argparse.Namespace) -> int:
    from avp_harness.app.onboard import OnboardRequest, onboard
    from avp_harness.store import Store

    store = Store.open(resolve_db(args.db, demo_fallback=False), create=False)  # real cells
    result = onboard(store, OnboardRequest(
        router=args.router, model=args.model, config_file=args.config, budget=args.budget,
        batch=args.batch, min_per_cluster=args.min_per_cluster, alpha=args.alpha,
        plan_only=args.plan_only,
    ))
    print_onboarding(args.model, result.models, result.estimates, result.alpha, result.spent)
    if args.plan_only and result.next_items:
        print(f"next {len(result.next_items)} items to evaluate (nearest each cluster centre "
              f"first):")
        for bench, item, cluster in result.next_items:
            print(f"  {bench}/{item}  cluster {cluster}")
    return 0


def print_onboarding(
    model: str, models: list[str], est: list[Any], alpha: float, spent: int
) -> None:
    names = [*models, model]
    evaluated = sum(e.n for e in est)
    print(f"{model}: {evaluated} cells evaluated ({spent} this session), alpha={alpha:g}")
    print(f"{'cluster':>7} {'n':>4} {'accuracy':>9} {'95% interval':>15}  router choice")
    for e in est:
        acc = "-" if e.n == 0 else f"{e.accuracy:.3f}"
        change = (
            f"{short(names[e.choice_before])} -> {short(names[e.choice])}"
            if e.changed
            else short(names[e.choice])
        )
        flag = "  (uncertain)" if e.uncertain else ""
        print(f"{e.cluster:7d} {e.n:4d} {acc:>9} [{e.low:.3f}, {e.high:.3f}]  {change}{flag}")
    changed = [e.cluster for e in est if e.changed]
    uncertain = [e.cluster for e in est if e.uncertain]
    print(
        f"choice changes in {len(changed)} of {len(est)} clusters; "
        f"still uncertain in {len(uncertain)}"
    )
