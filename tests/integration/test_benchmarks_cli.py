"""`avp benchmarks list|show`, one-line errors of `avp regrade` / `avp report`, and the demo's
full suite, through the real CLI entry point."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

import benchmarks
from avp_harness.cli import main as avp_main
from avp_harness.cli.collect_cmds import DEMO_JUDGE, demo_config, full_suite
from avp_harness.store import Store
from tests.conftest import shared_path

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = avp_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def listing(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, dict[str, Any]]:
    code, out, _err = run(capsys, "benchmarks", "list", "--json", *extra)
    assert code == 0
    return {row["name"]: row for row in json.loads(out)}


def test_list_describes_every_registered_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    rows = listing(capsys)
    assert sorted(rows) == benchmarks.names()
    assert (rows["arc_agi"]["items"], rows["arc_agi"]["grader"]) == (400, "grid")
    assert (rows["humaneval"]["items"], rows["humaneval"]["grader"]) == (164, "humaneval_exec")
    assert rows["arc_agi"]["paper_selection"] == "first 200"
    simpleqa = rows["simpleqa"]
    assert (simpleqa["grader"], simpleqa["grader_version"], simpleqa["needs_judge"]) == (
        "simpleqa_judge", "simpleqa-2", True
    )
    assert simpleqa["paper_selection"] == "500 sampled (seed 0)"
    assert rows["hle"]["grader"] == "hle_judge" and rows["hle"]["paper_selection"] == "first 500"
    assert rows["gpqa_diamond"]["needs_judge"] is False
    assert all(row["version"] for row in rows.values())
    code, out, _err = run(capsys, "benchmarks", "list")
    assert code == 0 and "simpleqa_judge simpleqa-2 (LLM judge)" in out


def test_list_counts_the_real_data(capsys: pytest.CaptureFixture[str]) -> None:
    shared_path("benchmarks", "mmlu_pro", "test.jsonl")
    rows = listing(capsys)
    assert rows["gpqa_diamond"]["data_present"] and rows["gpqa_diamond"]["items"] == 198
    assert (rows["math500"]["items"], rows["aime"]["items"], rows["aime_2024"]["items"]) == (
        500, 60, 30
    )
    assert rows["mmlu_pro"]["items"] is None  # too big to load without --count
    assert listing(capsys, "--count")["mmlu_pro"]["items"] == 12_032


def test_show_never_prints_a_gpqa_item(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_path("benchmarks", "gpqa", "gpqa_diamond.csv")
    code, out, _err = run(capsys, "benchmarks", "show", "gpqa_diamond")
    assert code == 0
    assert "https://arxiv.org/abs/2311.12022" in out and "choice 2/simple-evals-gpqa/1" in out
    assert "extraction as: openai/simple-evals gpqa_eval.py" in out
    assert "PROMPT_TEMPLATE" in out and "Answer: LETTER" in out
    assert "example prompt not shown: this benchmark's data carries a canary string" in out
    with path.open(newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    assert first["Question"].strip()[:60] not in out
    assert first["Canary String"].strip() not in out


def test_show_renders_an_example_for_canary_free_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "benchmarks", "show", "humaneval", "--json")
    assert code == 0
    info = json.loads(out)
    first = next(iter(benchmarks.get("humaneval").items(benchmarks.Selection(limit=1))))
    assert info["example"] == [m.as_dict() for m in first.messages]
    assert info["grader"] == "humaneval_exec" and info["paper_selection"] == "all"
    code, out, _err = run(capsys, "benchmarks", "show", "simpleqa")
    assert code == 0
    assert "needs [judge] in avp.toml" in out and "https://arxiv.org/abs/2411.04368" in out


def test_user_mistakes_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no avp.toml here
    monkeypatch.delenv("AVP_CONFIG", raising=False)
    monkeypatch.delenv("AVP_DB", raising=False)
    code, out, err = run(capsys, "benchmarks", "show", "gpqa")
    assert (code, out) == (2, "") and err.startswith("avp: error: unknown benchmark 'gpqa'")
    assert err.count("\n") == 1
    code, _out, err = run(capsys, "regrade", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no store at" in err and err.count("\n") == 1
    Store.open(str(tmp_path / "runs.db")).close()
    code, _out, err = run(capsys, "regrade", "--db", "runs.db", "--benchmark", "simpleqa")
    assert code == 2
    assert err == "avp: error: avp.toml: judge: simpleqa is graded by an LLM judge: configure one\n"
    code, _out, err = run(capsys, "report", "--db", "runs.db", "--benchmark", "nope")
    assert code == 2 and "unknown benchmark 'nope'" in err


def test_demo_full_suite_adds_the_benchmarks_whose_data_is_present() -> None:
    shared_path("benchmarks", "math500", "test.jsonl")
    extra, skipped = full_suite(mmlu_pro=50)
    names = [entry["name"] for entry in extra]
    assert {"gpqa_diamond", "mmlu_pro", "aime", "math500"} <= set(names)
    assert {"mmlu_pro": 50}.items() <= {e["name"]: e["limit"] for e in extra}.items()
    assert set(names) | set(skipped) == {"gpqa_diamond", "mmlu_pro", "aime", "math500",
                                         "simpleqa", "hle"}
    config = demo_config("http://127.0.0.1:9/v1", ":memory:", 5, 5, extra)
    assert [b.name for b in config.benchmarks][:2] == ["arc_agi", "humaneval"]
    assert (config.judge is not None) == bool({"simpleqa", "hle"} & set(names))
    judged = demo_config("http://127.0.0.1:9/v1", ":memory:", 5, 5, [{"name": "simpleqa"}])
    assert judged.judge is not None and judged.judge.id == DEMO_JUDGE
    assert judged.judge.temperature == 0.0
    assert demo_config("http://127.0.0.1:9/v1", ":memory:", 5, 5).judge is None
