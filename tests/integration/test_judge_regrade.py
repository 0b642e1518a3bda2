"""The LLM judge end to end: candidates and judge on the simulated provider over loopback, a real
SQLite store, the judge cache, judge failures, `avp regrade` and `avp report`."""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main as avp_main
from avp_harness.collect.regrade import regrade
from avp_harness.collect.reporter import PlainReporter
from avp_harness.collect.runner import Collector, RunSummary
from avp_harness.config import config_from_dict
from avp_harness.sim.answers import judge_simpleqa
from avp_harness.sim.models import SIM_MODELS
from avp_harness.store import Store
from avp_harness.store.grades import (
    count_grade_history,
    count_judgements,
    grade_history,
)
from avp_harness.store.tables import CellRecord
from avp_harness.types import Completion, Grade, Item
from benchmarks import Selection
from graders.judge import hle_metrics, parse_simpleqa_grade
from tests.conftest import sim_with_fixture_benchmarks
from tests.integration.judge_fixture_benchmarks import HLE_FIXTURE, HLE_SOURCE, SIMPLEQA_SOURCE

pytestmark = pytest.mark.integration

ATLAS = "sim/atlas-xl"  # verbose: writes a preamble before its answer
FLASH = "sim/flash-mini"
JUDGE = "sim/mid-pro"  # reports its cost: judge dollars are "reported"
FIXTURES_MODULE = "tests.integration.judge_fixture_benchmarks"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    extra = {"simpleqa": f"{FIXTURES_MODULE}:SIMPLEQA", "hle": f"{FIXTURES_MODULE}:HLE_FIXTURE"}
    with sim_with_fixture_benchmarks(log, extra) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_faults(sim: Any) -> Any:
    sim.clear_faults()
    yield
    sim.clear_faults()


def config_data(base_url: str, db: str, *, benches: tuple[str, ...] = ("simpleqa",),
                max_attempts: int = 3) -> dict[str, Any]:
    sources = {"simpleqa": str(SIMPLEQA_SOURCE), "hle": str(HLE_SOURCE)}
    return {
        "db": db,
        "providers": {"sim": {"base_url": base_url, "max_concurrency": 8, "timeout_s": 10,
                              "request_cost": True, "max_attempts": max_attempts}},
        "models": [{"id": m, "provider": "sim", "price": {
            "input_per_m": SIM_MODELS[m].price_in, "output_per_m": SIM_MODELS[m].price_out,
            "date": "2026-11-01"}} for m in (ATLAS, FLASH)],
        "benchmarks": [{"name": name, "source": sources[name]} for name in benches],
        "judge": {"id": JUDGE, "provider": "sim"},
    }


async def collect(data: dict[str, Any], reporter: Any = None) -> RunSummary:
    store = Store.open(data["db"])
    try:
        collector = Collector(config_from_dict(data, None), store, backoff_initial_s=0.02,
                              backoff_max_s=0.05, reporter=reporter)
        return await collector.run()
    finally:
        store.close()


def cells(db: str) -> list[CellRecord]:
    with Store.open(db, create=False) as store:
        return store.cells(limit=10_000)


def chat_log(sim: Any, since: float, benchmark: str | None = None) -> list[dict[str, Any]]:
    return [e for e in sim.log() if e["time"] >= since and e["endpoint"] == "chat"
            and (benchmark is None or e["benchmark"] == benchmark)]


def question_of(db: str, cell: CellRecord) -> tuple[str, str]:
    with Store.open(db, create=False) as store:
        item = store.item(cell.benchmark, cell.item_id)
    assert item is not None
    return item.prompt_text, json.loads(item.target_json)


async def test_simpleqa_judged_end_to_end_with_separate_judge_cost_and_cache(
    sim: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db)
    since = time.time()
    summary = await collect(data)
    assert summary.status == "completed" and summary.ok == summary.attempted == 12
    rows = cells(db)
    assert len(rows) == 12 and {r.status for r in rows} == {"ok"}
    assert {(r.grader, r.grader_version, r.judge_model) for r in rows} == {
        ("simpleqa_judge", "simpleqa-2", JUDGE)
    }
    for row in rows:  # the stored verdict is the judge's reply, decided honestly
        question, target = question_of(db, row)
        assert row.judge_output == judge_simpleqa(question, target, row.response or "")
        assert row.extracted == parse_simpleqa_grade(row.judge_output or "")
        assert row.score == (1.0 if row.extracted == "CORRECT" else 0.0)
    labels = {r.extracted for r in rows}
    assert "CORRECT" in labels and labels - {"CORRECT"}, labels  # a real mix of verdicts

    # judge usage and dollars are on their own columns, apart from the candidate's
    judge_calls = chat_log(sim, since, "judge")
    assert {e["model"] for e in judge_calls} == {JUDGE}
    with Store.open(db) as store:
        assert count_judgements(store, JUDGE) == len(judge_calls)
    assert 0 < len(judge_calls) <= 12
    paid = [r for r in rows if r.judge_cost]
    assert len(paid) == len(judge_calls)  # a cache hit within the run costs nothing
    assert all(r.judge_prompt_tokens > 0 and r.judge_completion_tokens > 0 for r in paid)
    assert all(r.cost is not None and r.cost != r.judge_cost for r in paid)
    candidate_calls = chat_log(sim, since, "simpleqa")
    assert len(candidate_calls) == 12

    # a second run requests nothing; a regrade with the same judge hits the cache only
    since = time.time()
    again = await collect(data)
    assert again.already_done == 12 and again.attempted == 0
    with Store.open(db) as store:
        result = await regrade(store, "simpleqa", config=config_from_dict(data, None))
        assert count_grade_history(store) == 0
    assert chat_log(sim, since) == []  # no candidate call, no judge call
    assert result.examined == 12 and result.judge_cache_hits == 12 and result.judge_calls == 0
    assert result.score_changes == 0 and result.rewritten == 0 and result.failed == 0
    assert [(r.id, r.score, r.judge_cost) for r in cells(db)] == [
        (r.id, r.score, r.judge_cost) for r in rows
    ]


async def test_judge_failure_is_an_error_not_a_wrong_answer(sim: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db, max_attempts=2)
    data["models"] = [m for m in data["models"] if m["id"] == FLASH]
    sim.add_faults([{"fault": "500", "count": 1000, "model": JUDGE}])
    since = time.time()
    summary = await collect(data)
    assert summary.ok == 0 and summary.by_status == {"answered": 6}
    rows = cells(db)
    assert {r.status for r in rows} == {"answered"}  # kept and paid for, its grade pending
    assert all(r.score is None and r.grader is None for r in rows)  # never graded wrong
    assert all(r.response for r in rows)  # the candidate's answer is kept
    assert all("judge sim/mid-pro gave up after 2 attempt(s)" in (r.error or "") for r in rows)
    assert [e["status"] for e in chat_log(sim, since, "judge")] == [500] * 12
    with Store.open(db) as store:
        assert count_judgements(store) == 0

    sim.clear_faults()  # the next run grades the stored answers without calling the model again
    since = time.time()
    again = await collect(data)
    assert again.ok == 6 and {r.status for r in cells(db)} == {"ok"}
    assert chat_log(sim, since, "simpleqa") == []


@dataclass
class ExactMatchGrader:
    """A 'fixed' grader for the test: correct only when the response is exactly the target."""

    id: str = "simpleqa_exact"
    version: str = "2"

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        correct = completion.text.strip() == str(item.target)
        return Grade(1.0 if correct else 0.0, completion.text.strip(), "exact match",
                     self.id, self.version)


async def test_regrade_with_a_changed_grader_changes_verdicts_and_keeps_history(
    sim: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db)
    await collect(data)
    before = {r.id: r for r in cells(db)}
    # atlas writes a preamble: the judge accepts its right answers, exact match does not
    expected_changes = sum(
        1 for r in before.values()
        if r.score == 1.0 and (r.response or "").strip() != question_of(db, r)[1]
    )
    assert expected_changes > 0
    since = time.time()
    with Store.open(db) as store:
        result = await regrade(store, "simpleqa", grader=ExactMatchGrader())
        assert result.score_changes == expected_changes
        assert result.rewritten == 12 and count_grade_history(store) == 12
        changed = next(r for r in before.values() if r.score == 1.0 and r.model == ATLAS)
        history = grade_history(store, changed.id or 0)
    assert chat_log(sim, since) == []
    assert result.confusion[("correct", "wrong")] == expected_changes
    assert sum(result.confusion.values()) == 12
    assert [(h.grader, h.grader_version, h.score, h.judge_output) for h in history] == [
        ("simpleqa_judge", "simpleqa-2", 1.0, changed.judge_output)
    ]
    after = {r.id: r for r in cells(db)}
    assert {r.grader for r in after.values()} == {"simpleqa_exact"}
    assert after[changed.id].score == 0.0  # type: ignore[index]

    with Store.open(db) as store:  # idempotent: the same grader again changes nothing
        again = await regrade(store, "simpleqa", grader=ExactMatchGrader())
        assert again.rewritten == 0 and count_grade_history(store) == 12

    # back to the judge through the CLI (config + db): cached verdicts, history grows
    config_file = tmp_path / "avp.toml"
    config_file.write_text(toml_text(data))
    argv = ["regrade", "--config", str(config_file), "--db", db, "--benchmark", "simpleqa"]
    code = await asyncio.to_thread(avp_main, argv)  # the CLI runs its own event loop
    assert code == 0
    with Store.open(db) as store:
        assert count_grade_history(store) == 24
    assert [(r.id, r.score) for r in cells(db)] == [(i, r.score) for i, r in before.items()]


async def test_hle_judged_and_reported_with_calibration(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    data = config_data(sim.base_url, db, benches=("hle", "simpleqa"))
    progress = io.StringIO()
    summary = await collect(data, PlainReporter(stream=progress))
    # the questions with an image are left out, and the run says how many
    assert "hle: 2 questions with an image excluded (text-only)" in progress.getvalue()
    n_hle = len(list(HLE_FIXTURE.items(Selection())))  # text-only questions of the fixture
    assert n_hle == 3 and summary.ok == summary.attempted == 2 * (n_hle + 6)
    rows = [r for r in cells(db) if r.benchmark == "hle"]
    assert {r.grader for r in rows} == {"hle_judge"}
    for row in rows:
        assert (row.judge_output or "").splitlines()[2] == (
            "correct: yes" if row.score == 1.0 else "correct: no"
        )
    capsys.readouterr()
    assert avp_main(["report", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for model in (ATLAS, FLASH):
        model_rows = [r for r in rows if r.model == model]
        hle = report["hle"][model]
        expected = hle_metrics([Grade(r.score or 0.0, r.extracted, "", "hle_judge", "hle-2",
                                      judge_output=r.judge_output) for r in model_rows])
        assert hle["n"] == n_hle and hle["accuracy"] == pytest.approx(expected.accuracy)
        assert hle["calibration_error"] is None  # fewer than 100 answers: no bin (official)
        simpleqa = report["simpleqa"][model]
        labels = [r.extracted for r in cells(db) if r.benchmark == "simpleqa" and r.model == model]
        assert simpleqa["correct"] == labels.count("CORRECT")
        assert simpleqa["n"] == 6
    assert avp_main(["report", "--db", db, "--benchmark", "simpleqa"]) == 0
    text = capsys.readouterr().out
    assert "accuracy given attempted" in text and "F-score" in text and ATLAS in text


def toml_text(data: dict[str, Any]) -> str:
    """`data` (config_data's shape, its [judge] included) as an avp.toml."""
    provider = data["providers"]["sim"]
    lines = [f'db = "{data["db"]}"', "", "[providers.sim]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in provider.items()]
    for model in data["models"]:
        lines += ["", "[[models]]", f'id = "{model["id"]}"', 'provider = "sim"']
    for bench in data["benchmarks"]:
        lines += ["", "[[benchmarks]]", f'name = "{bench["name"]}"',
                  f'source = "{bench["source"]}"']
    lines += ["", "[judge]"] + [f"{k} = {json.dumps(v)}" for k, v in data["judge"].items()]
    return "\n".join(lines) + "\n"
