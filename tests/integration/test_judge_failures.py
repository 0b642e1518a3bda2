"""Judge failures end to end: `avp run` and `avp regrade` against the simulated provider with a
judge that repeats its prompt (`sim/mid-pro@echo`) or is cut off (`sim/mid-pro@ramble` under a
small max_tokens), a real SQLite store, and the simulator's request log counting judge calls."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main as avp_main
from avp_harness.collect.regrade import regrade
from avp_harness.collect.reporter import PlainReporter
from avp_harness.config import config_from_dict
from avp_harness.sim.answers import judge_hle, judge_simpleqa
from avp_harness.store import Store
from avp_harness.store.grades import count_judgements, grade_history
from tests.conftest import sim_with_fixture_benchmarks
from tests.integration.test_judge_regrade import (
    FIXTURES_MODULE,
    cells,
    chat_log,
    collect,
    config_data,
    question_of,
    toml_text,
)

pytestmark = pytest.mark.integration

HONEST = "sim/mid-pro"
ECHO = "sim/mid-pro@echo"
RAMBLE = "sim/mid-pro@ramble"
CELLS = 12  # 6 SimpleQA fixture questions x 2 candidate models


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    extra = {"simpleqa": f"{FIXTURES_MODULE}:SIMPLEQA", "hle": f"{FIXTURES_MODULE}:HLE_FIXTURE"}
    with sim_with_fixture_benchmarks(log, extra) as server:
        yield server


def with_judge(data: dict[str, Any], judge: str, max_tokens: int | None = None) -> dict[str, Any]:
    judge_table: dict[str, Any] = {"id": judge, "provider": "sim"}
    if max_tokens is not None:
        judge_table["max_tokens"] = max_tokens
    return {**data, "judge": judge_table}


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(toml_text(data))
    return path


def assert_honestly_graded(db: str) -> None:
    rows = cells(db)
    assert len(rows) == CELLS and {r.status for r in rows} == {"ok"}
    for row in rows:
        question, target = question_of(db, row)
        assert row.error is None and row.judge_model == HONEST
        assert row.judge_output == judge_simpleqa(question, target, row.response or "")
        assert row.score == (1.0 if row.extracted == "CORRECT" else 0.0)
    assert "CORRECT" in {r.extracted for r in rows}  # the fixture has right answers to find


def test_echoing_judge_fails_every_cell_and_an_honest_judge_grades_them_later(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db)
    echo_toml = write_toml(tmp_path / "echo.toml", with_judge(data, ECHO))
    honest_toml = write_toml(tmp_path / "honest.toml", with_judge(data, HONEST))

    since = time.time()
    code = avp_main(["run", "--config", str(echo_toml), "--json", "--progress", "none"])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert code == 5 and summary["status"] == "completed"  # 5: planned cells are not ok
    assert summary["judge_failures"] == CELLS and summary["ok"] == 0
    assert summary["by_status"] == {"answered": CELLS}  # kept, awaiting a grade
    assert f"{CELLS} cells not graded: judge failure" in err
    rows = cells(db)
    assert len(rows) == CELLS
    for row in rows:  # never graded, let alone CORRECT; the paid answer is kept
        assert row.status == "answered" and row.score is None and row.extracted is None
        assert (row.error or "").startswith(f"judge failure: {ECHO}: its reply holds nothing")
        assert row.response
    judge_calls = chat_log(sim, since, "judge")
    assert len(judge_calls) == CELLS and {e["model"] for e in judge_calls} == {ECHO}
    with Store.open(db) as store:  # complete replies are kept (and re-read later)
        assert count_judgements(store, ECHO) == CELLS
    # the judge's dollars count though its replies graded nothing (the budget sees them)
    with sqlite3.connect(db) as connection:
        (candidates,) = connection.execute("select sum(cost) from cells").fetchone()
        (judge,) = connection.execute("select sum(cost) from judgements").fetchone()
    assert judge > 0 and summary["spent"] == pytest.approx(candidates + judge)

    # regrade with the same judge: cached echoes hold no verdict, so each is asked once more,
    # fresh; still no verdict, the cells stay judge failures and the command fails
    since = time.time()
    assert avp_main(["regrade", "--config", str(echo_toml), "--json"]) == 1
    (result,) = json.loads(capsys.readouterr().out)
    assert result["judge_failures"] == result["failed"] == CELLS
    assert len(chat_log(sim, since, "judge")) == CELLS and chat_log(sim, since, "simpleqa") == []
    assert {r.status for r in cells(db)} == {"answered"}

    # an honest judge grades the stored answers: no candidate is called again
    since = time.time()
    assert avp_main(["regrade", "--config", str(honest_toml), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert (result["examined"], result["failed"], result["judge_calls"]) == (CELLS, 0, CELLS)
    assert chat_log(sim, since, "simpleqa") == []
    assert_honestly_graded(db)

    # and then everything is done: a run and a regrade call nobody
    since = time.time()
    assert avp_main(["run", "--config", str(honest_toml), "--json", "--progress", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["already_done"] == CELLS
    assert avp_main(["regrade", "--config", str(honest_toml), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert (result["judge_cache_hits"], result["judge_calls"], result["rewritten"]) == (
        CELLS, 0, 0
    )
    assert chat_log(sim, since) == []


async def test_next_run_retries_judge_failures_and_hle_echo_fails_too(
    sim: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db, benches=("simpleqa", "hle"))
    summary = await collect(with_judge(data, ECHO))
    n = summary.attempted
    assert n == CELLS + 6 and summary.judge_failures == n and summary.ok == 0
    assert all((r.error or "").startswith(f"judge failure: {ECHO}") for r in cells(db))
    assert all(r.score is None for r in cells(db))

    since = time.time()
    again = await collect(with_judge(data, HONEST))
    assert again.already_done == 0 and again.ok == n and again.judge_failures == 0
    assert len(chat_log(sim, since, "judge")) > 0  # another judge: asked, not read from cache
    assert chat_log(sim, since, "simpleqa") == chat_log(sim, since, "hle") == []  # answers kept
    rows = cells(db)
    assert {r.status for r in rows} == {"ok"} and all(r.error is None for r in rows)
    for row in rows:
        if row.benchmark == "hle":
            question, target = question_of(db, row)
            assert row.judge_output == judge_hle(question, target, row.response or "")


async def test_old_grades_read_from_an_echo_are_withdrawn_by_regrade(
    sim: Any, tmp_path: Path
) -> None:
    """A store graded before this fix: an echoed prompt cached and read as CORRECT (grader
    simpleqa-1). Regrading re-reads the cached reply: the grade is withdrawn, kept in history."""
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db)
    await collect(with_judge(data, ECHO))
    with Store.open(db) as store:
        config = config_from_dict(with_judge(data, ECHO), None)
        # forge the old state: the echo, stored as an ok CORRECT grade by the old rule
        from sqlalchemy import update

        from avp_harness.store.tables import CellRecord

        with store.engine.begin() as connection:
            connection.execute(update(CellRecord).values(
                status="ok", error=None, score=1.0, parsed=True, extracted="CORRECT",
                grader="simpleqa_judge", grader_version="simpleqa-1", grade_explanation="judge: A",
                judge_model=ECHO, judge_output="(the echoed prompt)"))
        # a run says that those grades are outdated, and how to grade them again
        progress = io.StringIO()
        summary = await collect(with_judge(data, ECHO), PlainReporter(stream=progress))
        assert summary.already_done == CELLS and summary.attempted == 0
        assert (f"simpleqa: {CELLS} cells were graded by an older simpleqa_judge version: "
                "`avp regrade --benchmark simpleqa`") in progress.getvalue()
        result = await regrade(store, "simpleqa", config=config)
        assert result.judge_failures == CELLS
        history = grade_history(store, cells(db)[0].id or 0)
    assert [(h.grader_version, h.extracted) for h in history] == [("simpleqa-1", "CORRECT")]
    rows = cells(db)
    assert {r.status for r in rows} == {"answered"} and {r.score for r in rows} == {None}
    assert all((r.error or "").startswith("judge failure: ") for r in rows)


async def test_cut_off_judge_is_a_failure_and_the_default_max_tokens_fits(
    sim: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db)
    summary = await collect(with_judge(data, RAMBLE, max_tokens=512))
    assert summary.judge_failures == CELLS and summary.ok == 0
    assert all("cut off at max_tokens (512 tokens)" in (r.error or "") for r in cells(db))
    with Store.open(db) as store:
        assert count_judgements(store) == 0  # a cut-off reply is never cached as a verdict

        # the same judge with the default max_tokens (4096) finishes its reasoning
        since = time.time()
        result = await regrade(store, "simpleqa", config=config_from_dict(
            with_judge(data, RAMBLE), None))
        assert (result.failed, result.judge_calls) == (0, CELLS)
        assert count_judgements(store, RAMBLE) == CELLS
        assert len(chat_log(sim, since, "judge")) == CELLS
        rows = cells(db)
        assert {r.status for r in rows} == {"ok"}
        assert all((r.judge_output or "").startswith("Step 1:") for r in rows)

        # complete replies are cached: regrading again asks the judge nothing
        since = time.time()
        again = await regrade(store, "simpleqa", config=config_from_dict(
            with_judge(data, RAMBLE), None))
    assert (again.judge_calls, again.judge_cache_hits, again.rewritten) == (0, CELLS, 0)
    assert chat_log(sim, since) == []
