"""The served screen (key 5) shows what `avp serve` recorded, as `avp served` prints it, and
picks up requests recorded while it is shown."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Static

from avp_harness.cli import main
from avp_harness.store import Store
from avp_harness.store.served import ServedRequest, record_served
from avp_harness.tui.app import build_app

HOUR = 3600.0
T0 = 1_800_000_000.0  # an hour boundary (2027-01-15 08:00 UTC)


def rows() -> list[ServedRequest]:
    return [
        ServedRequest(T0 + 10, "avp/main", "main", 0.5, "sim/atlas", cost=0.002,
                      prompt_tokens=10, completion_tokens=5),
        ServedRequest(T0 + 20, "avp/main", "main", 0.5, "sim/flash", cost=0.001,
                      prompt_tokens=10, completion_tokens=5),
        ServedRequest(T0 + 30, "avp/main", "main", 0.5, "sim/flash", cost=0.001,
                      prompt_tokens=10, completion_tokens=5),
        ServedRequest(T0 + HOUR + 5, "avp/main", "main", 0.5, None, status="upstream_error",
                      http_status=502, upstream_status=500),
    ]


async def test_the_served_screen_shows_spend_and_mix_per_hour(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "runs.db")
    with Store.open(db) as store:
        record_served(store, rows()[:3])
    app = build_app(db, refresh_s=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#served-table", DataTable)
        for _ in range(200):  # the read runs in a thread worker
            if table.row_count:
                break
            await pilot.pause(0.05)
        banner = str(screen.query_one("#served-banner", Static).render())
        assert "3 requests served, 0 failed, $0.0040" in banner
        assert "models: sim/flash 67%, sim/atlas 33%" in banner
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][1:4] == ["3", "0", "0.0040"]

        with Store.open(db) as store:  # a request served while the screen is shown
            record_served(store, rows()[3:])
        await pilot.press("o")  # refresh now (it also refreshes by itself)
        for _ in range(200):
            if table.row_count == 2:
                break
            await pilot.pause(0.05)
        assert table.row_count == 2
        newest = [str(c) for c in table.get_row_at(0)]
        assert newest[1:3] == ["1", "1"] and newest[4] == "-"
    # the CLI prints the same totals from the same store
    assert main(["served", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"]["requests"] == 4 and report["total"]["failed"] == 1
    assert report["total"]["models"] == {"sim/atlas": 1, "sim/flash": 2}
