"""Persist before grading: an answer is in the store as soon as it arrives, so kill -9 while
answers wait for the (slow, sandboxed) HumanEval grader never makes the next run pay again."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from tests.integration.test_collector import ATLAS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 20
GRACEFUL = 2  # SIGTERM and SIGINT too: they flush every answer that arrived
ITEMS = 164  # all of HumanEval: enough cells left for every kill


# the CLI's own collect() (signal handling included), without importing every other command
COLLECT = (
    "import sys; from avp_harness.cli.collect_cmds import collect; "
    "from avp_harness.config import load_config; "
    "summary = collect(load_config(sys.argv[1]), sys.argv[2], budget=None, progress='none'); "
    "sys.exit(130 if summary.status == 'interrupted' else 0)"
)


def _collector(db: str, config_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", COLLECT, str(config_path), db],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stored(db: str) -> dict[tuple[str, str], str]:
    """(model, fingerprint) -> status of every row, read as another process would."""
    if not os.path.exists(db):
        return {}
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        try:
            rows = conn.execute("SELECT model, fingerprint, status FROM cells").fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return {}
    return {(m, fp): status for m, fp, status in rows}


def test_kill_9_while_answers_wait_for_grading_never_pays_twice(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    rng = random.Random(15)
    with SimServer(latency_scale=0.02, log_path=log) as server:
        config_path = tmp_path / "avp.toml"
        config_path.write_text(
            f'[providers.sim]\nbase_url = "{server.base_url}"\nmax_concurrency = 16\n\n'
            f'[[models]]\nid = "{ATLAS}"\nprovider = "sim"\n\n'
            f'[[benchmarks]]\nname = "humaneval"\nlimit = {ITEMS}\n'
        )
        db = str(tmp_path / "runs.db")
        kills: list[tuple[float, dict[tuple[str, str], str]]] = []
        signals = [signal.SIGKILL] * KILLS + [signal.SIGTERM, signal.SIGINT] * (GRACEFUL // 2)
        rng.shuffle(signals)
        for sig in signals:
            before = len(stored(db))
            proc = _collector(db, config_path)
            grow = rng.randint(1, 3)
            deadline = time.time() + 60
            while proc.poll() is None and time.time() < deadline:
                if len(stored(db)) >= before + grow:
                    break
                time.sleep(0.02)
            if proc.poll() is not None:  # finished before the kill: nothing left to kill
                proc.communicate()
                break
            snapshot = stored(db)  # everything the collector had kept by now (or less)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
            if sig != signal.SIGKILL:
                assert proc.returncode == 130, err
                snapshot = stored(db)  # a graceful stop wrote every answer that had arrived
            kills.append((time.time(), snapshot))
        final = _collector(db, config_path)
        _, err = final.communicate(timeout=240)
        assert final.returncode == 0, err

    assert len(kills) >= KILLS, "the runs finished before enough kills landed"
    waiting = sum(1 for _, snap in kills for status in snap.values() if status == "answered")
    assert waiting > 0, "no kill landed while answers waited for grading"
    with Store.open(db) as store:
        rows = store.cells(limit=100_000)
        sha = {}
        for row in rows:
            item = store.item(row.benchmark, row.item_id)
            assert item is not None
            digest = hashlib.sha256(item.prompt_text.encode()).hexdigest()
            sha[(row.model, row.fingerprint)] = digest
    assert {r.status for r in rows} == {"ok"} and len(rows) == ITEMS
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    requests = [e for e in requests if e["endpoint"] == "chat"]
    for kill_time, snapshot in kills:
        after = Counter((e["model"], e["prompt_sha"]) for e in requests if e["time"] >= kill_time)
        again = [key for key in snapshot if after[(key[0], sha[key])]]
        assert again == [], f"requested again after a kill: {again[:3]}"
