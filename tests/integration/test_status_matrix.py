"""`avp status` prints the model x benchmark matrix readable at 80 columns: models as rows,
benchmarks as columns, no figure cut; wide matrices wrap into blocks of columns, the model column
repeated. Read from a real SQLite store filled by the simulated provider (`avp demo`), and from a
wide store; the figures must be those of `--json`. The status path reads a current SQLite store
with the standard library alone (no SQLAlchemy import: most of its start-up time)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from avp_harness.cli import main
from avp_harness.store import PlanEntry, Store
from avp_harness.store.cells import bulk_insert_cells
from avp_harness.store.status_read import read_matrix

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("status") / "demo"
    code = main(["demo", "--dir", str(folder), "--arc", "6", "--humaneval", "2",
                 "--latency-scale", "0", "--faults", "", "--progress", "none"])
    assert code == 0
    return str(folder / "runs.db")


WIDE_MODELS = ["openrouter/qwen/qwen3-235b-a22b", "sim/atlas-xl", "local/llama-3.1-8b"]
WIDE_BENCHES = ["arc_agi", "gpqa_diamond", "healthbench_consensus", "humaneval", "livecodebench",
                "math500", "mmlu_pro", "simpleqa", "aime_2025"]


@pytest.fixture(scope="module")
def wide_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with 3 models x 9 benchmarks (cells written directly), 10 planned per pair."""
    db = str(tmp_path_factory.mktemp("wide") / "runs.db")
    rows = []
    for m, model in enumerate(WIDE_MODELS):
        for b, bench in enumerate(WIDE_BENCHES):
            for i in range(3 + (m + b) % 5):  # done 3..7 of 10, some wrong, one failure
                failed = i == 0 and b == 2
                rows.append({
                    "model": model, "benchmark": bench, "item_id": str(i), "sample": 0,
                    "fingerprint": f"{model}|{bench}|{i}", "config_hash": f"{model}|{bench}",
                    "benchmark_version": "1", "item_hash": f"h{i}", "run_id": 1,
                    "status": "error" if failed else "ok", "attempts": 1,
                    "started_at": 0.0, "finished_at": 0.0, "prompt_tokens": 10,
                    "completion_tokens": 5, "reasoning_tokens": 0, "cached_tokens": 0,
                    "cost": 0.001 * (m + 1), "cost_source": "reported", "latency_s": 0.1,
                    "score": None if failed else float((i + m) % 2), "parsed": not failed,
                })
    with Store.open(db) as store:
        store.start_run([PlanEntry(m, b, f"{m}|{b}", "1", 10)
                         for m in WIDE_MODELS for b in WIDE_BENCHES])
        bulk_insert_cells(store, rows)
    return db


def status(db: str, columns: int, *extra: str) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run([sys.executable, "-m", "avp_harness.cli", "status", "--db", db,
                           *extra], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def parse(text: str) -> tuple[list[list[str]], dict[tuple[str, str], str]]:
    """The blocks' column names, and each (model, column) cell as printed."""
    blocks: list[list[str]] = []
    cells: dict[tuple[str, str], str] = {}
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("model "):
            columns = re.split(r"\s{2,}", line.strip())
            blocks.append(columns)
        elif columns and line and not line.startswith("─") and not line.startswith("cells:"):
            parts = re.split(r"\s{2,}", line.strip())
            assert len(parts) == len(columns), line  # nothing merged, nothing cut
            for name, value in zip(columns[1:], parts[1:], strict=True):
                assert (parts[0], name) not in cells or name == "dollars"
                cells[(parts[0], name)] = value
        elif not line:
            columns = []
    return blocks, cells


def expected(db: str) -> dict[tuple[str, str], str]:
    out = {}
    for r in json.loads(status(db, 80, "--json")):
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        cell = f"{acc} {r['done']}/{r['planned']}"
        if r["errors"]:
            cell += f" e{r['errors']}"
        if r["unparsed"]:
            cell += f" u{r['unparsed']}"
        out[(r["model"], r["benchmark"])] = cell
    return out


@pytest.mark.parametrize("columns", [80, 200])
def test_demo_matrix_models_as_rows_benchmarks_as_columns(demo_db: str, columns: int) -> None:
    text = status(demo_db, columns)
    assert all(len(line) <= columns for line in text.splitlines()[1:])  # the title may wrap
    assert "…" not in text
    blocks, cells = parse(text)
    assert blocks == [["model", "arc_agi", "humaneval", "dollars"]]  # one block: it fits in 80
    want = expected(demo_db)
    assert {k: v for k, v in cells.items() if k[1] != "dollars"} == want
    assert len({m for m, _ in want}) == 5 and all(v.endswith(("6/6", "2/2")) for v in want.values())


def test_wide_matrix_wraps_into_blocks_repeating_the_model_column(wide_db: str) -> None:
    text = status(wide_db, 80)
    assert all(len(line) <= 80 for line in text.splitlines()[1:])
    blocks, cells = parse(text)
    assert len(blocks) >= 3 and all(block[0] == "model" for block in blocks)
    shown = [name for block in blocks for name in block[1:]]
    assert shown == sorted(WIDE_BENCHES) + ["dollars"]  # every benchmark once, in order
    assert {k: v for k, v in cells.items() if k[1] != "dollars"} == expected(wide_db)
    assert cells[(WIDE_MODELS[0], "dollars")] == f"{0.001 * sum(3 + (b % 5) for b in range(9)):.4f}"
    assert "eN failed" in text and " e1" in text  # the failures marked, with a legend
    # wide enough: one block
    blocks, wide_cells = parse(status(wide_db, 250))
    assert len(blocks) == 1 and wide_cells == cells


def test_long_form_wraps_too_and_keeps_every_figure(demo_db: str) -> None:
    text = status(demo_db, 80, "--long")
    assert all(len(line) <= 80 for line in text.splitlines()[1:])
    headers = [line for line in text.splitlines() if line.startswith("benchmark  model")]
    assert len(headers) >= 2  # wrapped, (benchmark, model) repeated
    for column in ("done", "accuracy", "unparsed", "truncated", "context exceeded", "failed",
                   "dollars", "$/cell", "request latency"):
        assert sum(column in h for h in headers) >= 1, column


def test_status_reads_sqlite_without_sqlalchemy_and_agrees_with_the_store(
    demo_db: str, wide_db: str
) -> None:
    for db in (demo_db, wide_db):
        with Store.open(db, create=False) as store:
            assert read_matrix(db) == store.matrix()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "avp_harness.cli", "status",
                           "--db", demo_db], capture_output=True, text=True, timeout=120,
                          cwd=Path(demo_db).parent)
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert not {"sqlalchemy", "sqlmodel", "rich", "numpy", "pydantic"} & imported


def test_an_older_store_still_goes_through_the_store(tmp_path: Path, demo_db: str) -> None:
    """A store of another schema version is left to `Store` (it migrates or refuses)."""
    import sqlite3

    db = tmp_path / "newer.db"
    db.write_bytes(Path(demo_db).read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    done = subprocess.run([sys.executable, "-m", "avp_harness.cli", "status", "--db", str(db)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "newer than this avp-harness" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
