"""Several collectors share one store (a SQLite file, a real PostgreSQL database): set-up does
not race, work is claimed so no cell is requested twice, and the cells of a collector killed
with -9 are taken over; the read commands work on the URL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from avp_harness.collect.runner import Collector
from avp_harness.sim.server import SimServer
from avp_harness.store import SCHEMA_VERSION, Store
from avp_harness.types import ModelEntry
from tests.integration.test_collector import make_config

pytestmark = pytest.mark.integration

MODELS = ["sim/atlas-xl", "sim/flash-mini", "sim/mid-pro"]
ITEMS = 30
CONCURRENCY = 3


def _set_up(url: str) -> None:
    with Store.open(url) as store:
        store.upsert_models([ModelEntry(id=m, provider="sim", model_name=m) for m in MODELS])
        store.enqueue_claims([(f"fp{i}", 0, "c") for i in range(50)])


def test_collectors_setting_up_a_new_store_at_once_all_succeed(store_url: str) -> None:
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_set_up, args=(store_url,)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    with Store.open(store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert [m.id for m in store.models()] == sorted(MODELS)


def test_claims_are_exclusive_and_a_dead_owners_are_taken_over(store_url: str) -> None:
    keys = [(f"fp{i}", 0) for i in range(20)]
    with Store.open(store_url) as store:
        store.enqueue_claims([(fp, n, "c") for fp, n in keys])
        a, gone, held = store.claim_cells("a", keys, 8, lease_s=60)
        assert a == keys[:8] and not gone and not held
        b, _, held = store.claim_cells("b", keys, 20, lease_s=60)
        assert b == keys[8:] and held == set(keys[:8])  # a's leases are live: skipped
        assert store.claims_by_owner() == {"a": 8, "b": 12}
        c, _, _ = store.claim_cells("c", keys, 20, lease_s=60, dead_owners=["a"])
        assert c == keys[:8]  # a is known dead: its cells are taken over
        store.release_claims("b")
        d, _, _ = store.claim_cells("d", keys, 20, lease_s=-1)  # d's leases expire at once
        assert d == keys[8:]
        e, _, _ = store.claim_cells("e", keys[8:], 20, lease_s=60)
        assert e == keys[8:]  # d's expired leases are free


def _toml(path: Path, base_url: str) -> Path:
    text = (f'[providers.sim]\nbase_url = "{base_url}"\nmax_concurrency = {CONCURRENCY}\n'
            'request_cost = true\n\n')
    for model in MODELS:
        text += f'[[models]]\nid = "{model}"\nprovider = "sim"\n\n'
    path.write_text(text + f'[[benchmarks]]\nname = "arc_agi"\nlimit = {ITEMS}\n')
    return path


def _run(url: str, toml: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "avp_harness.cli", "run", "--config", str(toml), "--db", url,
         "--progress", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _ok(url: str) -> dict[tuple[str, str], tuple[float | None, str | None]]:
    with Store.open(url, create=False) as store:
        return {(c.model, c.fingerprint): (c.score, c.extracted)
                for c in store.cells(limit=100_000) if c.status == "ok"}


@pytest.mark.slow
def test_three_collectors_share_one_store_and_survive_a_kill_9(
    store_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "requests.jsonl"
    with SimServer(latency_scale=0.1, log_path=log) as server:
        toml = _toml(tmp_path / "avp.toml", server.base_url)
        procs = [_run(store_url, toml) for _ in range(3)]
        deadline = time.time() + 120
        while time.time() < deadline and len(_ok_or_empty(store_url)) < ITEMS // 2:
            time.sleep(0.1)
        victim = procs[1]
        assert victim.poll() is None, "the run ended before the kill"
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
        killed_at = time.time()
        for proc in (procs[0], procs[2]):
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err  # every planned cell ok, the victim's included
        since = time.time()
        again = _run(store_url, toml)  # resume: nothing left to do, nothing requested
        _, err = again.communicate(timeout=240)
        assert again.returncode == 0, err
        assert [e for e in _chat(log) if e["time"] >= since] == []
        status = subprocess.run([sys.executable, "-m", "avp_harness.cli", "status", "--db",
                                 store_url], capture_output=True, text=True, timeout=120)
        assert status.returncode == 0 and f"{ITEMS}/{ITEMS}" in status.stdout, status.stderr

        clean = str(tmp_path / "clean.db")  # the same plan, uninterrupted
        config = make_config(server.base_url, clean, MODELS, arc=ITEMS)
        with Store.open(clean) as store:
            asyncio.run(Collector(config, store).run())
    shared = _ok(store_url)
    assert len(shared) == len(MODELS) * ITEMS
    assert shared == _ok(clean)  # the same cells, answers and grades

    # each cell requested once by the shared collectors; twice only when in flight at the kill
    with Store.open(store_url, create=False) as store:
        prompts = {hashlib.sha256(store.item("arc_agi", c.item_id).prompt_text.encode())
                   .hexdigest() for c in store.cells(limit=100_000)}  # type: ignore[union-attr]
    counts = Counter((e["model"], e["prompt_sha"]) for e in _chat(log)
                     if e["prompt_sha"] in prompts)
    shared_counts = counts - Counter({key: 1 for key in counts})  # minus the clean run's one
    twice = [key for key, n in shared_counts.items() if n > 1]
    for key in twice:  # asked by the victim before the kill, by a survivor after it
        first, second = sorted(e["time"] for e in _chat(log)
                               if (e["model"], e["prompt_sha"]) == key)[:2]
        assert first < killed_at < second, key
    # the victim's calls in flight, and answers it had received in its writer's last 0.1 s
    assert len(twice) <= 2 * CONCURRENCY, twice
    assert max(shared_counts.values()) <= 2
    assert sum(1 for n in shared_counts.values() if n >= 1) == len(MODELS) * ITEMS


def _ok_or_empty(url: str) -> dict[Any, Any]:
    try:
        return _ok(url)
    except Exception:  # not created yet
        return {}


def _chat(log: Path) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    return [e for e in entries if e["endpoint"] == "chat"]


def test_read_commands_on_the_url(store_url: str, tmp_path: Path) -> None:
    with SimServer(latency_scale=0.0) as server:
        config = make_config(server.base_url, store_url, MODELS, arc=40)
        with Store.open(store_url) as store:
            asyncio.run(Collector(config, store).run())
    env = {**os.environ, "AVP_DB": store_url}

    def avp(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "avp_harness.cli", *args],
                              capture_output=True, text=True, timeout=240, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "40/40" in avp("status")
    avp("fit", "--name", "r", "--clusters", "4")
    assert "alpha" in avp("sweep", "r", "--alphas", "0,0.5,1")
    assert "cells" in avp("progress")
