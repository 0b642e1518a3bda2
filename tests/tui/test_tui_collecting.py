"""The TUI while cells are being written: in-process (`avp run --tui`) and by another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from avp_harness.store import Store
from avp_harness.tui.app import build_app
from tests.tui.conftest import sim_config

SIZE = (80, 24)


async def test_in_process_run_pauses_resumes_and_quits_with_summary(sim: Any,
                                                                    tmp_path: Path) -> None:
    """Started paused, the run schedules nothing until `p`; then it runs to the end. (Pausing a
    running collector mid-way raced with a zero-latency run that could finish before the first
    key press on a loaded machine: starting paused makes the order certain.)"""
    db = str(tmp_path / "runs.db")
    app = build_app(db, config=sim_config(sim.base_url, db, arc=6), refresh_s=0.1,
                    collector_options={"backoff_initial_s": 0.01, "backoff_max_s": 0.05},
                    start_paused=True)
    requests_before = len(sim.log())
    async with app.run_test(size=SIZE) as pilot:
        assert app.collector is not None and app.collector.paused
        for _ in range(300):  # the banner says so at its next refresh (a thread worker)
            await pilot.pause(0.1)
            if "PAUSED" in str(app.screen.query_one("#live-banner").render()):
                break
        assert "PAUSED" in str(app.screen.query_one("#live-banner").render())
        assert app.collecting and len(sim.log()) == requests_before  # nothing was called
        await pilot.press("p")
        assert not app.collector.paused
        assert app.collector_worker is not None
        await app.collector_worker.wait()
        for _ in range(300):  # a refresh soon shows every cell done (slow on a loaded machine)
            await pilot.pause(0.1)
            snap = app.screen.snapshot
            if snap is not None and snap.done == 18:
                break
        assert snap.done == snap.planned == 18
        await pilot.press("p")  # after the end, `p` says so instead of pausing nothing
        assert not app.collector.paused
        providers = app.screen.query_one("#live-providers")
        assert providers.row_count == 1 and app.reporter is not None
        limits = next(iter(app.reporter.providers.values()))
        assert limits.requests >= 18
        await pilot.press("q")
    assert app.return_value is not None and app.return_value.status == "completed"
    assert app.return_value.ok == 18


async def test_tui_keeps_up_with_a_collector_subprocess(tmp_path: Path) -> None:
    """`avp demo` writes from another process; the TUI reads the WAL store as it grows."""
    folder = tmp_path / "demo"
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "avp_harness.cli", "demo", "--dir", str(folder), "--arc", "40",
             "--humaneval", "0", "--latency-scale", "0.3", "--faults", "", "--progress", "none"],
            stdout=subprocess.DEVNULL, stderr=err,
        )
    db = folder / "runs.db"
    try:
        # Wait for the collector to have created the store: two processes running Store.open
        # on a file being created can race on switching it to WAL ("database is locked").
        wal = folder / "runs.db-wal"
        for _ in range(600):
            if wal.exists() and wal.stat().st_size > 0:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        app = build_app(str(db), refresh_s=0.1)
        seen: list[int] = []
        async with app.run_test(size=SIZE) as pilot:
            while proc.poll() is None:
                await pilot.pause(0.1)
                if app.screen.snapshot is not None:
                    seen.append(app.screen.snapshot.done)
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()
            final = app.screen.snapshot
        assert proc.wait() == 0, errors.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with Store.open(str(db)) as store:
        matrix = store.matrix()
    assert final is not None and final.done == sum(r.done for r in matrix) == final.planned
    assert seen == sorted(seen)  # counts only grow
    assert any(0 < n < final.planned for n in seen)  # it really watched the run progress
