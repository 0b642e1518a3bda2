"""The text benchmarks on the real data in ../shared/data (skipped only when it is absent).

Never print items here: GPQA carries a canary string.
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter

import pytest

from benchmarks import Selection, aime, gpqa, math500, mmlu_pro
from benchmarks._text_common import render_choices
from graders.choice import extract_choice
from graders.math import MathGrader, math_equal
from tests.conftest import shared_path

pytestmark = pytest.mark.integration

# MATH-500 problems whose own text contains the gold answer as a token of 4+ characters. Both are
# in the official data, not leaks of ours: 277 asks to simplify $\sqrt{53}$ (already simplest), 373
# divides by $1+2i$, which happens to be the answer.
MATH500_ANSWER_IN_PROBLEM = {"math500-277", "math500-373"}


def _source(*parts: str) -> Selection:
    return Selection(source=shared_path(*parts))


def test_gpqa_diamond_gold_tracked_through_shuffle() -> None:
    path = shared_path("benchmarks", "gpqa", "gpqa_diamond.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = {row["Record ID"]: row for row in csv.DictReader(handle)}
    items = list(gpqa.BENCHMARK.items(Selection(source=path)))
    again = list(gpqa.BENCHMARK.items(Selection(source=path)))
    assert len(items) == 198
    assert [i.metadata["permutation"] for i in items] == [i.metadata["permutation"] for i in again]
    assert [i.messages for i in items] == [i.messages for i in again]
    for item in items:
        row = rows[item.id]
        answers = [row["Correct Answer"]] + [row[f"Incorrect Answer {k}"] for k in (1, 2, 3)]
        shuffled = [answers[k].strip() for k in item.metadata["permutation"]]
        block = render_choices(shuffled)
        assert item.prompt_text.endswith(block)
        assert shuffled["ABCD".index(item.target)] == row["Correct Answer"].strip()
        # the gold answer only appears among the choices, at the gold letter
        question_part = item.prompt_text[: -len(block)]
        assert f"{item.target}) {row['Correct Answer'].strip()}" not in question_part
        assert extract_choice(item.prompt_text, gpqa.EXTRACTION) is None
        assert item.metadata["topic"] == rows[item.id]["Subdomain"].strip()
    letters = Counter(i.target for i in items)
    assert set(letters) == set("ABCD") and max(letters.values()) < 198 / 2


def test_mmlu_pro_loads_all_questions() -> None:
    selection = _source("benchmarks", "mmlu_pro", "test.jsonl")
    started = time.perf_counter()
    items = list(mmlu_pro.BENCHMARK.items(selection))
    print(f"\nMMLU-Pro: {len(items)} items built in {time.perf_counter() - started:.2f}s")
    assert len(items) == 12_032
    assert len({i.id for i in items}) == 12_032
    assert len({i.metadata["topic"] for i in items}) == 14
    steps = Counter()
    for item in items:
        assert item.target in item.metadata["letters"]
        found = mmlu_pro.EXTRACTION.extract(item.prompt_text)
        steps[found[1] if found else None] += 1
    # our template adds no answer phrase: only the last-letter fallback reads something in a
    # prompt, but for 3 questions whose own text says "the answer is X"
    assert steps == {3: 12_029, 1: 3}


def test_aime_and_math500_counts_and_prompts() -> None:
    aime_items = list(aime.BENCHMARK.items(_source("benchmarks", "aime")))
    assert len(aime_items) == 60
    assert Counter(i.metadata["topic"] for i in aime_items) == {"aime_2024": 30, "aime_2025": 30}
    assert all(re.fullmatch(r"\d{1,3}", i.target) for i in aime_items)
    math_items = list(math500.BENCHMARK.items(_source("benchmarks", "math500", "test.jsonl")))
    assert len(math_items) == 500 and len({i.id for i in math_items}) == 500
    coincidences = set()
    for item in aime_items + math_items:
        prompt, gold = item.prompt_text, item.target
        # never given away in an answer-like form
        assert f"\\boxed{{{gold}}}" not in prompt and f"answer is {gold}" not in prompt
        token = re.compile(r"(?<![\w.\\])" + re.escape(gold) + r"(?![\w.])")
        if len(gold) >= 4 and token.search(prompt):
            coincidences.add(item.id)
    assert coincidences == MATH500_ANSWER_IN_PROBLEM


@pytest.mark.parametrize(
    ("gold", "rewritten"),
    [
        ("\\frac{1}{2}", "0.5"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)"),
        ("\\frac{14}{3}", "14/3"),
        ("p - q", "-q + p"),
        ("\\sqrt{53}", "53^{1/2}"),
        ("1+2i", "2i+1"),
    ],
)
def test_math500_gold_forms_are_equivalent(gold: str, rewritten: str) -> None:
    path = shared_path("benchmarks", "math500", "test.jsonl")
    golds = {i.target for i in math500.BENCHMARK.items(Selection(source=path))}
    assert gold in golds  # these are real MATH-500 gold answers
    assert math_equal(gold, rewritten)
    assert not math_equal(gold, rewritten + "+1")


def test_math500_gold_answers_equal_themselves_not_others() -> None:
    items = list(math500.BENCHMARK.items(_source("benchmarks", "math500", "test.jsonl")))
    grader = MathGrader()
    self_equal = sum(grader.grade_text(f"\\boxed{{{i.target}}}", i.target).score for i in items)
    assert self_equal == 500
    integers = [i for i in items if re.fullmatch(r"\d+", i.target)][:50]
    assert len(integers) == 50
    for item in integers:  # a different value is never equivalent
        assert grader.grade_text(f"\\boxed{{{int(item.target) + 1}}}", item.target).score == 0.0
