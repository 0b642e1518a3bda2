"""The collector against the simulated provider over loopback, into a real SQLite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli.collect_cmds import demo_config
from avp_harness.collect.runner import Collector, RunSummary
from avp_harness.config import config_from_dict
from avp_harness.sim.models import SIM_MODELS
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from avp_harness.store.tables import CellRecord

pytestmark = pytest.mark.integration

FLASH = "sim/flash-mini"  # reports no cost: the price table must be used
ATLAS = "sim/atlas-xl"  # reports cost when asked


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    with SimServer(latency_scale=0.0, log_path=log) as server:
        server.log_file = log
        yield server


@pytest.fixture(autouse=True)
def _clean_faults(sim: Any) -> Any:
    sim.clear_faults()
    yield
    sim.clear_faults()


def make_config(
    base_url: str,
    db: str,
    models: list[str],
    *,
    arc: int = 4,
    humaneval: int = 0,
    provider: dict[str, Any] | None = None,
    model_overrides: dict[str, dict[str, Any]] | None = None,
    priced: bool = True,
) -> Any:
    prov = {"base_url": base_url, "max_concurrency": 8, "timeout_s": 10, "request_cost": True,
            "max_attempts": 4}
    prov.update(provider or {})
    entries = []
    for model_id in models:
        sim_model = SIM_MODELS[model_id]
        entry: dict[str, Any] = {"id": model_id, "provider": "sim"}
        if priced:
            entry["price"] = {"input_per_m": sim_model.price_in,
                              "output_per_m": sim_model.price_out, "date": "2026-11-01"}
        entry.update((model_overrides or {}).get(model_id, {}))
        entries.append(entry)
    benches = [{"name": "arc_agi", "limit": arc}]
    if humaneval:
        benches.append({"name": "humaneval", "limit": humaneval})
    return config_from_dict(
        {"db": db, "providers": {"sim": prov}, "models": entries, "benchmarks": benches}, None
    )


async def collect(config: Any, db: str, **kwargs: Any) -> RunSummary:
    kwargs.setdefault("backoff_initial_s", 0.05)
    kwargs.setdefault("backoff_max_s", 0.2)
    store = Store.open(db)
    try:
        return await Collector(config, store, **kwargs).run()
    finally:
        store.close()


def cells(db: str) -> list[CellRecord]:
    with Store.open(db, create=False) as store:
        return store.cells(limit=100_000)


def requests_for(sim: Any, since: float, model: str | None = None) -> list[dict[str, Any]]:
    return [e for e in sim.log() if e["time"] >= since and e["endpoint"] == "chat"
            and (model is None or e["model"] == model)]


async def test_happy_path_grades_real_answers_and_records_costs(sim: Any, store_url: str) -> None:
    db = store_url  # a SQLite file and a PostgreSQL database
    config = make_config(sim.base_url, db, [ATLAS, FLASH], arc=4, humaneval=2)
    summary = await collect(config, db)
    assert summary.status == "completed"
    assert summary.ok == summary.attempted == 12
    rows = cells(db)
    assert len(rows) == 12 and all(r.status == "ok" for r in rows)
    assert all(r.grader and r.score in (0.0, 1.0) for r in rows)
    by_model = {m: [r for r in rows if r.model == m] for m in (ATLAS, FLASH)}
    assert {r.cost_source for r in by_model[ATLAS]} == {"reported"}
    # flash-mini never reports cost: the price table is the fallback, with its version
    assert {r.cost_source for r in by_model[FLASH]} == {"price_table"}
    assert {r.price_version for r in by_model[FLASH]} == {"2026-11-01"}
    for r in by_model[FLASH]:
        sim_model = SIM_MODELS[FLASH]
        expected = (r.prompt_tokens * sim_model.price_in
                    + r.completion_tokens * sim_model.price_out) / 1e6
        assert r.cost == pytest.approx(expected, rel=0.01)
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 for r in rows)
    with Store.open(db) as store:
        matrix = {(m.model, m.benchmark): m for m in store.matrix()}
    assert matrix[(ATLAS, "arc_agi")].done == 4 and matrix[(ATLAS, "arc_agi")].planned == 4
    assert summary.spent == pytest.approx(sum(r.cost for r in rows))


async def test_unpriced_model_without_reported_cost_has_unknown_dollars(
    sim: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.db")
    summary = await collect(make_config(sim.base_url, db, [FLASH], arc=2, priced=False), db)
    assert summary.unpriced_models == [FLASH]
    assert {(r.cost, r.cost_source) for r in cells(db)} == {(None, "unknown")}


async def test_rate_limit_honours_retry_after_then_succeeds(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "429", "count": 2, "retry_after": 0.4, "model": ATLAS}])
    since = time.time()
    summary = await collect(make_config(sim.base_url, db, [ATLAS], arc=1), db)
    assert summary.ok == 1 and summary.rate_limit_hits == 2
    log = requests_for(sim, since, ATLAS)
    assert [e["status"] for e in log] == [429, 429, 200]
    gaps = [b["time"] - a["time"] for a, b in zip(log, log[1:], strict=False)]
    assert all(gap >= 0.4 for gap in gaps), gaps  # Retry-After honoured, not the 0.05 s back-off
    assert cells(db)[0].attempts == 3
    assert cells(db)[0].rate_limits == 2
    with Store.open(db) as store:
        (row,) = store.matrix()
    assert row.rate_limited == 2


async def test_server_errors_are_retried(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "500", "count": 2, "model": ATLAS}])
    since = time.time()
    summary = await collect(make_config(sim.base_url, db, [ATLAS], arc=1), db)
    assert summary.ok == 1
    assert [e["status"] for e in requests_for(sim, since, ATLAS)] == [500, 500, 200]


@pytest.mark.parametrize("fault", ["400", "401", "quota"])
async def test_request_errors_are_recorded_not_retried(
    sim: Any, store_url: str, fault: str
) -> None:
    db = store_url
    sim.add_faults([{"fault": fault, "count": 1, "model": ATLAS}])
    since = time.time()
    summary = await collect(make_config(sim.base_url, db, [ATLAS], arc=1), db)
    assert summary.ok == 0 and summary.by_status == Counter({"error": 1})
    assert len(requests_for(sim, since, ATLAS)) == 1
    (row,) = cells(db)
    assert row.status == "error" and row.attempts == 1 and row.score is None  # not a wrong answer
    assert row.error
    # failed cells are retried on the next run, and the attempts add up
    summary = await collect(make_config(sim.base_url, db, [ATLAS], arc=1), db)
    assert summary.ok == 1
    (row,) = cells(db)
    assert row.status == "ok" and row.attempts == 2


async def test_timeouts_are_retried_and_then_recorded(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "slow", "count": 5, "delay": 3, "model": ATLAS}])
    config = make_config(sim.base_url, db, [ATLAS], arc=1,
                         provider={"timeout_s": 0.5, "max_attempts": 2})
    summary = await collect(config, db)
    assert summary.by_status == Counter({"timeout": 1})
    (row,) = cells(db)
    assert row.status == "timeout" and row.attempts == 2 and row.score is None


async def test_malformed_and_empty_bodies_are_retried(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "malformed", "count": 1, "model": ATLAS},
                    {"fault": "empty", "count": 1, "model": ATLAS},
                    {"fault": "reset", "count": 1, "model": ATLAS}])
    since = time.time()
    summary = await collect(make_config(sim.base_url, db, [ATLAS], arc=1), db)
    assert summary.ok == 1
    assert [e["fault"] for e in requests_for(sim, since, ATLAS)] == [
        "malformed", "empty", "reset", None]
    assert cells(db)[0].attempts == 4


async def test_malformed_forever_is_recorded_as_malformed(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "malformed", "count": 10, "model": ATLAS}])
    config = make_config(sim.base_url, db, [ATLAS], arc=1, provider={"max_attempts": 3})
    summary = await collect(config, db)
    assert summary.by_status == Counter({"malformed": 1})


async def test_sustained_429s_cut_concurrency(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    sim.add_faults([{"fault": "429", "count": 6, "retry_after": 0.01}])
    store = Store.open(db)
    collector = Collector(make_config(sim.base_url, db, [ATLAS, FLASH], arc=6), store,
                          backoff_initial_s=0.01, backoff_max_s=0.05)
    summary = await collector.run()
    store.close()
    assert summary.ok == 12
    limits = collector.limits["sim"]
    assert limits.rate_limit_hits == 6
    assert limits.limit < limits.max_concurrency  # cut, then recovering slowly


async def test_budget_stops_scheduling_and_projects_the_rest(sim: Any, store_url: str) -> None:
    db = store_url
    config = make_config(sim.base_url, db, [ATLAS], arc=12,
                         model_overrides={ATLAS: {"max_tokens": 2000}})
    # one ARC answer from atlas costs about a cent: a 4-cent budget must stop early
    summary = await collect(config, db, budget=0.04)
    assert summary.status == "budget"
    assert 0 < summary.ok < 12
    spent = sum(r.cost for r in cells(db))
    assert spent <= 0.04
    assert summary.spent == pytest.approx(spent)
    assert summary.remaining == 12 - summary.ok
    assert summary.projected_to_finish > 0
    # the next run with more money finishes the rest, never paying twice
    summary2 = await collect(config, db, budget=10.0)
    assert summary2.ok == 12 - summary.ok and summary2.already_done == summary.ok


async def test_new_model_runs_only_its_cells_and_params_make_new_cells(
    sim: Any, store_url: str
) -> None:
    db = store_url
    await collect(make_config(sim.base_url, db, [ATLAS], arc=3), db)
    since = time.time()
    summary = await collect(make_config(sim.base_url, db, [ATLAS, FLASH], arc=3), db)
    assert summary.already_done == 3 and summary.attempted == 3
    assert {e["model"] for e in requests_for(sim, since)} == {FLASH}
    # a changed generation parameter is a new configuration: new cells, old ones kept
    changed = make_config(sim.base_url, db, [ATLAS, FLASH], arc=3,
                          model_overrides={ATLAS: {"temperature": 0.7}})
    summary = await collect(changed, db)
    assert summary.attempted == 3
    rows = cells(db)
    assert len(rows) == 9
    assert len({r.config_hash for r in rows if r.model == ATLAS}) == 2


def _run_cli(db: str, config_path: Path, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "AVP_DB": db}
    return subprocess.Popen(
        [sys.executable, "-m", "avp_harness.cli", "run", "--config", str(config_path),
         "--progress", "plain"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )


def _write_config(
    path: Path, base_url: str, arc: int, humaneval: int, concurrency: int = 16
) -> None:
    config = demo_config(base_url, "unused.db", arc, humaneval)
    lines = ['[providers.sim]', f'base_url = "{base_url}"', f"max_concurrency = {concurrency}",
             "request_cost = true", ""]
    for model in config.models:
        price = model.price
        lines += ["[[models]]", f'id = "{model.id}"', 'provider = "sim"',
                  f"price = {{ input_per_m = {price.input_per_m}, "
                  f"output_per_m = {price.output_per_m}, date = \"2026-11-01\" }}", ""]
    lines += ["[[benchmarks]]", 'name = "arc_agi"', f"limit = {arc}", "",
              "[[benchmarks]]", 'name = "humaneval"', f"limit = {humaneval}", ""]
    path.write_text("\n".join(lines))


def _ok_keys(db: str) -> dict[tuple[str, str], tuple[float | None, str | None]]:
    return {(r.model, r.fingerprint): (r.score, r.extracted) for r in cells(db) if r.status == "ok"}


@pytest.mark.slow
def test_sigkill_mid_run_resumes_without_rerequesting_done_cells(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    # enough latency that the kill lands mid-run on a fast machine too (~0.1-1 s a call)
    with SimServer(latency_scale=0.2, log_path=log) as server:
        config_path = tmp_path / "avp.toml"
        _write_config(config_path, server.base_url, arc=16, humaneval=2)
        killed_db = str(tmp_path / "killed.db")
        proc = _run_cli(killed_db, config_path)
        deadline = time.time() + 60
        while time.time() < deadline:  # wait until some cells are committed
            time.sleep(0.05)
            if os.path.exists(killed_db) and len(_ok_keys(killed_db)) >= 25:
                break
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        done_at_kill = _ok_keys(killed_db)
        assert 25 <= len(done_at_kill) < 90, "the kill must land mid-run"
        kill_time = time.time()
        resumed = _run_cli(killed_db, config_path)
        out, err = resumed.communicate(timeout=240)
        assert resumed.returncode == 0, err

        # no cell that was done when the collector died was requested again
        with Store.open(killed_db) as store:
            prompts = {}
            for row in store.cells(limit=100_000):
                item = store.item(row.benchmark, row.item_id)
                assert item is not None
                prompts[(row.model, row.fingerprint)] = item.prompt_text
        import hashlib

        sha = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in prompts.items()}
        after = [json.loads(line) for line in log.read_text().splitlines()]
        after = [e for e in after if e["time"] >= kill_time and e["endpoint"] == "chat"]
        requested_after = Counter((e["model"], e["prompt_sha"]) for e in after)
        for key in done_at_kill:
            assert requested_after[(key[0], sha[key])] == 0, key
        assert all(n == 1 for n in requested_after.values())

        # and the final matrix equals an uninterrupted run's
        clean_db = str(tmp_path / "clean.db")
        clean = _run_cli(clean_db, config_path)
        _, err = clean.communicate(timeout=240)
        assert clean.returncode == 0, err
    assert _ok_keys(killed_db) == _ok_keys(clean_db)
    assert len(_ok_keys(clean_db)) == 5 * 18


@pytest.mark.slow
def test_sigint_stops_gracefully_and_flushes(tmp_path: Path) -> None:
    with SimServer(latency_scale=0.2) as server:
        config_path = tmp_path / "avp.toml"
        _write_config(config_path, server.base_url, arc=40, humaneval=0, concurrency=4)
        db = str(tmp_path / "runs.db")
        proc = _run_cli(db, config_path)
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.05)
            if os.path.exists(db) and len(_ok_keys(db)) >= 10:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in err
        with Store.open(db) as store:
            (run,) = store.runs()
            assert run.status == "interrupted"
            done = len([c for c in store.cells(limit=10_000) if c.status == "ok"])
        assert 10 <= done < 200
        assert "cells remain" in err
