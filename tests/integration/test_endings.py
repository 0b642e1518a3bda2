"""Honest endings and hygiene: exit codes that say whether every planned cell is ok, a corrupt
store refused in one line, a read-only store read, secrets never stored nor shown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from avp_harness.collect.runner import Collector
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from tests.integration.test_collector import ATLAS, FLASH, make_config, requests_for

pytestmark = pytest.mark.integration

KEY = "sk-test-0123456789abcdefSECRET"
DB_PASSWORD = "pg-s3cret-pw"


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimServer(latency_scale=0.0) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_faults(sim: Any) -> Any:
    sim.clear_faults()
    yield
    sim.clear_faults()


def write_toml(path: Path, base_url: str, models: list[str], arc: int, **provider: Any) -> Path:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in provider.items())
    text = f'[providers.sim]\nbase_url = "{base_url}"\nmax_concurrency = 2\n{extra}\n'
    for model in models:
        text += f'[[models]]\nid = "{model}"\nprovider = "sim"\n\n'
    text += f'[[benchmarks]]\nname = "arc_agi"\nlimit = {arc}\n'
    path.write_text(text)
    return path


def avp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "avp_harness.cli", *args], capture_output=True,
                          text=True, timeout=240, env={**os.environ, **(env or {})})


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_failed_cells_exit_5_and_say_what_and_that_run_retries(sim: Any, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "avp.toml", sim.base_url, [ATLAS], arc=4)
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "401", "count": 2, "model": ATLAS}])
    done = avp("run", "--config", str(toml), "--db", db, "--progress", "none")
    assert done.returncode == 5, done.stderr
    assert "2 of 4 planned cells are not ok (error 2" in done.stderr
    assert "`avp run` retries them" in done.stderr
    done = avp("run", "--config", str(toml), "--db", db, "--progress", "none")
    assert done.returncode == 0, done.stderr


def test_fail_on_error_stops_early_or_tolerates(sim: Any, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "avp.toml", sim.base_url, [ATLAS], arc=20)
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "401", "count": 1000, "model": ATLAS}])
    since = time.time()
    done = avp("run", "--config", str(toml), "--db", db, "--progress", "none",
               "--fail-on-error", "0")
    assert done.returncode == 5, done.stderr
    assert "more cells failed than --fail-on-error 0 allows" in done.stderr
    assert len(requests_for(sim, since)) <= 1 + 2  # the first failure, and the calls in flight
    sim.clear_faults()
    sim.add_faults([{"fault": "401", "count": 2, "model": ATLAS}])
    done = avp("run", "--config", str(toml), "--db", db, "--progress", "none",
               "--fail-on-error", "0.2")
    assert done.returncode == 0, done.stderr  # 2 of 20 failed: tolerated
    done = avp("run", "--config", str(toml), "--db", db, "--fail-on-error", "1.5")
    assert done.returncode == 2 and "share between 0 and 1" in done.stderr


def corrupt(path: Path) -> None:
    """Garbage over pages in the middle of a real store file."""
    size = path.stat().st_size
    with open(path, "r+b") as out:
        out.seek(size // 2 // 4096 * 4096)
        out.write(b"\xab" * 8192)


def test_corrupt_store_is_refused_in_one_line(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    with Store.open(db) as store:
        asyncio.run(Collector(make_config(sim.base_url, db, [ATLAS, FLASH], arc=40), store).run())
    corrupt(Path(db))
    toml = write_toml(tmp_path / "avp.toml", sim.base_url, [ATLAS], arc=40)
    line = one_line(avp("status", "--db", db).stderr)
    assert "corrupt" in line and db in line
    since = time.time()
    run = avp("run", "--config", str(toml), "--db", db)
    assert run.returncode == 2 and "corrupt" in one_line(run.stderr)
    assert requests_for(sim, since) == []
    for command in (["fit", "--name", "r"], ["export", "avengers-pro", str(tmp_path / "x.jsonl")]):
        done = avp(*command, "--db", db)
        if done.returncode != 0:  # the corrupt pages may or may not be on its way
            one_line(done.stderr)
        assert "Traceback" not in done.stderr


def test_stale_running_run_is_marked_interrupted(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    config = make_config(sim.base_url, db, [ATLAS], arc=2)
    with Store.open(db) as store:
        dead = store.start_run([], owner="elsewhere:1:x")  # no heartbeat since long ago
        alive = store.start_run([], owner=f"{socket.gethostname()}:{os.getpid()}:y")
        child = subprocess.Popen(["true"])
        child.wait()
        gone = store.start_run([], owner=f"{socket.gethostname()}:{child.pid}:z")  # fresh, dead
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE runs SET heartbeat_at = 0 WHERE id = ?", (dead,))
    with Store.open(db) as store:
        asyncio.run(Collector(config, store).run())
        status = {run.id: run.status for run in store.runs()}
    assert status[dead] == "interrupted" and status[gone] == "interrupted"
    assert status[alive] == "running"  # its owner is alive and its heartbeat fresh


def test_key_echoed_by_a_provider_is_never_stored_or_shown(sim: Any, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "avp.toml", sim.base_url, [ATLAS], arc=3,
                      api_key_env="SIM_TEST_KEY")
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "401-echo", "count": 3, "model": ATLAS}])
    env = {"SIM_TEST_KEY": KEY}
    run = avp("run", "--config", str(toml), "--db", db, "--progress", "plain", env=env)
    assert run.returncode == 5, run.stderr
    cells = avp("cells", "--db", db, "--json")
    assert "Incorrect API key provided: ***" in cells.stdout  # the provider's words, masked
    first = json.loads(cells.stdout)[0]
    shown = avp("show-cell", str(first["id"]), "--db", db, "--json")
    for text in (run.stdout, run.stderr, cells.stdout, shown.stdout, shown.stderr):
        assert KEY not in text
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert KEY.encode() not in Path(db).read_bytes()


def test_database_password_is_never_shown(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://avp:{DB_PASSWORD}@127.0.0.1:9/avp"
    toml = write_toml(tmp_path / "avp.toml", "http://127.0.0.1:9/v1", [ATLAS], arc=1)
    for args in (["status", "--db", url], ["run", "--config", str(toml), "--db", url]):
        done = avp(*args)
        assert done.returncode != 0
        line = one_line(done.stderr)
        assert DB_PASSWORD not in line and "avp:***@127.0.0.1" in line
