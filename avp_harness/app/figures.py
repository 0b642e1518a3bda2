"""Cost–accuracy figures as data, drawn by matplotlib (the optional `plot` extra) only in `draw`.

    fig = sweep_figure(result)      # what `avp sweep --plot` draws, from the sweep's own figures
    draw(fig, Path("f.png"))        # PNG or SVG by the file's suffix
    svg = svg_text(fig)             # the same figure as an <svg> element (the HTML report)

The router's frontier is drawn as the table computes it (`SweepResult.frontier_reach`): the upper
hull's vertices joined by straight segments in dollars (a mix of two α), flat past its most
accurate vertex. On a log cost axis a straight segment in dollars is a curve, so each segment is
drawn through enough points between its ends to be that curve; reading the line back at any cost
(linear interpolation of its points) gives the table's figure exactly. `avp compare`'s frontier is
its table's `pareto` column: the best accuracy of any marked system at a cost at most c, a step.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avp_harness.errors import RouterError

LOG_SPREAD = 20.0  # a log cost axis when the dearest point costs this many times the cheapest
SEGMENT_POINTS = 48  # points per hull segment on a log axis


@dataclass
class Series:
    """One thing drawn: points (with a label each), a line, or a step line."""

    label: str | None
    kind: str  # points | line | step
    x: list[float]
    y: list[float]
    names: list[str] = field(default_factory=list)  # a label per point, drawn beside it
    color: str = "tab:blue"
    marker: str = "o"
    low: list[float] | None = None  # error bars (points only)
    high: list[float] | None = None
    gid: str = ""  # the SVG group id (the HTML report and its test find the series by it)


@dataclass
class Figure:
    title: str
    xlabel: str
    ylabel: str
    xscale: str  # linear | log
    series: list[Series]

    def get(self, gid: str) -> Series:
        return next(s for s in self.series if s.gid == gid)


def cost_scale(costs: list[float]) -> str:
    positive = [c for c in costs if c > 0]
    if len(positive) < len(costs) or not positive:
        return "linear"  # a free system has no place on a log axis
    return "log" if max(positive) >= LOG_SPREAD * min(positive) else "linear"


def hull_line(hc: np.ndarray, ha: np.ndarray, x_end: float, scale: str) -> tuple[list[float],
                                                                                 list[float]]:
    """The frontier's points: the hull's vertices (and, on a log axis, points on each straight
    segment between them), then flat to `x_end` when it lies past the last vertex."""
    xs, ys = [float(hc[0])], [float(ha[0])]
    for i in range(1, len(hc)):
        if scale == "log":
            inner = np.geomspace(hc[i - 1], hc[i], SEGMENT_POINTS)[1:-1]
            xs += inner.tolist()
            ys += np.interp(inner, hc, ha).tolist()
        xs.append(float(hc[i]))
        ys.append(float(ha[i]))
    if x_end > xs[-1]:
        xs.append(float(x_end))
        ys.append(ys[-1])
    return xs, ys


def sweep_figure(r: Any, title: str | None = None) -> Figure:
    """`avp sweep`'s figure from a `SweepResult`: the router at each grid α (α labels on the
    points that are frontier vertices), its frontier, every single model and every baseline."""
    systems = r.systems()
    cost_all = [float(c) for c in r.points()[0]] + [c for _, c in systems.values()]
    scale = cost_scale(cost_all)
    hc, ha = r.hull()
    xs, ys = hull_line(hc, ha, max(cost_all), scale)
    vertices = {(round(float(c), 12), round(float(a), 12)) for c, a in zip(hc, ha, strict=True)}
    names = []
    for a, acc, c in zip(r.alphas, r.accuracy, r.cost, strict=True):
        key = (round(float(c), 12), round(float(acc), 12))
        names.append(f"α={a:g}" if key in vertices else "")
        vertices.discard(key)  # one label per vertex: the smallest α reaching it
    between: tuple[list[float], list[float], list[str]] = ([], [], [])
    if r.frontier_alpha is not None and r.frontier_cost is not None:
        for c, acc, a in zip(r.frontier_cost, r.frontier_accuracy, r.frontier_alpha,
                             strict=True):
            key = (round(float(c), 12), round(float(acc), 12))
            if key in vertices:  # a frontier vertex no grid α reaches: where its segment starts
                between[0].append(float(c))
                between[1].append(float(acc))
                between[2].append(f"α>{a:.3g}" if a > 0 else "α=0")
                vertices.discard(key)
    series = [
        Series("router at each α", "points", [float(c) for c in r.cost],
               [float(a) for a in r.accuracy], names, "tab:blue", ".", gid="router-points"),
        Series("router between grid α (frontier vertices)", "points", *between, "tab:cyan", "d",
               gid="router-between"),
        Series("router frontier (upper hull: mixing two α)", "line", xs, ys, color="tab:blue",
               gid="frontier"),
        Series("single models", "points", [c for _, c in r.single.values()],
               [a for a, _ in r.single.values()], [short(m) for m in r.single], "tab:red", "o",
               gid="models"),
    ]
    base = {k: v for k, v in r.baselines.items() if k != "oracle"}
    series.append(Series("baselines", "points", [c for _, c in base.values()],
                         [a for a, _ in base.values()], [k.replace("_", "-") for k in base],
                         "tab:gray", "s", gid="baselines"))
    if "oracle" in r.baselines:
        acc, c = r.baselines["oracle"]
        series.append(Series("oracle (reads the answers)", "points", [c], [acc], ["oracle"],
                             "tab:green", "*", gid="oracle"))
    exact = "every decision α" if r.frontier_exact else "the α grid"
    return Figure(
        title or f"Router cost–accuracy on {r.n_test} held-out queries (seed {r.seed}; "
        f"frontier over {exact})",
        "total cost on the held-out split ($)" + (", log scale" if scale == "log" else ""),
        "accuracy (macro over benchmarks)", scale, series)


FAMILY_COLORS = {"single": "tab:red", "baseline": "tab:gray", "avengers_pro": "tab:blue",
                 "avengers": "tab:orange", "jisi": "tab:green"}


def compare_figure(r: Any, title: str | None = None) -> Figure:
    """`avp compare`'s figure from a `CompareResult`: every system with its 95% interval, and
    the table's frontier (its `pareto` systems) as a step: the best accuracy at cost ≤ c."""
    scale = cost_scale([row.cost for row in r.rows])
    series = []
    for family, color in FAMILY_COLORS.items():
        rows = [row for row in r.rows if row.family == family]
        if not rows:
            continue
        names = [f"α={row.alpha:g}" if row.alpha is not None else short(row.name)
                 for row in rows]
        series.append(Series(family.replace("_", "-"), "points", [row.cost for row in rows],
                             [row.accuracy for row in rows], names, color, "o",
                             [row.low for row in rows], [row.high for row in rows],
                             gid=family.replace("_", "-")))
    front = sorted((row for row in r.rows if row.pareto), key=lambda row: row.cost)
    if front:
        xs = [row.cost for row in front] + [max(row.cost for row in r.rows)]
        ys = [row.accuracy for row in front] + [front[-1].accuracy]
        series.append(Series("frontier (the table's pareto systems)", "step", xs, ys,
                             color="black", gid="frontier"))
    return Figure(
        title or f"Collaboration methods on the held-out split ({len(r.models)} models, "
        f"seeds {', '.join(map(str, r.seeds))})",
        "total cost on the held-out split ($)" + (", log scale" if scale == "log" else ""),
        "accuracy (macro over benchmarks), 95% interval", scale, series)


def short(model: str) -> str:
    return model.rsplit("/", 1)[-1]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RouterError("figures need matplotlib: pip install 'avp-harness[plot]'") from None
    return plt


def render(fig: Figure, size: tuple[float, float] = (9, 6)) -> Any:
    """A matplotlib figure of `fig` (closed by the caller)."""
    plt = _pyplot()
    mfig, ax = plt.subplots(figsize=size)
    for s in fig.series:
        if not s.x:
            continue
        if s.kind == "points":
            if s.low is not None and s.high is not None:
                yerr = [[y - lo for y, lo in zip(s.y, s.low, strict=True)],
                        [hi - y for y, hi in zip(s.y, s.high, strict=True)]]
                art = ax.errorbar(s.x, s.y, yerr=yerr, fmt=s.marker, color=s.color, label=s.label,
                                  markersize=4, capsize=2, alpha=0.85)
                art.lines[0].set_gid(s.gid)
            else:
                size_ = 12 if s.marker == "*" else 5
                (line,) = ax.plot(s.x, s.y, s.marker, color=s.color, label=s.label,
                                  markersize=size_, alpha=0.7 if s.marker == "." else 1.0)
                line.set_gid(s.gid)
        else:
            (line,) = ax.plot(s.x, s.y, "-", color=s.color, label=s.label, alpha=0.8,
                              drawstyle="steps-post" if s.kind == "step" else "default")
            line.set_gid(s.gid)
    labels: dict[tuple[float, float], list[str]] = {}  # points at one place share a label
    for s in fig.series:
        for x, y, name in zip(s.x, s.y, s.names, strict=False):
            if name and name not in labels.setdefault((x, y), []):
                labels[(x, y)].append(name)
    for (x, y), names in labels.items():
        if names:
            ax.annotate(", ".join(names), (x, y), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    if fig.xscale == "log":
        ax.set_xscale("log")
    ax.set_title(fig.title, fontsize=10)
    ax.set_xlabel(fig.xlabel)
    ax.set_ylabel(fig.ylabel)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return mfig


def draw(fig: Figure, path: Path) -> None:
    """Write `fig` to `path` (PNG, or SVG/PDF by suffix); one line for an unwritable path."""
    plt = _pyplot()
    mfig = render(fig)
    try:
        mfig.savefig(path, dpi=120, bbox_inches="tight")
    except OSError as exc:
        raise RouterError(f"cannot write {path}: {exc.strerror}") from None
    except ValueError as exc:  # an unknown suffix
        raise RouterError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(mfig)


def svg_text(fig: Figure) -> str:
    """`fig` as one <svg> element (no XML prolog), for embedding in HTML."""
    plt = _pyplot()
    mfig = render(fig)
    out = io.StringIO()
    try:
        mfig.savefig(out, format="svg", bbox_inches="tight")
    finally:
        plt.close(mfig)
    text = out.getvalue()
    return text[text.index("<svg"):]
