"""The cost–accuracy figures draw what the tables print: the same points, the same frontier."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avp_harness.app.figures import compare_figure, cost_scale, hull_line, render, sweep_figure
from avp_harness.app.routing import sweep_router
from avp_harness.routing import alpha_grid
from avp_harness.store import Store
from tests.integration.test_router_cli import db, run  # noqa: F401  (the fixture)


@pytest.fixture()
def sweep(db):  # noqa: F811
    with Store.open(db, create=False) as store:
        return sweep_router(store, "main", alpha_grid("0:1:0.05"))[0]


def test_the_sweep_figure_plots_the_tables_points_frontier_and_baselines(sweep):
    fig = sweep_figure(sweep)
    assert "held-out" in fig.title
    pts = fig.get("router-points")
    assert pts.x == sweep.cost.tolist() and pts.y == sweep.accuracy.tolist()
    # α labels on exactly the grid points that are frontier vertices
    hc, ha = sweep.hull()
    labelled = {(x, y) for x, y, n in zip(pts.x, pts.y, pts.names, strict=True) if n}
    assert labelled and all(n == "" or n.startswith("α=") for n in pts.names)
    assert labelled <= set(zip(hc.tolist(), ha.tolist(), strict=True))
    # every frontier vertex carries its α: a grid α, or where its decision segment starts
    between = fig.get("router-between")
    assert sweep.frontier_exact
    assert labelled | set(zip(between.x, between.y, strict=True)) == set(
        zip(hc.tolist(), ha.tolist(), strict=True))
    assert all(n == "α=0" or n.startswith("α>") for n in between.names)
    # the frontier read at each system's cost is the table's "router frontier at that cost"
    front = fig.get("frontier")
    for _name, (_acc, cost) in sweep.systems().items():
        reach = sweep.frontier_reach(cost)
        if not math.isnan(reach):
            assert np.interp(cost, front.x, front.y) == pytest.approx(reach, abs=1e-12)
    models = fig.get("models")
    assert dict(zip(models.names, zip(models.y, models.x, strict=True), strict=True)) == {
        m: sweep.single[m] for m in sweep.single}
    base = fig.get("baselines")
    assert set(base.names) == {"random", "cheapest", "best-per-benchmark"}
    assert fig.get("oracle").y == [sweep.baselines["oracle"][0]]
    # and matplotlib is handed those very numbers (the axes' data, not pixels)
    pytest.importorskip("matplotlib")
    mfig = render(fig)
    ax = mfig.axes[0]
    lines = {line.get_gid(): line for line in ax.lines}
    assert lines["frontier"].get_xdata().tolist() == front.x
    assert lines["router-points"].get_ydata().tolist() == pts.y
    assert ax.get_xscale() == fig.xscale and ax.get_title() == fig.title


def test_on_a_log_axis_the_frontier_is_drawn_as_the_straight_dollar_segments_it_is():
    hc, ha = np.array([1.0, 10.0, 100.0]), np.array([0.2, 0.6, 0.7])
    assert cost_scale([1.0, 100.0]) == "log" and cost_scale([0.0, 100.0]) == "linear"
    xs, ys = hull_line(hc, ha, 400.0, "log")
    assert len(xs) > 40 and xs[-1] == 400.0 and ys[-1] == 0.7  # flat past the last vertex
    probe = np.geomspace(1.0, 100.0, 333)
    assert np.allclose(np.interp(probe, xs, ys), np.interp(probe, hc, ha), atol=1e-12)
    assert hull_line(hc, ha, 50.0, "linear") == ([1.0, 10.0, 100.0], [0.2, 0.6, 0.7])


def test_the_compare_figure_steps_through_the_tables_pareto_systems(db, capsys):  # noqa: F811
    from avp_harness.app.compare import CompareRequest, compare

    with Store.open(db, create=False) as store:
        r = compare(store, CompareRequest(embedding="tfidf", methods=("baselines", "avengers_pro")))
    fig = compare_figure(r)
    front = fig.get("frontier")
    marked = sorted((row.cost, row.accuracy) for row in r.rows if row.pareto)
    assert list(zip(front.x, front.y, strict=True))[: len(marked)] == marked
    pro = fig.get("avengers-pro")
    assert all(n.startswith("α=") for n in pro.names)
    single = fig.get("single")
    assert sorted(single.y) == sorted(row.accuracy for row in r.rows if row.family == "single")


def test_the_reports_models_figure_uses_benchmarks_every_model_graded():
    from avp_harness.app.html_report import models_figure
    from avp_harness.store import MatrixRow

    def row(model, bench, acc, dollars):
        return MatrixRow(model, bench, 10, 10, 10, acc, 0, 0, 0, dollars, 0, 0, 0, None)

    matrix = [row("p/a", "x", 0.9, 1.0), row("p/a", "y", 0.2, 1.0),
              row("p/b", "x", 0.5, 0.1), row("p/b", "y", 0.6, 0.1),
              row("p/b", "z", 1.0, 5.0)]  # z: only one model graded it, left out
    fig = models_figure(matrix)
    models = fig.get("models")
    assert dict(zip(models.names, zip(models.x, models.y, strict=True), strict=True)) == {
        "a": (2.0, pytest.approx(0.55)), "b": (pytest.approx(0.2), pytest.approx(0.55))}
    best = fig.get("baselines")  # a on x, b on y
    assert best.x == [pytest.approx(1.1)] and best.y == [pytest.approx(0.75)]
    front = fig.get("frontier")  # b is as accurate and cheaper: a is not on it
    assert front.x[0] == pytest.approx(0.2) and front.y == [pytest.approx(0.55)] * 2
    assert "2 benchmark(s)" in fig.title
