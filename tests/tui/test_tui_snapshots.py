"""Snapshot tests of the main screens at 80x24, as plain text.

pytest-textual-snapshot 1.1 would downgrade the project's pytest 9 to 8.x, so the screens are
rendered to text here (the compositor's lines, the store path replaced by <db>) and compared with
files under tests/tui/snapshots/. After an intended change, regenerate and review them:

    AVP_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/tui/test_tui_snapshots.py
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from avp_harness.tui.app import build_app

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (80, 24)


def screen_text(app: Any, db: str) -> str:
    lines = [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]
    text = "\n".join(lines).replace(db, "<db>") + "\n"
    # the header centres the title with the real path in it: its offset depends on that path
    return re.sub(r"^ ⭘ +avp — ", " ⭘ avp — ", text)


def check(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("AVP_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: see module docstring"


async def settle(app: Any, pilot: Any) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_snapshot_missing_store_and_help(monkeypatch: Any) -> None:
    # a folder name of fixed length, so the message wraps at the same place on every machine
    with tempfile.TemporaryDirectory(prefix="s", dir="/tmp") as folder:
        monkeypatch.chdir(folder)
        db = str(Path(folder).resolve() / "absent.db")
        app = build_app("absent.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            check("live_missing_store", screen_text(app, db))
            await pilot.press("question_mark")
            await pilot.pause()
            check("help", screen_text(app, db))


async def test_snapshot_router_inspector(filled_db: str) -> None:
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        await pilot.press("right")
        await pilot.pause()
        # dollars differ slightly between fresh collections: compare the layout, digits masked
        check("router_inspector", re.sub(r"\d", "9", screen_text(app, filled_db)))


async def test_snapshot_results(filled_db: str) -> None:
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        text = screen_text(app, filled_db)
        # cell ids depend on the collector's completion order: compare without the id column
        check("results", "\n".join(line[5:50] for line in text.splitlines()) + "\n")


async def test_snapshot_live_grid(filled_db: str) -> None:
    app = build_app(filled_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = screen_text(app, filled_db)
        # every model's full id and every cell's figures are drawn, not cut to the header's width
        for model in ("sim/atlas-xl", "sim/flash-mini", "sim/mid-pro"):
            assert re.search(rf"{re.escape(model)}\s+12/12\s+\d+% \$\d\.\d{{2,4}}", text), text
        # the banner's and the providers' live figures (throughput, requests per minute) change
        # from run to run: snapshot the grid, figures masked
        # (the blank lines below the rows depend on the banner's height, which its live figures
        # change: compare the rows)
        grid = text[text.index(" model "):text.index(" provider ")].rstrip("\n") + "\n"
        check("live_grid", re.sub(r"\d+", "9", grid))
