"""The TUI over a day's use (issue 14): stores and routers created after start, a grid that never
cuts a figure and says where hidden columns are, honest denominators, a Route screen that gives
the keys back, a help screen that fits 80 columns."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from avp_harness.cli import main
from avp_harness.store import Store
from avp_harness.store.cells import LiveAggregator, bulk_insert_cells, plan_pairs
from avp_harness.tui.app import build_app
from avp_harness.tui.help import HELP, HelpScreen
from avp_harness.tui.live import LiveScreen, banner_text, concurrency_text, hidden_columns
from avp_harness.tui.router import RouterPicker, RouterScreen, RouteScreen
from tests.tui.conftest import copy_store
from tests.tui.test_tui_snapshots import screen_text

SIZE = (80, 24)


async def settle(app: Any, pilot: Any) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def until(pilot: Any, condition: Any, what: str, tries: int = 3000) -> None:
    """Wait for `condition()` (the app's timers keep running); fails after a generous bound."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never happened: {what}")


def grid_text(app: Any) -> str:
    """The screen as text, line by line, as the terminal shows it."""
    return screen_text(app, "\0")


# -- stores and routers created after start ------------------------------------------------------

async def test_a_store_created_after_start_is_opened_with_o(filled_db: str, tmp_path: Path) -> None:
    db = tmp_path / "later.db"
    app = build_app(str(db), refresh_s=3600)  # no periodic look: only `o` can find it
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.store is None and "no store at" in grid_text(app)
        await pilot.press("o")
        assert app.store is None  # still missing: said, not raised
        copy_store(filled_db, db)
        await pilot.press("o")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, LiveScreen) and screen.snapshot is not None
        assert screen.snapshot.done == 36
        assert screen.query_one("#live-grid", DataTable).row_count == 3
        await pilot.press("2")
        await settle(app, pilot)
        assert len(app.screen.rows) == 36  # the results screen reads it too


async def test_a_store_created_after_start_is_found_without_a_key(filled_db: str,
                                                                  tmp_path: Path) -> None:
    db = tmp_path / "later.db"
    app = build_app(str(db), refresh_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.store is None
        copy_store(filled_db, db)
        await until(pilot, lambda: app.screen.snapshot is not None
                    and app.screen.snapshot.done == 36, "the live grid shows the new store")


async def test_a_router_fitted_after_start_appears(db_copy: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(RouterScreen, "LIST_EVERY_S", 0.05)
    app = build_app(db_copy)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RouterScreen)
        await until(pilot, lambda: screen.names == ["tfidf2"], "the router list is read")
        assert main(["fit", "--db", db_copy, "--name", "later", "--embedding", "tfidf",
                     "--clusters", "2", "--top-k", "1"]) == 0
        await until(pilot, lambda: "later" in screen.names, "the periodic check finds it")
        assert main(["fit", "--db", db_copy, "--name", "latest", "--embedding", "tfidf",
                     "--clusters", "2", "--top-k", "1"]) == 0
        await pilot.press("o")  # reads the list again and opens the picker with it
        await until(pilot, lambda: isinstance(app.screen, RouterPicker), "the picker opens")
        assert "latest" in app.screen.names
        await pilot.press("escape")
        assert app.router_view is not None and app.router_view.name == "tfidf2"


# -- the grid -------------------------------------------------------------------------------------

MODELS = ("prov/model-alpha", "prov/model-beta")


def wide_store(path: str, benches: int, rate_limits: int = 0) -> None:
    """`benches` benchmarks x 2 models x 12 items, with prices and one model's 429 count."""
    with Store.open(path) as store:
        pairs = [(m, f"bench{b}", f"h-{m}-{b}", 12) for m in MODELS for b in range(benches)]
        plan_pairs(store, pairs)
        rows = [
            {"model": m, "benchmark": b, "item_id": str(i), "sample": 0, "fingerprint": f"{h}{i}",
             "config_hash": h, "benchmark_version": "1", "item_hash": str(i), "status": "ok",
             "attempts": 1, "score": float(i % 3 == 0), "parsed": True, "cost": 0.0123,
             "rate_limits": rate_limits if (m == MODELS[0] and i == 0) else 0,
             "finished_at": 1.0}
            for m, b, h, n in pairs for i in range(n)
        ]
        bulk_insert_cells(store, rows)
        with store.engine.begin() as connection:
            from sqlalchemy import text

            connection.execute(text("UPDATE runs SET status='completed'"))


async def test_the_grid_widens_to_every_figure_even_when_it_grows(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    wide_store(db, 1, rate_limits=18)
    app = build_app(db, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "r18" in grid_text(app)  # not r1
        with Store.open(db) as store:  # a cell that failed after many 429s, written now
            bulk_insert_cells(store, [{
                "model": MODELS[0], "benchmark": "bench0", "item_id": "12", "sample": 0,
                "fingerprint": "late", "config_hash": f"h-{MODELS[0]}-0",
                "benchmark_version": "1", "item_hash": "12", "status": "rate_limited",
                "attempts": 9, "rate_limits": 123456, "finished_at": 2.0}])
        await pilot.press("r")
        await settle(app, pilot)
        line = next(x for x in grid_text(app).splitlines() if MODELS[0] in x)
        assert "r123474" in line and "e1" in line, line  # 18 + 123456 429s, in full


async def test_at_80x24_the_grid_keeps_models_fixed_and_says_what_is_hidden(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    wide_store(db, 7)
    app = build_app(db, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = grid_text(app)
        header = next(x for x in text.splitlines() if " model " in x)
        shown = [f"bench{b}" for b in range(7) if f"bench{b}" in header]
        hint = re.search(r"(\d+) more benchmarks →", text)
        assert hint is not None, text
        hidden = int(hint.group(1))  # a column cut at the edge counts as hidden
        assert hidden in (7 - len(shown), 8 - len(shown)), text
        assert 7 - hidden >= 3, text  # compact cells: more than the 2 that used to fit
        assert "12/12" in text and "$0.15" in text  # 12 x $0.0123, in full
        for _ in range(7):
            await pilot.press("right")
        await settle(app, pilot)
        text = grid_text(app)
        header = next(x for x in text.splitlines() if " model " in x)
        assert "bench6" in header and "model" in header  # scrolled right, names still there
        assert all(m in text for m in MODELS)
        assert "benchmarks  (←/→ to scroll)" in text and "← " in text


def test_hidden_columns_counts_both_sides() -> None:
    widths = [10, 20, 20, 20, 20]
    assert hidden_columns(widths, 55, 0) == (0, 2)
    assert hidden_columns(widths, 55, 20) == (1, 1)
    assert hidden_columns(widths, 55, 40) == (2, 0)
    assert hidden_columns(widths, 200, 0) == (0, 0)


# -- the banner and providers ---------------------------------------------------------------------

def test_the_banner_counts_the_latest_runs_cells_and_no_eta_once_it_ended(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    wide_store(db, 3)
    with Store.open(db) as store:
        # a new run planning one pair of the three, with 12 more items than stored
        plan_pairs(store, [(MODELS[0], "bench0", f"h-{MODELS[0]}-0", 24)])
        snap = LiveAggregator(store).refresh()
    assert (snap.run_done, snap.run_planned) == (12, 24)
    assert snap.planned == 24 + 5 * 12  # the whole store, as the grid shows it
    banner = banner_text(snap, paused=False, collecting=False).plain
    assert "cells 12/24 (50%)" in banner and "running" in banner and "ETA" in banner
    ended = banner_text(snap.__class__(**{**snap.__dict__, "run": {**snap.run,
                                                                   "status": "completed"}}),
                        paused=False, collecting=False).plain
    assert "completed" in ended and "ETA" not in ended and "cells/s" not in ended


def test_avp_progress_counts_as_the_banner_does(tmp_path: Path, capsys: Any) -> None:
    db = str(tmp_path / "w.db")
    wide_store(db, 3)  # its run has ended
    assert main(["progress", "--db", db]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("cells 72/72,") and "run completed" in first and "ETA" not in first
    with Store.open(db) as store:
        plan_pairs(store, [(MODELS[0], "bench0", f"h-{MODELS[0]}-0", 24)])
    assert main(["progress", "--db", db]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("cells 12/24,") and "ETA" in first


def test_concurrency_never_reads_more_in_flight_than_its_bound() -> None:
    assert concurrency_text(3, 8, 16) == "3/8 of 16"
    assert concurrency_text(3, 2, 16) == "2/2 of 16 +1 finishing"


# -- the Route screen and the help ----------------------------------------------------------------

async def test_the_route_screen_gives_the_keys_back(filled_db: str) -> None:
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RouteScreen)
        box = screen.query_one("#route-input", Input)
        footer = grid_text(app).splitlines()[-1]
        assert "/ Query" in footer and "Back" in footer and "PgUp" in footer, footer
        await pilot.press("question_mark")  # the app's key, not a character of the query
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and box.value == ""
        await pilot.press("escape")
        await pilot.press("slash", "a", "1", "question_mark")  # now the box has the keys
        assert box.value == "a1?" and app.screen is screen
        await pilot.press("escape")  # out of the box: keys are the app's again
        assert not box.has_focus and app.screen is screen
        await pilot.press("escape")  # and out of the screen
        await pilot.pause()
        assert isinstance(app.screen, LiveScreen)
        await pilot.press("4", "2")  # digits switch screens from Route
        await pilot.pause()
        assert app.current_mode == "results"


async def test_the_help_fits_80_columns_without_wrapping(tmp_path: Path) -> None:
    app = build_app(str(tmp_path / "absent.db"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = grid_text(app)
        for line in HELP.strip("\n").splitlines():
            if line.strip():
                assert line.rstrip() in text, f"wrapped or cut: {line!r}"


@pytest.mark.parametrize("dollars, shown", [(0, "$0"), (0.0022, "$0.0022"), (0.0216, "$0.0216"),
                                            (0.1, "$0.10"),
                                            (12.345, "$12.35"), (123.4, "$123"),
                                            (12345, "$12.3k")])
def test_money_is_short_and_keeps_two_figures(dollars: float, shown: str) -> None:
    from avp_harness.tui.live import money

    assert money(dollars) == shown
