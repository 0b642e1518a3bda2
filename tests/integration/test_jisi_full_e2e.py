"""Full JiSi end to end on the simulator: the models' answers collected, JiSi's aggregator calls
made as cells of their own by `avp aggregate` (through the gateway, graded by the benchmark's
grader, stored with tokens and dollars), `avp compare` reporting "jisi (full)", a repeated
`avp aggregate` paying for nothing, and a `kill -9` mid-way resumed without re-requesting any
aggregator cell that was already stored.
"""

from __future__ import annotations

import hashlib
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

from avp_harness.aggregation import AGGREGATE_SUFFIX, aggregation_parts
from avp_harness.cli import main
from avp_harness.sim.models import SIM_MODELS
from avp_harness.sim.server import SimServer
from avp_harness.store import Store

pytestmark = pytest.mark.integration
MODELS = ("sim/atlas-xl", "sim/coder-7b", "sim/mid-pro", "sim/flash-mini")
COMPARE = ["--embedding", "tfidf"]


def write_config(folder: Path, base_url: str, concurrency: int = 16) -> Path:
    models = "\n".join(
        f'[[models]]\nid = "{m.id}"\nprovider = "sim"\nprice = {{ input_per_m = {m.price_in}, '
        f'output_per_m = {m.price_out}, date = "2026-11-01" }}\n'
        for m in (SIM_MODELS[name] for name in MODELS))
    path = folder / "avp.toml"
    path.write_text(
        f'db = "{folder / "runs.db"}"\n[providers.sim]\nbase_url = "{base_url}"\n'
        f"max_concurrency = {concurrency}\nrequest_cost = true\n\n{models}\n"
        '[[benchmarks]]\nname = "math500"\nlimit = 40\ntemperature = 0.2\n'
        '[[benchmarks]]\nname = "mmlu_pro"\nlimit = 40\ntemperature = 0.2\n'
    )
    return path


def aggregator_cells(db: str) -> list[Any]:
    with Store.open(db) as store:
        return [c for c in store.cells(limit=100_000) if c.benchmark.endswith(AGGREGATE_SUFFIX)]


def prompt_shas(db: str, rows: list[Any]) -> dict[tuple[str, str], str]:
    with Store.open(db) as store:
        out = {}
        for row in rows:
            item = store.item(row.benchmark, row.item_id)
            assert item is not None
            digest = hashlib.sha256(item.prompt_text.encode()).hexdigest()
            out[(row.model, row.fingerprint)] = digest
    return out


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("jisi")
    log = folder / "requests.jsonl"
    with SimServer(latency_scale=0.0, log_path=log) as sim:
        config = write_config(folder, sim.base_url)
        assert main(["run", "--progress", "none", "--config", str(config)]) == 0
        yield folder, config, log


def test_full_jisi_aggregates_as_cells_and_compare_reports_it(sim_store: Any, capsys: Any) -> None:
    folder, config, log = sim_store
    db = str(folder / "runs.db")
    capsys.readouterr()
    assert main(["compare", "--db", db, *COMPARE, "--methods", "baselines", "jisi", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert "avp aggregate" in before["skipped"]["jisi (full, with aggregator)"]

    assert main(["aggregate", "--config", str(config), *COMPARE, "--dry-run"]) == 0
    said = capsys.readouterr().out
    asked = int(said.split("JiSi asks for ")[1].split()[0])
    assert asked > 0 and f"{asked} of them not made yet" in said

    calls_before = len(log.read_text().splitlines())
    assert main(["aggregate", "--config", str(config), *COMPARE, "--progress", "none"]) == 0
    cells = aggregator_cells(db)
    assert len(cells) == asked
    assert all(c.status == "ok" and c.score is not None for c in cells)
    assert all(c.cost and c.cost > 0 and c.completion_tokens > 0 for c in cells)
    assert {c.benchmark for c in cells} <= {"math500@jisi", "mmlu_pro@jisi"}
    made = [json.loads(line) for line in log.read_text().splitlines()[calls_before:]]
    assert len(made) == asked
    with Store.open(db) as store:  # the aggregator read A^f's responses, about its own item
        for cell in cells:
            item = store.item(cell.benchmark, cell.item_id)
            assert item is not None
            parts = aggregation_parts(item.prompt_text)
            assert parts is not None and len(parts[1]) >= 2
            source = cell.benchmark[: -len(AGGREGATE_SUFFIX)]
            original = store.item(source, cell.item_id.split("~")[0])
            assert original is not None and original.prompt_text == parts[0]
    assert all(e["benchmark"] in ("math500", "mmlu_pro") for e in made)  # recognised by the sim

    capsys.readouterr()
    assert main(["compare", "--db", db, *COMPARE, "--methods", "baselines", "jisi", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    rows = {s["name"]: s for s in after["systems"]}
    assert "jisi (full, with aggregator)" not in after["skipped"]
    full, router = rows["jisi (full)"], rows["jisi (router-only)"]
    assert full["calls"] >= router["calls"] + asked
    assert full["cost"] > router["cost"]
    assert rows[MODELS[0]] == {s["name"]: s for s in before["systems"]}[MODELS[0]]  # untouched

    again = len(log.read_text().splitlines())
    assert main(["aggregate", "--config", str(config), *COMPARE, "--progress", "none"]) == 0
    assert len(log.read_text().splitlines()) == again  # nothing paid twice


@pytest.mark.slow
def test_sigkill_mid_aggregation_resumes_without_rerequesting_stored_cells(
    tmp_path: Path,
) -> None:
    log = tmp_path / "requests.jsonl"
    with SimServer(latency_scale=0.0, log_path=log) as sim:
        config = write_config(tmp_path, sim.base_url)
        assert main(["run", "--progress", "none", "--config", str(config)]) == 0
    db = str(tmp_path / "runs.db")
    # the aggregator calls now take ~0.5-3 s each, two at a time: the kill lands mid-way
    with SimServer(latency_scale=0.5, log_path=log) as sim:
        config = write_config(tmp_path, sim.base_url, concurrency=2)
        command = [sys.executable, "-m", "avp_harness.cli", "aggregate", "--config", str(config),
                   *COMPARE, "--progress", "plain"]
        # its own process group: SIGKILL reaches the collector and its grading workers at once
        with open(tmp_path / "killed.out", "w") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            deadline = time.time() + 300
            while time.time() < deadline and proc.poll() is None and len(
                    [c for c in aggregator_cells(db) if c.status == "ok"]) < 3:
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        stored = [c for c in aggregator_cells(db) if c.status == "ok"]
        kill_time = time.time()
        assert len(stored) >= 3
        resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
    cells = aggregator_cells(db)
    asked = int(resumed.stdout.split("JiSi asks for ")[1].split()[0])
    assert len(stored) < asked, "the kill must land mid-way"
    assert len(cells) == asked and all(c.status == "ok" for c in cells)
    assert len({(c.model, c.fingerprint, c.sample) for c in cells}) == len(cells)
    sha = prompt_shas(db, cells)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    after = Counter((e["model"], e["prompt_sha"]) for e in entries
                    if e["endpoint"] == "chat" and e["time"] >= kill_time)
    for cell in stored:  # stored before the kill: never requested again
        assert after[(cell.model, sha[(cell.model, cell.fingerprint)])] == 0
    assert all(n == 1 for n in after.values())
