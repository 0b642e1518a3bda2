"""Choice extraction per benchmark, on the shapes each official extractor handles.

MMLU-Pro: TIGER-AI-Lab/MMLU-Pro evaluate_from_api.py (strip `**`; first "answer is (X)"; first
line with "Answer: X"; last standalone letter). GPQA: openai/simple-evals gpqa_eval.py (first
`(?i)Answer[ \\t]*:[ \\t]*\\$?([A-D])\\$?`). Most cases here were graded differently by the old rule
(the last answer phrase wins, markdown tolerated); the comment `# old: X` says what it read.
"""

from __future__ import annotations

import random
import re

import pytest

from avp_harness.types import Completion, CostSource, Item, Message, Usage
from benchmarks import gpqa, mmlu_pro
from graders.choice import ChoiceRule, Pattern, extract_choice

MMLU = mmlu_pro.EXTRACTION
GPQA = gpqa.EXTRACTION

FAKE_NEXT_QUESTION = """\
Let's think step by step. Kinetic energy grows with the square of speed, so doubling the \
speed gives four times the energy. The answer is (C).

Question: Which gas makes up most of the Earth's atmosphere?
Options: A. oxygen
B. carbon dioxide
C. argon
D. nitrogen
Answer: Let's think step by step. Nitrogen is about 78% of the air. The answer is (D)."""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # first "answer is", not the last  # old: D
        ("So the answer is (B). Checking again... the answer is (D).", "B"),
        # a base model continuing into a fake next question answered differently  # old: D
        (FAKE_NEXT_QUESTION, "C"),
        # "answer is" wins over an "Answer:" line wherever they stand  # old: C
        ("The answer is (B)\nAnswer: C", "B"),
        ("the answer is B", "B"),
        # bold is removed before matching, as the official API path does
        ("The answer is **(E)**.", "E"),
        ("**The answer is (J)**", "J"),
        # no "answer is": the first line holding "Answer: X"  # old: C
        ("Answer: A\nreconsidering\nAnswer: C", "A"),
        # ... and on that line, its last "Answer:" (the official `.*` is greedy)
        ("Answer: A, no wait, final Answer: F\nAnswer: C", "F"),
        ("answer:\n  G", "G"),  # \s* crosses the line end, as there
        # no phrase at all: the last standalone capital A-J
        ("Between (B) and (H), I pick H", "H"),  # old: none
        ("I would go with B.", "B"),
        ("**B**", "B"),
        ("I cannot decide.", "I"),  # the pronoun is option I there too
        # "answer is" is case-sensitive there: "Answer is" falls through to the last letter
        ("The Answer is (B), not D", "D"),  # old: B
    ],
)
def test_mmlu_pro_official_extraction(text: str, expected: str) -> None:
    assert extract_choice(text, MMLU) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "the answer is (c)",  # lower-case letters are never read  # old: C
        "Not sure between the options.",
        "The answer is 42.",
        "Answer: K",
    ],
)
def test_mmlu_pro_no_answer(text: str) -> None:
    assert extract_choice(text, MMLU) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # first "Answer:", not the last  # old: D
        ("Answer: B\nWait, recheck the sign.\nAnswer: D", "B"),
        # a continuation into a fake next question  # old: B
        ("Answer: C\n\nQuestion 2: Which is a noble gas?\nA) N2\nB) Ar\nAnswer: B", "C"),
        ("Answer: C", "C"),
        ("ANSWER:D", "D"),
        ("Answer : $B$", "B"),
        ("answer: c", "c"),  # (?i) captures a lower-case letter; it then differs from "C"
        ("Answer: Carbon dioxide", "C"),  # no word boundary there  # old: none
    ],
)
def test_gpqa_simple_evals_extraction(text: str, expected: str) -> None:
    assert extract_choice(text, GPQA) == expected


@pytest.mark.parametrize(
    "text",
    [
        "**Answer:** C",  # markdown is not stripped for GPQA  # old: C
        "Answer: **C**",  # old: C
        "Answer: (C)",  # old: C
        "The answer is (C).",  # no colon  # old: C
        "\\boxed{C}",  # old: C
        "C",  # a bare letter is no answer line  # old: C
        "Answer: E",
        "I am not sure.",
    ],
)
def test_gpqa_no_answer(text: str) -> None:
    assert extract_choice(text, GPQA) is None


def _item(target: str) -> Item:
    return Item(id="q1", dataset="unit", messages=(Message("user", "Q?"),), target=target)


def _completion(text: str) -> Completion:
    return Completion(text, Usage(), None, CostSource.UNKNOWN, 0.1, "stop")


async def test_grades_right_wrong_and_unparsed_with_the_rule_in_the_version() -> None:
    grader = mmlu_pro.BENCHMARK.grader()
    right = await grader(_item("C"), _completion(FAKE_NEXT_QUESTION))
    wrong = await grader(_item("D"), _completion(FAKE_NEXT_QUESTION))
    unparsed = await grader(_item("C"), _completion("the answer is (c)"))
    assert (right.score, right.extracted, right.parsed) == (1.0, "C", True)
    assert (wrong.score, wrong.extracted, wrong.parsed) == (0.0, "C", True)
    assert (unparsed.score, unparsed.extracted, unparsed.parsed) == (0.0, None, False)
    assert right.grader == "choice" and right.grader_version == "2/tiger-lab-mmlu-pro/1"
    assert "pattern 1" in right.explanation and "unparsed" in unparsed.explanation


def test_gpqa_lower_case_letter_scores_zero_as_in_simple_evals() -> None:
    grade = gpqa.BENCHMARK.grader().grade_text("Reasoning.\nanswer: c", "C")
    assert (grade.score, grade.extracted, grade.parsed) == (0.0, "c", True)
    assert gpqa.BENCHMARK.grader().version == "2/simple-evals-gpqa/1"


def test_a_rule_is_data_first_pattern_that_matches_wins() -> None:
    rule = ChoiceRule(
        "unit", "1", "nothing", (Pattern(r"X=(\d)", "last"), Pattern(r"\d")), remove=("~",)
    )
    assert rule.extract("X=1 X=2 X=~3") == ("3", 1)
    assert rule.extract("7 8") == ("7", 2)
    assert rule.extract("none") is None


# --- the linear-time forms pick what the official regexes pick --------------------------------

OFFICIAL_AGAIN = re.compile(r".*[aA]nswer:\s*([A-J])")
OFFICIAL_FINAL = re.compile(r"\b[A-J]\b(?!.*\b[A-J]\b)", re.DOTALL)
OFFICIAL_FIRST = re.compile(r"answer is \(?([A-J])\)?")


def official_mmlu_pro(text: str) -> str | None:
    text = text.replace("**", "")
    for pattern in (OFFICIAL_FIRST, OFFICIAL_AGAIN):
        match = pattern.search(text)
        if match:
            return match.group(1)
    match = OFFICIAL_FINAL.search(text)
    return match.group(0) if match else None


def test_mmlu_pro_rule_equals_the_official_regexes_on_generated_texts() -> None:
    rng = random.Random(7)
    pieces = ["answer is ", "Answer:", "answer: ", "(", ")", "**", "\n", " ", "  ", "A", "B",
              "J", "K", "x", "word", "I", "the ", "Answer is ", "\t", ".", "é", "_"]
    for _ in range(5_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        assert extract_choice(text, MMLU) == official_mmlu_pro(text), repr(text)


@pytest.mark.parametrize("rule", [MMLU, GPQA], ids=["mmlu_pro", "gpqa"])
@pytest.mark.parametrize(
    "text",
    [
        "Answer:" + " " * 200_000 + "x",
        "answer" + " " * 200_000,
        ("Answer is " + "x" * 50) * 4_000,
        "x" * 200_000,
        ("the answer is " + " *" * 500) * 200,
    ],
)
def test_long_responses_are_scanned_in_linear_time(rule: ChoiceRule, text: str) -> None:
    # The official `.*answer:` and last-letter look-ahead are quadratic here (minutes).
    assert extract_choice(text, rule) is None


def test_many_letters_take_linear_time() -> None:
    text = "A B " * 100_000
    assert extract_choice(text, MMLU) == "B"
