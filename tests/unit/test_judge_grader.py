"""Judge graders against a scripted Judge (our own protocol seam), metrics and cache keys."""

from __future__ import annotations

import math

import pytest

from avp_harness.errors import JudgeFailure, ProviderError
from avp_harness.types import Completion, CostSource, Grade, Item, Message, Usage
from graders.judge import (
    HLE_GRADER_VERSION,
    SIMPLEQA_GRADER_VERSION,
    HLEJudgeGrader,
    SimpleQAJudgeGrader,
    calibration_error,
    hle_metrics,
    judge_cache_key,
    parse_hle_verdict,
    parse_simpleqa_grade,
    simpleqa_metrics,
)


def _completion(text: str, cost: float | None = None) -> Completion:
    return Completion(
        text, Usage(prompt_tokens=50, completion_tokens=3), cost, CostSource.REPORTED, 0.2, "stop"
    )


class ScriptedJudge:
    """Returns canned replies in order and records the prompts it was asked."""

    model = "judge-model-pinned"

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    async def ask(self, prompt: str, *, fresh: bool = False) -> Completion:
        self.prompts.append(prompt)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return _completion(reply, cost=0.0004)


QA = Item(
    id="simpleqa-0",
    dataset="simpleqa",
    messages=(Message("user", "Who drew the map?"),),
    target="Ada Fenwick",
)


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ("A", "CORRECT"),
        ("B", "INCORRECT"),
        ("C", "NOT_ATTEMPTED"),
        (" B\n", "INCORRECT"),
        ("C) NOT_ATTEMPTED", "NOT_ATTEMPTED"),
        ("The grade: INCORRECT", "INCORRECT"),
        ("not attempted", "NOT_ATTEMPTED"),
        ("CORRECT", "CORRECT"),
        ("**B**", "INCORRECT"),
        ("???", None),
        ("A) INCORRECT", None),  # letter and name disagree
        ("The answer is B, not A.", None),
    ],
)
def test_parse_simpleqa_grade(reply: str, grade: str | None) -> None:
    assert parse_simpleqa_grade(reply) == grade


async def test_simpleqa_grade_carries_judge_fields() -> None:
    judge = ScriptedJudge("A")
    grade = await SimpleQAJudgeGrader(judge)(QA, _completion("It was Ada Fenwick."))
    assert (grade.score, grade.extracted, grade.parsed) == (1.0, "CORRECT", True)
    assert grade.judge_model == "judge-model-pinned" and grade.judge_output == "A"
    assert grade.judge_cost == 0.0004 and grade.judge_usage == Usage(50, 3)
    assert grade.grader_version == SIMPLEQA_GRADER_VERSION
    prompt = judge.prompts[0]
    assert "Who drew the map?" in prompt and "Ada Fenwick" in prompt
    assert "It was Ada Fenwick." in prompt


async def test_simpleqa_not_attempted_and_unreadable() -> None:
    grader = SimpleQAJudgeGrader(ScriptedJudge("C", "no idea what to say"))
    abstained = await grader(QA, _completion("I don't know."))
    assert (abstained.score, abstained.extracted, abstained.parsed) == (0.0, "NOT_ATTEMPTED", False)
    # unlike simple-evals (which counts it NOT_ATTEMPTED), a reply without a grade is no grade
    with pytest.raises(JudgeFailure, match="judge failure: judge-model-pinned: .*no grade"):
        await grader(QA, _completion("Maybe Bob."))


async def test_judge_failure_propagates() -> None:
    grader = SimpleQAJudgeGrader(ScriptedJudge(ProviderError("judge: HTTP 503")))
    with pytest.raises(ProviderError):
        await grader(QA, _completion("Ada Fenwick"))
    hle = HLEJudgeGrader(ScriptedJudge(ProviderError("judge: HTTP 429")))
    with pytest.raises(ProviderError):
        await hle(QA, _completion("Ada Fenwick"))


def test_simpleqa_metrics() -> None:
    labels = ["CORRECT"] * 6 + ["INCORRECT"] * 2 + ["NOT_ATTEMPTED"] * 2
    metrics = simpleqa_metrics(labels)
    assert (metrics.n, metrics.correct, metrics.incorrect, metrics.not_attempted) == (10, 6, 2, 2)
    assert metrics.accuracy == pytest.approx(0.6)
    assert metrics.accuracy_given_attempted == pytest.approx(0.75)
    assert metrics.f_score == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert simpleqa_metrics([]).f_score == 0.0


HLE_ITEM = Item(
    id="fx0001",
    dataset="hle",
    messages=(Message("system", "format"), Message("user", "Smallest prime above 32?")),
    target="37",
)
VERDICT = """extracted_final_answer: 37
reasoning: The response's final answer 37 equals the correct answer.
correct: yes
confidence: 85"""


def test_parse_hle_verdict_plain_markdown_and_json() -> None:
    plain = parse_hle_verdict(VERDICT)
    assert plain is not None
    assert (plain.extracted_final_answer, plain.correct, plain.confidence) == ("37", True, 85.0)
    assert plain.reasoning.startswith("The response's final answer")
    markdown = parse_hle_verdict(
        "**extracted_final_answer:** None\n**reasoning:** no final answer is given.\n"
        "**correct:** no\n**confidence:** 40%"
    )
    assert markdown is not None
    assert (markdown.extracted_final_answer, markdown.correct, markdown.confidence) == (
        None,
        False,
        40.0,
    )
    as_json = parse_hle_verdict(
        'Here: {"extracted_final_answer": "38", "reasoning": "differs", "correct": "no", '
        '"confidence": 100}'
    )
    assert as_json is not None and (as_json.extracted_final_answer, as_json.correct) == (
        "38",
        False,
    )
    no_confidence = parse_hle_verdict("extracted_final_answer: 37\nreasoning: same\ncorrect: yes")
    assert no_confidence is not None and no_confidence.confidence == 100.0
    # "correct" inside the reasoning is not the verdict field
    assert parse_hle_verdict("reasoning: the answer is correct: yes it matches") is None


async def test_hle_grader() -> None:
    judge = ScriptedJudge(VERDICT, "I refuse to judge.")
    grader = HLEJudgeGrader(judge)
    grade = await grader(
        HLE_ITEM, _completion("Explanation: ...\nExact Answer: 37\nConfidence: 85%")
    )
    assert (grade.score, grade.extracted, grade.parsed) == (1.0, "37", True)
    assert grade.grader_version == HLE_GRADER_VERSION and grade.judge_output == VERDICT
    assert (
        "Smallest prime above 32?" in judge.prompts[0]
        and "[correct_answer]: 37" in judge.prompts[0]
    )
    with pytest.raises(JudgeFailure, match=r"no correct: yes\|no field"):
        await grader(HLE_ITEM, _completion("Exact Answer: 37"))


def test_calibration_error_follows_official_binning() -> None:
    # 250 answers -> bins [0,100) and [100,250); the official loop skips the last bin.
    confidence = [0.2] * 100 + [0.9] * 150
    correct = [True] * 100 + [False] * 150
    assert calibration_error(confidence, correct) == pytest.approx(math.sqrt(100 / 250 * 0.8**2))
    assert calibration_error(confidence, correct, p="1") == pytest.approx(100 / 250 * 0.8)
    assert calibration_error(confidence, correct, p="infty") == pytest.approx(0.8)
    # sorting by confidence happens first: shuffled input gives the same figure
    assert calibration_error(confidence[::-1], correct[::-1]) == pytest.approx(
        math.sqrt(100 / 250 * 0.8**2)
    )
    assert calibration_error([0.5] * 150, [True] * 150) == 0.0  # one bin: nothing summed
    assert math.isnan(calibration_error([0.5] * 99, [True] * 99))  # no bin at all
    with pytest.raises(ValueError):
        calibration_error(confidence, correct, p="3")


def test_hle_metrics_from_grades() -> None:
    def grade(correct: bool, confidence: int) -> Grade:
        output = (
            f"extracted_final_answer: x\nreasoning: r\ncorrect: {'yes' if correct else 'no'}\n"
            f"confidence: {confidence}"
        )
        return Grade(1.0 if correct else 0.0, "x", "", "hle_judge", "hle-1", judge_output=output)

    grades = [grade(True, 20)] * 100 + [grade(False, 90)] * 150
    metrics = hle_metrics(grades)
    assert (metrics.n, metrics.judged) == (250, 250)
    assert metrics.accuracy == pytest.approx(40.0)
    assert metrics.half_width == pytest.approx(1.96 * math.sqrt(40 * 60 / 250))
    assert metrics.calibration_error == pytest.approx(100 * math.sqrt(100 / 250 * 0.8**2))


def test_judge_cache_key() -> None:
    key = judge_cache_key("judge", "simpleqa-1", "Q?", "R")
    assert len(key) == 64 and key == judge_cache_key("judge", "simpleqa-1", "Q?", "R")
    others = {
        judge_cache_key("other", "simpleqa-1", "Q?", "R"),
        judge_cache_key("judge", "simpleqa-2", "Q?", "R"),
        judge_cache_key("judge", "simpleqa-1", "Q!", "R"),
        judge_cache_key("judge", "simpleqa-1", "Q?", "S"),
        judge_cache_key("judge", "simpleqa-1Q?", "", "R"),  # no ambiguity from concatenation
    }
    assert key not in others and len(others) == 5


def test_verdict_parsing_survives_pathological_replies() -> None:
    # quadratic patterns would take minutes here (and trip pytest's timeout)
    assert parse_hle_verdict("\n" * 100_000 + "correct: maybe") is None
    padded = "extracted_final_answer: 7" + " " * 100_000 + "\ncorrect: yes"
    verdict = parse_hle_verdict(padded)
    assert verdict is not None and verdict.extracted_final_answer == "7"
    assert parse_simpleqa_grade("*" * 100_000) is None
