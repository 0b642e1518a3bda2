"""HealthBench end to end: `avp run` on the made-up fixture with candidates and the rubric judge
on the simulated provider, a real SQLite store, the judge cache (`avp regrade` makes no judge
call, counted in the simulator's request log), judge failures, `avp report` and
`avp benchmarks list`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main as avp_main
from avp_harness.sim.answers import judge_rubric
from avp_harness.store import Store
from avp_harness.store.grades import count_judgements
from avp_harness.store.tables import CellRecord
from graders.rubric import (
    RubricItem,
    calculate_score,
    clipped_stats,
    read_rubric_verdict,
    render_conversation,
)
from tests.conftest import sim_with_fixture_benchmarks
from tests.integration.healthbench_fixture import SOURCE

pytestmark = pytest.mark.integration

ATLAS = "sim/atlas-xl"
FLASH = "sim/flash-mini"
JUDGE = "sim/mid-pro"
ECHO = "sim/mid-pro@echo"
ITEMS = 5
RUBRIC_ITEMS = 4 + 4 + 4 + 5 + 3  # per model: one judge call each


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    extra = {"healthbench": "tests.integration.healthbench_fixture:HEALTHBENCH"}
    with sim_with_fixture_benchmarks(log, extra) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_faults(sim: Any) -> Any:
    sim.clear_faults()
    yield
    sim.clear_faults()


def write_toml(path: Path, base_url: str, db: str, judge: str, models: tuple[str, ...]) -> str:
    lines = [f'db = "{db}"', "", "[providers.sim]", f'base_url = "{base_url}"',
             "max_concurrency = 8", "timeout_s = 10", "max_attempts = 2", "request_cost = true"]
    for model in models:
        lines += ["", "[[models]]", f'id = "{model}"', 'provider = "sim"']
    lines += ["", "[[benchmarks]]", 'name = "healthbench"', f'source = "{SOURCE}"']
    lines += ["", "[judge]", f'id = "{judge}"', 'provider = "sim"']
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def chat_log(sim: Any, since: float, benchmark: str | None = None) -> list[dict[str, Any]]:
    return [e for e in sim.log() if e["time"] >= since and e["endpoint"] == "chat"
            and (benchmark is None or e["benchmark"] == benchmark)]


def cells(db: str) -> list[CellRecord]:
    with Store.open(db, create=False) as store:
        return store.cells(limit=10_000)


def expected_raw_score(db: str, cell: CellRecord) -> float:
    """The item score the honest simulated judge must lead to, computed from its rule."""
    with Store.open(db, create=False) as store:
        item = store.item(cell.benchmark, cell.item_id)
    assert item is not None
    conversation = render_conversation(json.loads(item.messages_json))
    rubric = [RubricItem.from_dict(r) for r in json.loads(item.target_json)["rubrics"]]
    met = [read_rubric_verdict(judge_rubric(conversation, str(r), cell.response or "")).criteria_met
           for r in rubric]
    score = calculate_score(rubric, met)
    assert score is not None
    return score


def run(config: str, capsys: pytest.CaptureFixture[str], expect: int = 0) -> dict[str, Any]:
    code = avp_main(["run", "--config", config, "--json", "--progress", "none"])
    out, _err = capsys.readouterr()
    assert code == expect
    return json.loads(out)


def test_run_regrade_report_on_the_fixture(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    config = write_toml(tmp_path / "avp.toml", sim.base_url, db, JUDGE, (ATLAS, FLASH))
    sim.add_faults([{"fault": "empty", "count": 1, "model": JUDGE}])  # one reply is ""
    since = time.time()
    summary = run(config, capsys)
    assert summary["ok"] == summary["attempted"] == 2 * ITEMS and summary["judge_failures"] == 0

    # the conversation was sent whole: the multi-turn item arrives as three messages
    candidate_calls = chat_log(sim, since, "healthbench")
    assert len(candidate_calls) == 2 * ITEMS
    judge_calls = chat_log(sim, since, "judge")
    assert {e["model"] for e in judge_calls} == {JUDGE}
    assert len(judge_calls) == 2 * RUBRIC_ITEMS + 1  # one call per rubric item, one re-asked
    with Store.open(db) as store:
        assert count_judgements(store, JUDGE) == 2 * RUBRIC_ITEMS

    rows = cells(db)
    raws = {}
    for row in rows:
        raw = expected_raw_score(db, row)
        record = json.loads(row.judge_output or "")
        assert record["raw_score"] == pytest.approx(raw)
        assert float(row.extracted or "") == pytest.approx(raw, abs=1e-5)
        assert row.score == pytest.approx(min(1.0, max(0.0, raw)))
        assert (row.grader, row.grader_version, row.judge_model) == (
            "healthbench_rubric", "healthbench-1", JUDGE)
        assert row.judge_prompt_tokens > 0 and (row.judge_cost or 0) > 0  # the judge's, apart
        raws.setdefault(row.model, []).append(raw)
    verdicts = [r["criteria_met"] for row in rows
                for r in json.loads(row.judge_output or "")["rubrics"]]
    assert True in verdicts and False in verdicts  # a real mix

    # a second run calls nobody; a regrade with the same judge hits the cache only
    since = time.time()
    assert run(config, capsys)["already_done"] == 2 * ITEMS
    assert avp_main(["regrade", "--config", config, "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert (result["examined"], result["judge_calls"], result["judge_cache_hits"]) == (
        2 * ITEMS, 0, 2 * RUBRIC_ITEMS)
    assert result["rewritten"] == 0 and result["failed"] == 0
    assert chat_log(sim, since) == []

    # avp report: the official clipped mean of the raw item scores, its bootstrap std, tags
    assert avp_main(["report", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["healthbench"]
    for model, values in raws.items():
        expected = clipped_stats(values)
        assert report[model]["score"] == pytest.approx(expected.score)
        assert report[model]["bootstrap_std"] == pytest.approx(expected.bootstrap_std)
        tags = report[model]["tags"]
        assert tags["theme:context_seeking"]["n_samples"] == 2
        assert {"axis:accuracy", "level:example", "level:cluster"} <= set(tags)
    assert avp_main(["report", "--db", db, "--benchmark", "healthbench"]) == 0
    text = capsys.readouterr().out
    assert "healthbench: metrics from stored grades" in text and "bootstrap std" in text
    assert "per tag" in text and "axis:accuracy" in text and "theme:emergency_referrals" in text


def test_a_judge_that_never_answers_json_fails_the_cells(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    config = write_toml(tmp_path / "echo.toml", sim.base_url, db, ECHO, (FLASH,))
    since = time.time()
    summary = run(config, capsys, expect=5)  # 5: planned cells are not ok
    assert summary["judge_failures"] == ITEMS and summary["ok"] == 0
    for row in cells(db):  # never graded; the paid answer is kept for the next attempt
        assert row.status == "answered" and row.score is None and row.response
        assert (row.error or "").startswith(f"judge failure: {ECHO}: its reply is not a JSON")
    assert len(chat_log(sim, since, "judge")) == 3 * RUBRIC_ITEMS  # each asked 3 times

    honest = write_toml(tmp_path / "honest.toml", sim.base_url, db, JUDGE, (FLASH,))
    since = time.time()
    assert avp_main(["regrade", "--config", honest, "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["examined"] == ITEMS and result["failed"] == 0
    assert {r.status for r in cells(db)} == {"ok"}
    assert [e for e in chat_log(sim, since) if e["benchmark"] != "judge"] == []  # no candidate


def test_benchmarks_list_shows_healthbench_and_its_absent_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert avp_main(["benchmarks", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("healthbench", "healthbench_hard", "healthbench_consensus"):
        row = rows[name]
        assert row["needs_judge"] and row["grader"] == "healthbench_rubric"
        if not row["data_present"]:
            assert row["data"].endswith("(absent)")
    assert rows["healthbench"]["source"].endswith("2025-05-07-06-14-12_oss_eval.jsonl")
    assert avp_main(["benchmarks", "list"]) == 0
    assert "healthbench_consensus" in capsys.readouterr().out
