"""After `make demo` (a store at ./demo/runs.db), the newcomer's next command works without
`--db`: with no `--db`, no $AVP_DB, no `db` in avp.toml and no ./runs.db, read commands open the
demo store and say so on stderr. Commands that write cells (`avp run`, `avp import`) never fall
back: real cells never enter the demo store."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from avp_harness.cli import main
from avp_harness.sim.server import SimServer

pytestmark = pytest.mark.integration

NOTE = "using the demo store demo/runs.db"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fallback") / "demo"
    code = main(["demo", "--dir", str(folder), "--arc", "8", "--humaneval", "0",
                 "--latency-scale", "0", "--faults", "", "--progress", "none"])
    assert code == 0
    return folder / "runs.db"


@pytest.fixture
def after_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: Path) -> Path:
    """A project folder where `make demo` has run: ./demo/runs.db, nothing else."""
    monkeypatch.chdir(tmp_path)
    for name in ("AVP_CONFIG", "AVP_DB", "AVP_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "demo").mkdir()
    shutil.copy(demo_store, tmp_path / "demo" / "runs.db")
    return tmp_path / "demo" / "runs.db"


def cell_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])


@pytest.mark.parametrize("argv", [
    ["status"],
    ["status", "--json"],
    ["cells", "--json"],
    ["progress"],
    ["report"],
    ["fit", "--name", "r", "--embedding", "tfidf", "--clusters", "2", "--top-k", "1"],
    ["routers", "list"],
], ids=lambda a: "-".join(a[:2]))
def test_next_command_after_the_demo_opens_the_demo_store(
    after_demo: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert NOTE in err and "SIMULATED" in err
    assert "no store" not in err
    assert not Path("runs.db").exists()  # no empty store made beside it
    if argv == ["status"]:
        assert "sim/atlas-xl" in out and "8/8" in out


def test_the_tui_resolves_the_same_store(after_demo: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`avp tui` opens `resolve_db(--db)`, the rule above; its header names the store."""
    import asyncio

    from avp_harness.cli import resolve_db
    from avp_harness.tui.app import build_app

    db = resolve_db(None)
    assert db == "demo/runs.db" and NOTE in capsys.readouterr().err

    async def header() -> str:
        app = build_app(db, refresh_s=60)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            return str(app.title) + " " + str(app.sub_title)

    assert "demo/runs.db" in asyncio.run(header())


def test_an_own_store_wins_and_nothing_is_said(
    after_demo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    own = Path("own.db")
    shutil.copy(after_demo, own)
    for how in ("runs.db", "env", "config"):
        if how == "runs.db":
            shutil.copy(after_demo, "runs.db")
        elif how == "env":
            Path("runs.db").unlink()
            monkeypatch.setenv("AVP_DB", str(own))
        else:
            monkeypatch.delenv("AVP_DB")
            Path("avp.toml").write_text('db = "own.db"\n', encoding="utf-8")
        assert main(["status", "--json"]) == 0, how
        assert "demo" not in capsys.readouterr().err, how


def test_commands_that_write_cells_never_use_the_demo_store(after_demo: Path) -> None:
    before = cell_count(after_demo)
    with SimServer(latency_scale=0.0) as sim:
        Path("avp.toml").write_text(
            f'[providers.sim]\nbase_url = "{sim.base_url}"\n\n'
            '[[models]]\nid = "sim/flash-mini"\nprovider = "sim"\n'
            'price = { input_per_m = 0.1, output_per_m = 0.4, date = "2026-11-01" }\n\n'
            '[[benchmarks]]\nname = "arc_agi"\nlimit = 3\n', encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "avp_harness.cli", "run", "--progress",
                               "none"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "demo" not in done.stderr
    assert cell_count(Path("runs.db")) == 3  # the user's own new store
    assert cell_count(after_demo) == before
    Path("runs.db").unlink()
    records = Path("records.jsonl")
    records.write_text(json.dumps({"query": "q1", "dataset": "d", "index": 0, "records": {
        "m1": True, "m2": False}, "usages": {"m1": {"cost": 0.1}, "m2": {"cost": 0.01}}}) + "\n")
    code = main(["import", "avengers-pro", str(records)])
    assert code == 0
    assert Path("runs.db").exists() and cell_count(after_demo) == before


def test_the_demo_names_the_next_command_that_finds_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("AVP_CONFIG", "AVP_DB"):
        monkeypatch.delenv(name, raising=False)
    argv = ["demo", "--arc", "2", "--humaneval", "0", "--latency-scale", "0", "--faults", "",
            "--progress", "none"]
    assert main(argv) == 0
    assert "inspect it again with `avp status`" in capsys.readouterr().err
    Path("runs.db").write_bytes(Path("demo/runs.db").read_bytes())  # a store of one's own
    assert main(argv) == 0
    assert "inspect it again with `avp status --db demo/runs.db`" in capsys.readouterr().err
