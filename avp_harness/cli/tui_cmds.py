"""`avp tui` and the CLI twins of what the TUI shows: `avp progress`, `avp cells`,
`avp show-cell`, `avp clusters` (the curve and routing are `avp sweep` / `avp route`)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from avp_harness.cli import add_db_argument, resolve_db


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tui = subparsers.add_parser(
        "tui", help="open the terminal UI on a store (live grid, results, router inspector)",
        description="Watch a store: live while `avp run` collects in another terminal (WAL "
        "reads never block the writer), browse results, inspect routers. `avp run --tui` runs "
        "the collector inside it.")
    add_db_argument(tui)
    tui.add_argument("--refresh", type=float, default=1.0, help="seconds between live refreshes")
    tui.set_defaults(func=cmd_tui)

    progress = subparsers.add_parser(
        "progress", help="the live screen's figures: grid, spend, projection, throughput, ETA")
    add_db_argument(progress)
    progress.add_argument("--json", action="store_true")
    progress.set_defaults(func=cmd_progress)

    cells = subparsers.add_parser("cells", help="list cells (the results screen), filtered")
    add_db_argument(cells)
    cells.add_argument("--model")
    cells.add_argument("--benchmark")
    cells.add_argument("--status", default="all",
                       help="all | ok | failed | wrong | right | an exact status (error, ...)")
    cells.add_argument("--disagreements", action="store_true",
                       help="only items on which the models' scores differ")
    cells.add_argument("--limit", type=_positive, default=200, metavar="N",
                       help="cells to list (default 200; says how many more match)")
    cells.add_argument("--all", action="store_true", help="list every matching cell")
    cells.add_argument("--json", action="store_true")
    cells.set_defaults(func=cmd_cells)

    show = subparsers.add_parser("show-cell", help="one cell in full (the item screen)")
    add_db_argument(show)
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show_cell)

    clusters = subparsers.add_parser(
        "clusters",
        help="a fitted router's clusters: size, distinguishing terms, samples, ranking at alpha")
    add_db_argument(clusters)
    clusters.add_argument("name")
    clusters.add_argument("--alpha", type=float, default=0.5)
    clusters.add_argument("--json", action="store_true")
    clusters.set_defaults(func=cmd_clusters)


def _open(args: argparse.Namespace) -> Any:
    from avp_harness.store import Store

    return Store.open(resolve_db(args.db), create=False)


def cmd_tui(args: argparse.Namespace) -> int:
    from avp_harness.tui.app import build_app

    build_app(resolve_db(args.db), refresh_s=args.refresh).run()
    return 0


def cmd_progress(args: argparse.Namespace) -> int:
    from avp_harness.store.cells import LiveAggregator

    with _open(args) as store:
        snap = LiveAggregator(store).refresh()
        claims = store.claims_by_owner()  # which collectors (host:pid:id) hold how many cells
    if args.json:
        print(json.dumps({**snap.as_dict(), "claims": claims}, indent=1))
        return 0
    projected = "?" if snap.projected_to_finish is None else f"${snap.projected_to_finish:.4f}"
    eta = "-" if snap.eta_s is None else f"{snap.eta_s:.0f}s"
    # as the TUI's banner: the latest run's own cells; throughput and ETA only while it runs
    done, planned = ((snap.run_done, snap.run_planned) if snap.run_planned
                     else (snap.done, snap.planned))
    status = (snap.run or {}).get("status")
    pace = (f"{snap.throughput:.1f} cells/s, ETA {eta}" if status in (None, "running")
            else f"run {status}")
    print(f"cells {done}/{planned}, failed {snap.errors}, spent ${snap.spent:.4f}, "
          f"to finish {projected}, {pace}")
    for c in snap.cells:
        acc = "-" if c.accuracy is None else f"{c.accuracy:.1%}"
        print(f"{c.benchmark:14} {c.model:28} {c.done:>6}/{c.planned or '?':<6} {acc:>6} "
              f"${c.dollars:.4f} failed {c.errors} rate-limited {c.rate_limited} "
              f"truncated {c.truncated} context-exceeded {c.context_exceeded}")
    for p in snap.providers:
        print(f"provider {p.name}: {p.requests_per_min:.0f} req/min, "
              f"{p.rate_limited} rate-limited cells")
    for owner, n in sorted(claims.items()):
        print(f"collector {owner}: {n} cells claimed")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def one_line(text: str | None, width: int) -> str:
    """A preview on one line: line breaks shown as ⏎, runs of blanks as one, cut with …"""
    flat = " ".join(" ⏎ ".join((text or "").strip().splitlines()).split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


def cmd_cells(args: argparse.Namespace) -> int:
    from avp_harness.cli.textgrid import terminal_width
    from avp_harness.errors import StoreError
    from avp_harness.store.cells import CellFilter, cell_names, count_cells, list_cells

    flt = CellFilter(args.model, args.benchmark, args.status, args.disagreements)
    limit = None if args.all else args.limit
    with _open(args) as store:
        models, benches = cell_names(store)
        for option, name, known in (("--model", args.model, models),
                                    ("--benchmark", args.benchmark, benches)):
            if name is not None and name not in known:
                raise StoreError(f"{option} {name!r}: no cells of that name in "
                                 f"{store.display_url} (it has: {', '.join(known) or 'none'})")
        rows = list_cells(store, flt, limit=limit)
        total = len(rows) if limit is None or len(rows) < limit else count_cells(store, flt)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
    else:
        width = terminal_width()
        id_w = max([2] + [len(str(r.id)) for r in rows])
        model_w = max([5] + [len(r.model) for r in rows])
        bench_w = max([9] + [len(r.benchmark) for r in rows])
        item_w = min(24, max([4] + [len(r.item_id) for r in rows]))
        status_w = max([6] + [len(r.status) for r in rows])
        fixed = id_w + model_w + bench_w + item_w + status_w + 5 + 9 + 7 * 2
        rest = max(20, width - fixed)
        answer_w = min(30, rest // 2) if any(r.error for r in rows) else rest

        def line(cid: str, model: str, bench: str, item: str, status: str, score: str,
                 cost: str, answer: str, error: str) -> str:
            return (f"{cid:>{id_w}}  {model:{model_w}}  {bench:{bench_w}}  {item:{item_w}}  "
                    f"{status:{status_w}}  {score:>5}  {cost:>9}  {answer:{answer_w}}  "
                    f"{error}").rstrip()

        print(line("id", "model", "benchmark", "item", "status", "score", "dollars",
                   "answer", "error" if answer_w < rest else ""))
        for r in rows:
            score = "-" if r.score is None else f"{r.score:g}"
            cost = "-" if r.cost is None else f"{r.cost:.5f}"
            print(line(str(r.id), r.model, r.benchmark, one_line(r.item_id, item_w), r.status,
                       score, cost, one_line(r.extracted, answer_w),
                       one_line(r.error, max(10, rest - answer_w - 2))))
    if len(rows) < total:
        print(f"avp: showing {len(rows)} of {total} cells; --limit N for more, --all for every "
              "one", file=sys.stderr)
    elif not rows:
        print("avp: no cells match", file=sys.stderr)
    return 0


def cmd_show_cell(args: argparse.Namespace) -> int:
    from avp_harness.store.cells import cell_detail

    with _open(args) as store:
        detail = cell_detail(store, args.id)
    if args.json:
        print(json.dumps(detail.as_dict(), indent=1, default=str))
        return 0
    from avp_harness.tui.results import detail_text

    print(detail_text(detail).plain)
    return 0


def cmd_clusters(args: argparse.Namespace) -> int:
    from avp_harness.errors import RouterError
    from avp_harness.routing import check_alpha
    from avp_harness.tui.router_model import inspect_router

    check_alpha(args.alpha)
    with _open(args) as store:
        view = inspect_router(store, args.name)
    if not view.clusters:
        raise RouterError(f"router {args.name!r} ({view.kind}) has no clusters")
    point = view.at(args.alpha)
    out: dict[str, Any] = {
        "router": view.name, "alpha": point.alpha, "accuracy": point.accuracy,
        "cost": point.cost, "usage": point.usage,
        "clusters": [
            {"id": c.id, "size": c.size, "terms": list(c.terms), "samples": list(c.samples),
             "ranking": [{"model": m, "score": _num(x), "accuracy": _num(a), "cost": _num(q)}
                         for m, x, a, q in view.ranking(c.id, args.alpha)]}
            for c in view.clusters
        ],
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"router {view.name} at alpha {point.alpha:.2f}: held-out accuracy "
          f"{point.accuracy:.1%}, cost ${point.cost:.4f}")
    print("usage: " + ", ".join(f"{m} {u:.0%}" for m, u in point.usage.items() if u))
    from avp_harness.cli.textgrid import terminal_width

    width = terminal_width()
    for c in out["clusters"]:
        best = c["ranking"][0]
        acc = "-" if best["accuracy"] is None else f"{best['accuracy']:.0%}"
        cost = "-" if best["cost"] is None else f"${best['cost']:.5f}"
        print(f"\ncluster {c['id']}: {c['size']} queries, best {best['model']} "
              f"(accuracy {acc}, {cost} per query)")
        print(one_line("terms: " + (", ".join(c["terms"]) or "none stand out"), width))
        for sample in c["samples"]:
            print(one_line(f"  - {sample}", width))
    return 0


def _num(v: float) -> float | None:
    return None if not math.isfinite(v) else round(v, 6)


def collect_in_tui(config: Any, db: str, *, budget: float | None) -> Any:
    """`avp run --tui`: the collector runs inside the app; returns its RunSummary."""
    from avp_harness.errors import ConfigError
    from avp_harness.tui.app import build_app

    config.check_runnable()  # before the screen opens
    app = build_app(db, config=config, budget=budget)
    app.run()
    if app.summary is None:
        reason = "the run did not start: " + "; ".join(app.messages)
        raise ConfigError(config.file_label(), "", reason)
    return app.summary
