"""The math grader: last \\boxed{} answer, equivalence by math-verify, in any thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from avp_harness.types import Completion, CostSource, Item, Message, Usage
from graders.math import MathGrader, last_boxed, math_equal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{12}", "12"),
        ("first \\boxed{3} then finally \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("nested \\boxed{\\sqrt{\\frac{a}{b}}} ok", "\\sqrt{\\frac{a}{b}}"),
        ("the answer is $\\boxed 5$.", "5"),
        ("\\fbox{42}", "42"),
        # as hendrycks/math last_boxed_only_string: \\fbox only when there is no \\boxed
        ("\\boxed{3}, checked: \\fbox{4}", "3"),
        ("no box here: 42", None),
        ("\\boxed{}", None),
        ("good \\boxed{7} then a truncated \\boxed{12", None),  # only the last box counts
    ],
)
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("\\frac{1}{2}", "0.5"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)"),
        ("\\frac{14}{3}", "4\\frac{2}{3}"),
        ("p - q", "-q + p"),
        ("204", "204.0"),
        ("33", "033"),
        ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}"),
        ("\\text{(C)}", "C"),
    ],
)
def test_equivalent_forms(gold: str, answer: str) -> None:
    assert math_equal(gold, answer)


@pytest.mark.parametrize(
    ("gold", "answer"),
    [("\\frac{1}{2}", "0.6"), ("204", "205"), ("\\frac{14}{3}", "4.66"), ("p - q", "q - p")],
)
def test_different_values_are_not_equivalent(gold: str, answer: str) -> None:
    assert not math_equal(gold, answer)


def _item(target: str) -> Item:
    return Item(id="m1", dataset="unit", messages=(Message("user", "Solve."),), target=target)


def _completion(text: str) -> Completion:
    return Completion(text, Usage(), None, CostSource.UNKNOWN, 0.1, "stop")


async def test_grader_inside_event_loop() -> None:
    grader = MathGrader()
    right = await grader(_item("\\frac{1}{2}"), _completion("Hence \\boxed{0.5}."))
    wrong = await grader(_item("\\frac{1}{2}"), _completion("Hence \\boxed{2}."))
    unparsed = await grader(_item("\\frac{1}{2}"), _completion("It is one half."))
    assert (right.score, right.extracted, right.parsed) == (1.0, "0.5", True)
    assert (wrong.score, wrong.parsed) == (0.0, True)
    assert (unparsed.score, unparsed.extracted, unparsed.parsed) == (0.0, None, False)


async def test_grader_in_worker_thread_via_to_thread() -> None:
    # math-verify's signal-based timeouts only work on the main thread; off it we must not crash
    grade = await asyncio.to_thread(MathGrader().grade_text, "\\boxed{\\frac{2}{4}}", "0.5")
    assert grade.score == 1.0


def test_grader_in_plain_thread() -> None:
    results: list[float] = []
    worker = threading.Thread(
        target=lambda: results.append(MathGrader().grade_text("\\boxed{3/4}", "0.75").score)
    )
    worker.start()
    worker.join()
    assert results == [1.0]


async def test_async_grading_runs_in_the_worker_pool_with_the_same_verdicts() -> None:
    import graders.math as math_module
    from avp_harness.types import Completion, CostSource, Item, Message, Usage

    grader = math_module.MathGrader()
    cases = [("\\frac{1}{2}", "so \\boxed{0.5}"), ("(3,\\pi/2)", "\\boxed{(3, \\frac{\\pi}{2})}"),
             ("7", "\\boxed{8}"), ("7", "no box at all")]
    for gold, text in cases:
        item = Item("q", "math500", (Message("user", "?"),), gold)
        completion = Completion(text, Usage(), None, CostSource.UNKNOWN, 0.0, "stop")
        assert await grader(item, completion) == grader.grade_text(text, gold)
    assert math_module._POOL is not None  # boxed answers were compared off the event loop
