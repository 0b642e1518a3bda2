"""`avp grade` end to end: the installed console script in a subprocess, on the real items."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from avp_harness.cli import main as avp_main
from benchmarks import Selection, gpqa, math500, mmlu_pro
from tests.conftest import shared_path

pytestmark = pytest.mark.integration

AVP = Path(sys.executable).with_name("avp")


def avp(*argv: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AVP), *argv], cwd=cwd, input=stdin, capture_output=True, text=True, check=False,
        timeout=300,
    )


def grades(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def first_item(module: object, *parts: str) -> tuple[Path, object]:
    source = shared_path(*parts)
    bench = module.BENCHMARK  # type: ignore[attr-defined]
    return source, next(iter(bench.items(Selection(limit=1, source=source))))


def test_one_mmlu_pro_answer_is_read_as_the_official_code_reads_it(tmp_path: Path) -> None:
    source, item = first_item(mmlu_pro, "benchmarks", "mmlu_pro", "test.jsonl")
    gold = item.target  # type: ignore[attr-defined]
    other = "A" if gold != "A" else "B"
    text = (
        f"Step by step... The answer is ({gold}).\n\nQuestion: a fake next one\n"
        f"Answer: Let's think step by step. The answer is ({other})."
    )
    (tmp_path / "answer.txt").write_text(text, encoding="utf-8")
    item_id = item.id  # type: ignore[attr-defined]
    from_file = grades(
        avp("grade", "mmlu_pro", item_id, "--response", "answer.txt", "--source", str(source),
            cwd=tmp_path)
    )
    from_stdin = grades(
        avp("grade", "mmlu_pro", item_id, "--response", "-", "--source", str(source),
            cwd=tmp_path, stdin=text)
    )
    assert from_file == from_stdin
    [grade] = from_file
    assert grade["benchmark"] == "mmlu_pro" and grade["item_id"] == item_id
    assert (grade["score"], grade["extracted"], grade["parsed"]) == (1.0, gold, True)
    assert grade["grader"] == "choice" and grade["grader_version"] == "2/tiger-lab-mmlu-pro/1"
    assert "pattern 1" in str(grade["explanation"])


def test_many_gpqa_answers_from_jsonl_in_order(tmp_path: Path) -> None:
    source = shared_path("benchmarks", "gpqa", "gpqa_diamond.csv")
    items = list(gpqa.BENCHMARK.items(Selection(limit=3, source=source)))
    lines = [
        {"item_id": items[0].id, "response": f"Because...\nAnswer: {items[0].target}"},
        {"item_id": items[1].id, "response": f"**Answer:** {items[1].target}"},
        {"item_id": items[2].id, "response": f"answer: {items[2].target.lower()}"},
    ]
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    out = grades(avp("grade", "gpqa_diamond", "--responses", str(path), "--source", str(source),
                     cwd=tmp_path))
    assert [g["item_id"] for g in out] == [i.id for i in items]
    assert [(g["score"], g["parsed"]) for g in out] == [(1.0, True), (0.0, False), (0.0, True)]
    assert out[2]["extracted"] == items[2].target.lower()  # simple-evals compares case-sensitively
    assert {g["grader_version"] for g in out} == {"2/simple-evals-gpqa/1"}


def test_math_and_grid_answers_use_their_own_graders(tmp_path: Path) -> None:
    source, item = first_item(math500, "benchmarks", "math500", "test.jsonl")
    path = tmp_path / "math.txt"
    path.write_text(f"So the result is \\boxed{{{item.target}}}.", encoding="utf-8")  # type: ignore[attr-defined]
    [grade] = grades(avp("grade", "math500", item.id, "--response", str(path),  # type: ignore[attr-defined]
                         "--source", str(source), cwd=tmp_path))
    assert (grade["score"], grade["grader"]) == (1.0, "math")

    from benchmarks import arc_agi

    task = next(iter(arc_agi.BENCHMARK.items(Selection(limit=1))))
    grid = task.target[0]
    path.write_text(f"Here it is:\n```json\n{json.dumps(grid)}\n```", encoding="utf-8")
    [grade] = grades(avp("grade", "arc_agi", task.id, "--response", str(path), cwd=tmp_path))
    assert (grade["score"], grade["grader"], grade["extracted"]) == (1.0, "grid", json.dumps(
        grid, separators=(",", ":")))


def test_a_humaneval_solution_runs_in_the_benchmark_grader(tmp_path: Path) -> None:
    from benchmarks import humaneval

    item = next(iter(humaneval.BENCHMARK.items(Selection(limit=1))))
    path = tmp_path / "solution.txt"
    function = item.metadata["prompt"] + item.metadata["canonical_solution"]
    path.write_text(f"```python\n{function}\n```", encoding="utf-8")
    result = avp("grade", "humaneval", item.id, "--response", str(path), cwd=tmp_path)
    [grade] = grades(result)
    assert (grade["score"], grade["grader"]) == (1.0, humaneval.BENCHMARK.grader().id)


@pytest.mark.parametrize(
    ("argv", "lines", "message"),
    [
        (["grade", "nosuch", "1", "--response", "a.txt"], None, "unknown benchmark 'nosuch'"),
        (["grade", "mmlu_pro", "no-such-id", "--response", "a.txt"], None,
         "mmlu_pro has no item 'no-such-id'"),
        (["grade", "mmlu_pro", "--response", "a.txt"], None, "--response needs the ITEM_ID"),
        (["grade", "mmlu_pro", "--responses", "r.jsonl"], ['{"item_id": "70", "response": "x"}',
                                                           "{not json"], "r.jsonl:2: not JSON"),
        (["grade", "mmlu_pro", "--responses", "r.jsonl"], ['{"item_id": "70"}'],
         'r.jsonl:1: expected {"item_id": ..., "response": ...}'),
        (["grade", "mmlu_pro", "--responses", "r.jsonl"], ["", '{"item_id": 70, "response": 3}'],
         "r.jsonl:2: response is not a string"),
        (["grade", "mmlu_pro", "--responses", "r.jsonl"], ['{"item_id": "none", "response": ""}'],
         "mmlu_pro has no item 'none' (r.jsonl:1)"),
        (["grade", "mmlu_pro", "70", "--response", "missing.txt"], None, "cannot read"),
        (["grade", "simpleqa", "1", "--response", "a.txt"], None, "graded by an LLM judge"),
        (["grade", "hle", "--responses", "r.jsonl"], ["{}"], "graded by an LLM judge"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], lines: list[str] | None, message: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared_path("benchmarks", "mmlu_pro", "test.jsonl")
    (tmp_path / "a.txt").write_text("The answer is (A).", encoding="utf-8")
    if lines is not None:
        (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = avp_main(argv)  # in process (each subprocess start costs seconds); one case below
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err


def test_bad_jsonl_line_through_the_console_script(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text('{"item_id": "1", "response": ""}\n[1, 2]\n')
    result = avp("grade", "mmlu_pro", "--responses", "r.jsonl", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        'avp: error: r.jsonl:2: expected {"item_id": ..., "response": ...}\n'
    )
