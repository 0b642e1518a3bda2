"""`avp report --html out.html`: one self-contained page to attach to a paper or a pull request.

    write_html(store, reports, Path("out.html"), sweep=None)

The page holds the model x benchmark matrix, each benchmark's official metrics (`reports`, as
`avp report --json` prints them), the cost–accuracy figure as inline SVG (a stored router's
held-out sweep when one is given, else every model's accuracy and dollars beside the in-sample
best-model-per-benchmark), and a drill-down per benchmark: one collapsible row per item with each
model's score and extracted answer. Jinja2 renders it with autoescaping on; every text from the
store passes through `redact` (no API key, no URL password). Item prompts are not included, only
ids, scores and extracted answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avp_harness import __version__
from avp_harness.app.figures import Figure, Series, cost_scale, short, svg_text, sweep_figure
from avp_harness.errors import AvpError, DataError
from avp_harness.redact import redact
from avp_harness.store import MatrixRow, Store
from avp_harness.store.report import item_scores

MAX_ITEMS = 500  # drill-down rows per benchmark (the page stays quick to open)
EXTRACTED_CHARS = 400


@dataclass
class ItemRow:
    item_id: str
    scores: dict[str, float | None]  # model -> mean score over its samples (None: ungraded)
    extracted: dict[str, str]  # model -> sample 0's extracted answer
    samples: dict[str, int] = field(default_factory=dict)


def models_figure(matrix: list[MatrixRow]) -> Figure | None:
    """Each model's macro accuracy and dollars over the benchmarks every model has graded, and
    the best model per benchmark picked on the same cells (in-sample: no held-out split)."""
    models = sorted({r.model for r in matrix})
    acc = {(r.model, r.benchmark): r.accuracy for r in matrix}
    cost = {(r.model, r.benchmark): r.dollars for r in matrix}
    common = sorted(b for b in {r.benchmark for r in matrix}
                    if all(acc.get((m, b)) is not None for m in models))
    if not models or not common:
        return None

    def point(picks: Mapping[str, str]) -> tuple[float, float]:
        return (sum(cost[(m, b)] for b, m in picks.items()),
                sum(float(acc[(m, b)] or 0.0) for b, m in picks.items()) / len(picks))

    singles = {m: point(dict.fromkeys(common, m)) for m in models}
    def best_on(b: str) -> str:  # the most accurate model, the cheaper of equals
        return max(models, key=lambda m: (float(acc[(m, b)] or 0.0), -cost[(m, b)]))

    best = point({b: best_on(b) for b in common})
    scale = cost_scale([c for c, _ in singles.values()] + [best[0]])
    front, top = [], -1.0
    for _, (c, a) in sorted(singles.items(), key=lambda kv: (kv[1][0], -kv[1][1])):
        if a > top:
            front.append((c, a))
            top = a
    xs = [c for c, _ in front] + [max(c for c, _ in singles.values())]
    ys = [a for _, a in front] + [front[-1][1]]
    return Figure(
        f"Models on {len(common)} benchmark(s) every model has graded (all stored cells)",
        "total known cost ($)" + (", log scale" if scale == "log" else ""),
        "accuracy (macro over benchmarks)", scale,
        [Series("single models", "points", [c for c, _ in singles.values()],
                [a for _, a in singles.values()], [short(m) for m in singles], "tab:red",
                gid="models"),
         Series("best model per benchmark (in-sample)", "points", [best[0]], [best[1]],
                ["best-per-benchmark"], "tab:gray", "s", gid="baselines"),
         Series("frontier of the single models", "step", xs, ys, color="black",
                gid="frontier")])


def drill_down(store: Store, benchmark: str, limit: int = MAX_ITEMS) -> tuple[list[ItemRow], int]:
    """The first `limit` items of `benchmark` (by id) and the number of items in all."""
    rows: dict[str, ItemRow] = {}
    sums: dict[tuple[str, str], list[float]] = {}
    for s in item_scores(store, benchmark):
        row = rows.setdefault(s.item_id, ItemRow(s.item_id, {}, {}))
        row.samples[s.model] = row.samples.get(s.model, 0) + 1
        row.scores.setdefault(s.model, None)
        if s.score is not None:
            sums.setdefault((s.item_id, s.model), []).append(float(s.score))
        if s.model not in row.extracted or s.sample == 0:
            text = "" if s.extracted is None else redact(s.extracted)
            row.extracted[s.model] = text[:EXTRACTED_CHARS] + (
                "…" if len(text) > EXTRACTED_CHARS else "")
    for (item_id, model), values in sums.items():
        rows[item_id].scores[model] = sum(values) / len(values)
    ordered = sorted(rows.values(), key=lambda r: _natural(r.item_id))
    return ordered[:limit], len(ordered)


def _natural(item_id: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in _split_digits(item_id))


def _split_digits(text: str) -> list[str]:
    import re

    return [p for p in re.split(r"(\d+)", text) if p]


def _scalar_columns(report: Mapping[str, Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in report.values():
        for k, v in row.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in cols:
                cols.append(k)
    return cols


def render(store: Store, reports: Mapping[str, Mapping[str, Mapping[str, Any]]],
           sweep: Any = None, router: str | None = None, limit: int = MAX_ITEMS) -> str:
    """The page's HTML."""
    try:
        import jinja2
    except ImportError:
        raise AvpError("--html needs jinja2: pip install jinja2") from None
    matrix = store.matrix()
    models = sorted({r.model for r in matrix})
    benchmarks = sorted({r.benchmark for r in matrix} | set(reports))
    cells = {(r.model, r.benchmark): r for r in matrix}
    figure = sweep_figure(sweep, f"Router {router!r}: cost–accuracy on {sweep.n_test} held-out "
                          f"queries (seed {sweep.seed})") if sweep is not None \
        else models_figure(matrix)
    svg, svg_note = None, None
    if figure is not None:
        try:
            svg = svg_text(figure)
        except AvpError as exc:
            svg_note = str(exc)
    drill = {b: drill_down(store, b, limit) for b in benchmarks}
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("avp_harness.app", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(
        version=__version__,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        store=redact(store.display_url),
        models=models, benchmarks=benchmarks, cells=cells,
        reports=reports, columns={b: _scalar_columns(reports.get(b, {})) for b in benchmarks},
        figure=figure, svg=svg, svg_note=svg_note, router=router,
        drill=drill, limit=limit,
    )


def write_html(store: Store, reports: Mapping[str, Mapping[str, Mapping[str, Any]]], path: Path,
               sweep: Any = None, router: str | None = None, limit: int = MAX_ITEMS) -> None:
    html = render(store, reports, sweep, router, limit)
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror}") from None
