"""Simulated answers are graded as intended by the project's real graders.

A "correct" simulated answer must pass the benchmark's grader and a "wrong" one must really fail
(HumanEval's wrong variants are run against the real tests, not just inspected).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

import benchmarks
from avp_harness.sim.answers import (
    ANSWERS,
    HUMANEVAL_WRONG_VARIANTS,
    humaneval_program,
    perturb_grid,
)
from avp_harness.types import Completion, CostSource, Item, Message, Usage


def _completion(text: str) -> Completion:
    return Completion(text, Usage(), None, CostSource.UNKNOWN, 0.0, "stop")


async def check_with_grader(name: str, items: list[Item]) -> None:
    grader = benchmarks.get(name).grader()
    for i, item in enumerate(items):
        for correct in (True, False):
            text = ANSWERS[name](item, correct, random.Random(i))
            grade = await grader(item, _completion(text))
            assert grade.score == (1.0 if correct else 0.0), (name, item.id, correct)


async def test_every_arc_answer_grades_as_intended() -> None:
    items = list(benchmarks.get("arc_agi").items(benchmarks.Selection()))
    assert len(items) == 400
    await check_with_grader("arc_agi", items)


def test_perturbed_grids_always_differ() -> None:
    rng = random.Random(0)
    for grid in ([[1]], [[1, 2], [2, 1]], [[0, 0], [0, 0]], [[5] * 7] * 3):
        for _ in range(50):
            assert perturb_grid(grid, rng) != grid


def test_every_humaneval_program_passes_or_fails_its_real_tests() -> None:
    """Canonical programs pass; every wrong variant fails (run in one child interpreter)."""
    items = list(benchmarks.get("humaneval").items(benchmarks.Selection()))
    programs = [
        (it.id, variant, humaneval_program(it, variant) + "\n" + it.target["test"]
         + f"\ncheck({it.target['entry_point']})\n")
        for it in items
        for variant in ("correct", *HUMANEVAL_WRONG_VARIANTS)
    ]  # fmt: skip
    runner = (
        "import json, sys\n"
        "results = []\n"
        "for tid, variant, code in json.load(sys.stdin):\n"
        "    try:\n"
        "        exec(compile(code, tid, 'exec'), {'__name__': '__sim__'})\n"
        "        results.append([tid, variant, True])\n"
        "    except BaseException:\n"
        "        results.append([tid, variant, False])\n"
        "print(json.dumps(results))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", runner], input=json.dumps(programs), capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    results = json.loads(out.stdout)
    assert len(results) == 164 * 3
    wrong = [(tid, v, ok) for tid, v, ok in results if ok != (v == "correct")]
    assert wrong == []


async def test_humaneval_answers_through_the_sandboxed_grader() -> None:
    items = list(benchmarks.get("humaneval").items(benchmarks.Selection(limit=3)))
    await check_with_grader("humaneval", items)


def test_short_answer_and_hle_formats() -> None:
    item = Item("q1", "simpleqa", (Message("user", "In which year...?"),), "1969")
    assert ANSWERS["simpleqa"](item, True, random.Random(0)) == "1969"
    wrong = {ANSWERS["simpleqa"](item, False, random.Random(s)) for s in range(20)}
    assert "1969" not in wrong and "I don't know." in wrong
    hle = Item("h1", "hle", (Message("user", "Which?"),), "C")
    text = ANSWERS["hle"](hle, False, random.Random(0))
    lines = text.splitlines()
    assert lines[0].startswith("Explanation: ") and lines[2].endswith("%")
    assert lines[1].startswith("Answer: ") and lines[1] != "Answer: C"


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_answer_table_names_are_registered_benchmarks(name: str) -> None:
    assert name in benchmarks.REGISTRY
