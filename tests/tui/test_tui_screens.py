"""Pilot-driven tests of every screen on a real runs.db filled through the simulated provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from avp_harness.store import Store
from avp_harness.store.cells import CellFilter, LiveAggregator, list_cells
from avp_harness.tui.app import build_app
from avp_harness.tui.live import LiveScreen
from avp_harness.tui.results import ItemScreen, ResultsScreen
from avp_harness.tui.router import ClusterScreen, CompareScreen, RouterScreen, RouteScreen

SIZE = (80, 24)


def static_text(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def settle(app: Any, pilot: Any) -> None:
    """Let thread workers finish and their results be drawn."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_live_grid_shows_matrix_figures(filled_db: str) -> None:
    with Store.open(filled_db) as store:
        matrix = {(r.model, r.benchmark): r for r in store.matrix()}
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        snap = screen.snapshot
        assert snap is not None and snap.done == 36 and snap.planned == 36
        for cell in snap.cells:
            row = matrix[(cell.model, cell.benchmark)]
            assert (cell.done, cell.planned) == (row.done, row.planned)
            assert cell.accuracy == pytest.approx(row.accuracy)
            assert cell.dollars == pytest.approx(row.dollars)
        grid = screen.query_one("#live-grid", DataTable)
        assert grid.row_count == 3
        rendered = str(grid.get_cell("sim/atlas-xl", "arc_agi"))
        assert rendered.startswith("12/12 ")
        assert f"{matrix[('sim/atlas-xl', 'arc_agi')].accuracy:.0%}" in rendered
        banner = static_text(app, "#live-banner")
        assert "cells 36/36 (100%)" in banner and "spent $" in banner


async def test_drill_from_cell_to_items_to_item(filled_db: str) -> None:
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("right")  # from the model column to arc_agi
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        assert app.cell_filter == CellFilter(model="sim/atlas-xl", benchmark="arc_agi")
        assert len(screen.rows) == 12 and {r.model for r in screen.rows} == {"sim/atlas-xl"}
        assert "12 cells" in static_text(app, "#results-banner")
        await pilot.press("enter")
        await settle(app, pilot)
        item = app.screen
        assert isinstance(item, ItemScreen) and item.detail is not None
        body = static_text(app, "#item-body")
        cell = item.detail.cell
        assert f"cell {cell.id}  sim/atlas-xl  arc_agi" in body
        for heading in ("grade", "prompt", "response", "tokens", "dollars", "latency"):
            assert heading in body
        assert item.detail.messages and item.detail.messages[-1]["content"][:40] in body
        await pilot.press("escape")
        assert isinstance(app.screen, ResultsScreen)


async def test_results_filters_failures_disagreements_and_benchmark(db_copy: str) -> None:
    # make one failure so the failure filter has something real to find
    with Store.open(db_copy) as store:
        victim = list_cells(store, CellFilter(model="sim/mid-pro"), limit=1)[0]
        with store.engine.begin() as connection:
            from sqlalchemy import text

            connection.execute(text("UPDATE cells SET status='rate_limited', error='429 x' "
                                    "WHERE id=:i"), {"i": victim.id})
        disagreeing = list_cells(store, CellFilter(disagreements=True), limit=10_000)
    assert disagreeing  # the simulated models do not all agree on 12 ARC tasks
    app = build_app(db_copy)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ResultsScreen) and len(screen.rows) == 36
        await pilot.press("f")  # all -> failed
        await settle(app, pilot)
        assert [r.id for r in screen.rows] == [victim.id]
        assert "status failed" in static_text(app, "#results-banner")
        await pilot.press("x", "d")
        await settle(app, pilot)
        assert {r.id for r in screen.rows} == {r.id for r in disagreeing}
        items = {(r.benchmark, r.item_id) for r in screen.rows}
        for key in items:  # every listed item really has differing scores
            scores = {r.score for r in screen.rows if (r.benchmark, r.item_id) == key}
            assert len(scores - {None}) > 1
        await pilot.press("x", "b")
        await settle(app, pilot)
        assert app.cell_filter.benchmark == "arc_agi" and len(screen.rows) == 36


async def test_router_inspector_moves_alpha_and_shows_clusters(filled_db: str) -> None:
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RouterScreen)
        view = app.router_view
        assert view is not None and view.name == "tfidf2" and len(view.clusters) == 2
        assert "α 0.50" in static_text(app, "#router-banner")
        await pilot.press("left", "left", "pagedown")
        assert app.alpha == pytest.approx(0.38)
        point = view.at(0.38)
        banner = static_text(app, "#router-banner")
        assert "α 0.38" in banner and f"accuracy {point.accuracy:.1%}" in banner
        usage = screen.query_one("#router-usage", DataTable)
        assert usage.row_count == 3
        assert sum(point.usage.values()) == pytest.approx(1.0)
        clusters = screen.query_one("#router-clusters", DataTable)
        assert clusters.row_count == 2
        assert sum(c.size for c in view.clusters) == view.sweep.n_train
        best = view.ranking(0, 0.38)[0][0]
        assert str(clusters.get_row_at(0)[2]) == best
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)
        assert "ranking at α 0.38" in static_text(app, "#cluster-body")


async def test_router_inspector_compares_every_method(filled_db: str) -> None:
    """m: `avp compare` on the inspected router's split (TF-IDF, as it was fitted): the single
    models, the baselines and JiSi router-only as rows; what 12 ARC tasks cannot support (64
    clusters for the Avengers, aggregator cells for full JiSi) listed with the reason."""
    from avp_harness.app.compare import CompareRequest, compare

    app = build_app(filled_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        assert isinstance(app.screen, CompareScreen) and app.screen.embedding == "tfidf"
        table = app.screen.query_one("#compare-rows", DataTable)
        shown = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        with Store.open(filled_db) as store:
            expected = compare(store, CompareRequest(embedding="tfidf"))
        assert list(shown) == [r.name for r in expected.rows]
        for name in ("sim/atlas-xl", "oracle", "best_per_benchmark", "jisi (router-only)"):
            row = next(r for r in expected.rows if r.name == name)
            assert str(shown[name][2]) == f"{row.accuracy:.1%}"
            assert str(shown[name][5]) == f"{row.calls:.0f}"
        skipped = static_text(app, "#compare-skipped")
        assert "jisi (full, with aggregator)" in skipped and "avp aggregate" in skipped
        assert "avengers" in skipped
        await pilot.press("escape")
        assert isinstance(app.screen, RouterScreen)


async def test_route_screen_scores_every_model(filled_db: str) -> None:
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, RouteScreen)
        await pilot.press("slash")  # the query box takes the keys only once asked to
        app.screen.query_one(Input).value = "Find the output grid for the test input"
        await pilot.press("enter")
        await settle(app, pilot)
        result = app.screen.result
        assert result is not None and len(result.scores) == 3
        assert result.chosen == result.scores[0][0]
        table = app.screen.query_one("#route-scores", DataTable)
        assert table.row_count == 3 and str(table.get_row_at(0)[1]) == result.chosen


async def test_help_and_missing_store(tmp_path: Path) -> None:
    app = build_app(str(tmp_path / "absent.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "no store at" in static_text(app, "#live-banner")
        await pilot.press("2")
        await settle(app, pilot)
        assert "no store at" in static_text(app, "#results-banner")
        await pilot.press("question_mark")
        await pilot.pause()
        assert "p pause / resume" in static_text(app, "#help-text")
    assert not (tmp_path / "absent.db").exists()


async def test_empty_and_newer_stores_are_explained(tmp_path: Path) -> None:
    empty = str(tmp_path / "empty.db")
    Store.open(empty).close()
    app = build_app(empty)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "no cells yet" in static_text(app, "#live-banner")
        await pilot.press("3")
        await settle(app, pilot)
        assert "no fitted routers" in static_text(app, "#router-banner")
    with Store.open(empty) as store:
        store.set_meta("schema_version", "999")
    app = build_app(empty)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "newer than this avp-harness" in static_text(app, "#live-banner")


def test_live_aggregator_follows_retries_like_matrix(db_copy: str) -> None:
    """Incremental refreshes agree with the full GROUP BY after failures turn ok."""
    from sqlalchemy import text

    with Store.open(db_copy) as store:
        live = LiveAggregator(store)
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE cells SET status='error', score=NULL, rate_limits=2 "
                                    "WHERE id % 5 = 0"))
        first = live.refresh()
        assert first.errors == len(store.cells(status="error", limit=1000))
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE cells SET status='ok', score=1.0, attempts=attempts+1"
                                    ", rate_limits=rate_limits+1 WHERE id % 10 = 0"))
        snap = live.refresh()
        for row in store.matrix():
            cell = snap.cell(row.model, row.benchmark)
            assert cell is not None
            assert (cell.done, cell.errors) == (row.done, row.errors)
            assert cell.rate_limited == row.rate_limited  # 429s met, retried or not
            assert cell.accuracy == pytest.approx(row.accuracy)
        stored = sum(r.rate_limited for r in store.matrix())
        assert sum(c.rate_limited for c in snap.cells) == stored > 0
        assert snap.done + snap.errors == 36
