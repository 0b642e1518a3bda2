"""Text benchmarks on small fixtures in the official formats (invented questions)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import benchmarks
from avp_harness.errors import ConfigError, DataError
from benchmarks import Selection, aime, gpqa, hle, math500, mmlu_pro, simpleqa
from graders.choice import extract_choice

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEXT_BENCHMARKS = [
    "gpqa_diamond",
    "mmlu_pro",
    "aime",
    "aime_2024",
    "aime_2025",
    "math500",
    "simpleqa",
    "hle",
]


def write_gpqa_csv(path: Path, n: int) -> None:
    columns = [
        "Question",
        "Correct Answer",
        "Incorrect Answer 1",
        "Incorrect Answer 2",
        "Incorrect Answer 3",
        "Record ID",
        "High-level domain",
        "Subdomain",
        "Canary String",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i in range(n):
            writer.writerow(
                [
                    f"Invented question {i}?",
                    f"right {i}",
                    f"wrong {i}a",
                    f"wrong {i}b",
                    f"wrong {i}c",
                    f"rec{i:04d}",
                    "Physics",
                    "Optics" if i % 2 else "Astrophysics",
                    "fixture canary",
                ]
            )


def test_registry_resolves_every_text_benchmark() -> None:
    for name in TEXT_BENCHMARKS:
        bench = benchmarks.get(name)
        assert bench.name == name and bench.version and bench.description
    assert benchmarks.get("aime_2024").years == ("2024",)  # type: ignore[attr-defined]


def test_gpqa_shuffle_tracks_gold_and_is_stable(tmp_path: Path) -> None:
    write_gpqa_csv(tmp_path / "gpqa_diamond.csv", 40)
    items = list(gpqa.BENCHMARK.items(Selection(source=tmp_path)))
    again = list(gpqa.BENCHMARK.items(Selection(source=tmp_path / "gpqa_diamond.csv")))
    assert [i.messages for i in items] == [i.messages for i in again]
    assert len({i.target for i in items}) == 4  # the correct answer moves around
    for i, item in enumerate(items):
        assert item.id == f"rec{i:04d}"
        assert f"\n{item.target}) right {i}\n" in item.prompt_text + "\n"
        assert sorted(item.metadata["permutation"]) == [0, 1, 2, 3]
        assert item.metadata["topic"] in ("Optics", "Astrophysics")
        assert extract_choice(item.prompt_text, gpqa.EXTRACTION) is None  # it answers nothing


def test_messages_do_not_depend_on_the_selection(tmp_path: Path) -> None:
    write_gpqa_csv(tmp_path / "gpqa_diamond.csv", 30)
    full = {i.id: i for i in gpqa.BENCHMARK.items(Selection(source=tmp_path))}
    sampled = list(gpqa.BENCHMARK.items(Selection(sample=7, seed=3, source=tmp_path)))
    assert len(sampled) == 7
    assert all(item == full[item.id] for item in sampled)
    resampled = list(gpqa.BENCHMARK.items(Selection(sample=7, seed=3, source=tmp_path)))
    assert [i.id for i in resampled] == [i.id for i in sampled]


def test_mmlu_pro_letters_follow_option_count(tmp_path: Path) -> None:
    rows = [
        {
            "question_id": 1,
            "question": "Pick the even one.",
            "options": ["1", "2", "3", "5"],
            "answer": "B",
            "answer_index": 1,
            "category": "math",
            "src": "fixture",
        },
        {
            "question_id": 2,
            "question": "Pick the tenth.",
            "options": [str(i) for i in range(10)],
            "answer": "J",
            "answer_index": 9,
            "category": "other",
            "src": "fixture",
        },
    ]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    first, second = mmlu_pro.BENCHMARK.items(Selection(source=path))
    assert (first.id, first.target, first.metadata["letters"], first.metadata["topic"]) == (
        "1",
        "B",
        "ABCD",
        "math",
    )
    assert "D) 5" in first.prompt_text and "E)" not in first.prompt_text
    assert second.target == "J" and "J) 9" in second.prompt_text
    assert mmlu_pro.BENCHMARK.grader().rule is mmlu_pro.EXTRACTION
    assert 'finish your answer with "The answer is (X)"' in first.prompt_text
    assert "about math" in first.prompt_text and "(A, B, C, D)" in first.prompt_text
    # the prompt holds no answer phrase: only the last-letter fallback reads anything in it
    assert mmlu_pro.EXTRACTION.extract(first.prompt_text) == ("D", 3)


def test_mmlu_pro_bad_answer_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    row = {
        "question_id": 9,
        "question": "?",
        "options": ["x", "y"],
        "answer": "C",
        "category": "law",
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="answer 'C' not an option"):
        list(mmlu_pro.BENCHMARK.items(Selection(source=path)))


def test_math_benchmarks_from_official_jsonl(tmp_path: Path) -> None:
    (tmp_path / "aime_2024.jsonl").write_text(
        json.dumps({"id": "aime24-0", "problem": "Find 6 times 7.", "answer": "42"}) + "\n"
    )
    (tmp_path / "aime_2025.jsonl").write_text(
        json.dumps({"id": "aime25-0", "problem": "Find 3 cubed.", "answer": "27"}) + "\n"
    )
    both = list(aime.BENCHMARK.items(Selection(source=tmp_path)))
    assert [(i.id, i.target, i.metadata["topic"]) for i in both] == [
        ("aime24-0", "42", "aime_2024"),
        ("aime25-0", "27", "aime_2025"),
    ]
    only = list(aime.BENCHMARK_2025.items(Selection(source=tmp_path)))
    assert [i.id for i in only] == ["aime25-0"] and only[0].dataset == "aime_2025"
    assert "\\boxed{}" in both[0].prompt_text
    (tmp_path / "test.jsonl").write_text(
        json.dumps(
            {
                "unique_id": "test/algebra/1.json",
                "problem": "Halve one.",
                "answer": "\\frac{1}{2}",
                "subject": "Algebra",
                "level": 2,
            }
        )
        + "\n"
    )
    (item,) = math500.BENCHMARK.items(Selection(source=tmp_path / "test.jsonl"))
    assert (item.id, item.target, item.metadata["topic"], item.metadata["level"]) == (
        "test/algebra/1.json",
        "\\frac{1}{2}",
        "Algebra",
        2,
    )


def test_bad_inputs_are_one_line_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data not found"):
        list(math500.BENCHMARK.items(Selection(source=tmp_path / "missing.jsonl")))
    broken = tmp_path / "test.jsonl"
    broken.write_text('{"id": "x", "problem": "p"\n')
    with pytest.raises(DataError, match=r"test.jsonl:1: not JSON"):
        list(math500.BENCHMARK.items(Selection(source=broken)))
    broken.write_text('{"id": "x", "problem": "p"}\n')
    with pytest.raises(DataError, match="missing field"):
        list(math500.BENCHMARK.items(Selection(source=broken)))
    bad_csv = tmp_path / "gpqa_diamond.csv"
    bad_csv.write_text("Question,Record ID\nq,r\n")
    with pytest.raises(DataError, match="missing column"):
        list(gpqa.BENCHMARK.items(Selection(source=bad_csv)))


def test_simpleqa_fixture() -> None:
    items = list(simpleqa.BENCHMARK.items(Selection(source=FIXTURES / "simpleqa")))
    assert [i.id for i in items] == [f"simpleqa-{i}" for i in range(6)]
    assert items[1].metadata["topic"] == "Art" and items[1].metadata["answer_type"] == "Person"
    assert items[1].metadata["urls"] == ["https://example.org/b", "https://example.org/c"]
    assert items[5].target == "Treaty of Dornhaven, Second"
    # the bare question is the prompt (simple-evals sends no instructions)
    assert items[0].messages[-1].content.startswith("How many moons")
    sampled = list(
        simpleqa.BENCHMARK.items(Selection(sample=3, seed=0, source=FIXTURES / "simpleqa"))
    )
    by_id = {i.id: i for i in items}
    assert len(sampled) == 3 and all(i == by_id[i.id] for i in sampled)
    assert Selection(sample=500, seed=0) == simpleqa.PAPER_SELECTION


def test_simpleqa_metadata_is_parsed_safely(tmp_path: Path) -> None:
    path = tmp_path / "simple_qa_test_set.csv"
    path.write_text("metadata,problem,answer\n\"__import__('os').getcwd()\",Q?,A\n")
    with pytest.raises(DataError, match="metadata is not a dict literal"):
        list(simpleqa.BENCHMARK.items(Selection(source=path)))


@pytest.mark.parametrize("name", ["test.jsonl", "test.csv"])
def test_hle_text_only_from_jsonl_and_csv(name: str) -> None:
    bench = hle.HLE()
    items = list(bench.items(Selection(source=FIXTURES / "hle" / name)))
    assert [i.id for i in items] == ["fx0001", "fx0002", "fx0004"]
    assert bench.excluded_with_image == 2
    exact, choice, _ = items
    assert exact.messages[0].role == "system" and "Exact Answer:" in exact.messages[0].content
    assert "Exact Answer:" not in choice.messages[0].content
    assert "Confidence:" in choice.messages[0].content
    assert exact.prompt_text.startswith("What is the smallest prime")
    assert (choice.target, choice.metadata["topic"], choice.metadata["answer_type"]) == (
        "C",
        "Chemistry",
        "multipleChoice",
    )
    assert Selection(limit=500) == hle.PAPER_SELECTION


def test_hle_parquet(tmp_path: Path) -> None:
    """Parquet is read through pyarrow when it is importable, else a one-line DataError."""
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        (tmp_path / "test.parquet").write_bytes(b"PAR1")
        with pytest.raises(DataError, match="needs pyarrow"):
            list(hle.BENCHMARK.items(Selection(source=tmp_path)))
        return
    lines = (FIXTURES / "hle" / "test.jsonl").read_text().splitlines()
    pq.write_table(
        pyarrow.Table.from_pylist([json.loads(x) for x in lines]), tmp_path / "test.parquet"
    )
    assert len(list(hle.BENCHMARK.items(Selection(source=tmp_path)))) == 3


def test_judge_benchmarks_refuse_to_grade_without_a_judge() -> None:
    with pytest.raises(ConfigError, match="judge"):
        simpleqa.BENCHMARK.grader(None)
    with pytest.raises(ConfigError, match="judge"):
        hle.BENCHMARK.grader()


def test_paper_selections_use_all_items_elsewhere() -> None:
    for module in (gpqa, mmlu_pro, aime, math500):
        assert Selection() == module.PAPER_SELECTION
