"""How a simulated model answers: one small function per benchmark answer format.

`ANSWERS[benchmark](item, correct, rng) -> text` writes an answer in the format the benchmark's
grader expects, right when `correct` is true, plausibly wrong otherwise (and then really wrong: the
graders run code and compare grids, so a "wrong" answer must fail for real). Adding a benchmark to
the simulator is one function and one line in `ANSWERS`.

Conventions relied on (see benchmarks/arc_agi.py and benchmarks/humaneval.py):
- arc_agi: `target` is the list of expected output grids, one per test input; the answer is JSON:
  the grid itself for one test input, a list of grids for several.
- humaneval: `target = {"entry_point", "test"}`, `metadata["prompt"]` and
  `metadata["canonical_solution"]`; the answer is a ```python block with the complete function.
- letter choice (GPQA, MMLU-Pro): `target` is the letter; the answer ends with `Answer: X`.
- boxed maths (AIME, MATH-500): `target` is the answer string; the answer ends in `\\boxed{...}`.
- short answer (SimpleQA): `target` is the answer string.
- HLE: `Explanation: / Answer: / Confidence: NN%`.
- HealthBench: `target = {"rubrics", "example_tags"}`; the reply quotes the rubric criteria it
  addresses, and the simulated rubric judge finds a criterion met when the response holds most of
  its key terms (`judge_rubric`), so the judged score follows the model's skill.

`answer_judge(prompt, model_id)` plays the LLM judge of graders/judge.py: given one of its rendered
templates it answers in the judge's format, deciding honestly by comparing the response's answer
with the reference (normalised string match), so judge-graded benchmarks run end to end offline.
A model id with a judge-style suffix (`sim_models.JUDGE_STYLES`) plays a judge that real servers
show: `sim/mid-pro@echo` repeats the judge prompt and gives no verdict of its own (a weak model
fooling a first-letter parser); `sim/mid-pro@ramble` writes about 1,900 tokens of reasoning before
its honest verdict, so it is cut off (finish_reason "length") under a small judge max_tokens.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

from avp_harness.sim.models import judge_style
from avp_harness.types import Item
from graders.judge import HLE_JUDGE_PROMPT_VERSION, SIMPLEQA_JUDGE_PROMPT_VERSION
from graders.judge_prompts import parse_judge_prompt
from graders.rubric import RUBRIC_JUDGE_VERSION

AnswerFn = Callable[[Item, bool, random.Random], str]

# Sentences a model may write before its answer (no digits or brackets: graders parse the rest).
PREAMBLES = (
    "Let me work through this carefully.",
    "I looked at the problem and the examples step by step.",
    "Here is my reasoning in brief, followed by the answer.",
    "This one needs a little care, so I checked it twice.",
)


def preamble(rng: random.Random, sentences: int) -> str:
    """`sentences` plausible filler sentences, deterministic under `rng`."""
    return " ".join(rng.choice(PREAMBLES) for _ in range(sentences))


# --- ARC-AGI: JSON grids -----------------------------------------------------------------------

Grid = list[list[int]]


def perturb_grid(grid: Grid, rng: random.Random) -> Grid:
    """A plausible near miss: one or a few cells changed, a row dropped, or the grid transposed."""
    grid = [list(row) for row in grid]
    kind = rng.choice(("cells", "cells", "drop_row", "transpose"))
    if kind == "drop_row" and len(grid) > 1:
        changed = grid[:-1]
    elif kind == "transpose" and grid and grid[0]:
        changed = [list(col) for col in zip(*grid, strict=True)]
    else:
        changed = [list(row) for row in grid]
        for _ in range(rng.randint(1, 3)):
            if not changed or not changed[0]:
                break
            r, c = rng.randrange(len(changed)), rng.randrange(len(changed[0]))
            changed[r][c] = (changed[r][c] + rng.randint(1, 9)) % 10
    if changed == grid:  # transposing a symmetric grid, or an empty one: change a cell for sure
        changed = [list(row) for row in grid] or [[0]]
        if changed[0]:
            changed[0][0] = (changed[0][0] + 1) % 10
        else:
            changed[0].append(0)
    return changed


def answer_arc(item: Item, correct: bool, rng: random.Random) -> str:
    grids: list[Grid] = [list(map(list, g)) for g in item.target]
    if not correct:
        which = rng.randrange(len(grids)) if grids else 0
        grids = [perturb_grid(g, rng) if i == which else g for i, g in enumerate(grids)] or [[[0]]]
    payload: Any = grids[0] if len(grids) == 1 else grids
    if rng.random() < 0.5:
        return f"The transformation gives this output grid:\n```json\n{json.dumps(payload)}\n```"
    return f"The output is {json.dumps(payload)}"


# --- HumanEval: a complete Python function -----------------------------------------------------

_RETURN_ANNOTATION = re.compile(r"\)\s*->\s*([^:]+):\s*$", re.MULTILINE)
_WRONG_CONSTANTS = {"int": "-1", "float": "-1.0", "str": "'?'", "bool": "None", "list": "[None]"}

_ADJUST_HELPER = '''
def _sim_adjust(value):
    """Post-processing step (deliberately off by one)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "?"
    if isinstance(value, (list, tuple)):
        return value[:-1] if value else type(value)([None])
    if isinstance(value, dict):
        return {}  if value else {None: None}
    return -1 if value is None else None
'''


def _wrong_constant(prompt: str) -> str:
    match = _RETURN_ANNOTATION.search(prompt)
    annotation = match.group(1).strip().lower() if match else ""
    for name, constant in _WRONG_CONSTANTS.items():
        if annotation.startswith(name):
            return constant
    return "None"


def humaneval_program(item: Item, variant: str) -> str:
    """The code a simulated model writes: "correct", "constant" or "adjust" (both wrong)."""
    prompt = str(item.metadata["prompt"])
    body = str(item.metadata["canonical_solution"])
    entry = str(item.target["entry_point"])
    if variant == "correct":
        return prompt + body
    if variant == "constant":
        return (
            prompt
            + "    # the general case reduces to a constant\n"
            + f"    return {_wrong_constant(prompt)}\n"
        )
    # "adjust": the right algorithm, then a wrong final step applied to every result
    return (
        prompt
        + body
        + _ADJUST_HELPER
        + f"\n\n_sim_{entry} = {entry}\n\n\n"
        + f"def {entry}(*args, **kwargs):\n    return _sim_adjust(_sim_{entry}(*args, **kwargs))\n"
    )


HUMANEVAL_WRONG_VARIANTS = ("constant", "adjust")


def answer_humaneval(item: Item, correct: bool, rng: random.Random) -> str:
    variant = "correct" if correct else rng.choice(HUMANEVAL_WRONG_VARIANTS)
    code = humaneval_program(item, variant)
    return f"Here is the complete implementation:\n\n```python\n{code.rstrip()}\n```\n"


# --- Letter choice (GPQA, MMLU-Pro) ------------------------------------------------------------

_CHOICE_LINE = re.compile(r"^\s*\(?([A-J])[).:]\s", re.MULTILINE)


def answer_letter(item: Item, correct: bool, rng: random.Random) -> str:
    target = str(item.target).strip().upper()
    offered = str(item.metadata.get("letters", "")) or "".join(
        _CHOICE_LINE.findall(item.prompt_text)
    )
    letters = sorted(set(offered) | {target})
    if len(letters) < 2:
        letters = ["A", "B", "C", "D"]
    letter = target if correct else rng.choice([x for x in letters if x != target] or ["A"])
    return f"Weighing each option against the question, one stands out.\n\nAnswer: {letter}"


# --- Boxed maths (AIME, MATH-500) --------------------------------------------------------------


def wrong_math_answer(target: str, rng: random.Random) -> str:
    """A different answer: an integer off by a little, else the expression plus one."""
    text = target.strip()
    if re.fullmatch(r"-?\d+", text):
        return str(int(text) + rng.choice((-2, -1, 1, 2, 10)))
    return f"{text}+1"


def answer_boxed(item: Item, correct: bool, rng: random.Random) -> str:
    target = str(item.target)
    value = target if correct else wrong_math_answer(target, rng)
    return (
        f"Simplifying step by step gives the result.\n\nThe final answer is $\\boxed{{{value}}}$."
    )


# --- Short answer (SimpleQA) and HLE -----------------------------------------------------------


def wrong_short_answer(target: str, rng: random.Random) -> str:
    """A confident wrong answer (a digit changed, or a different name)."""
    digits = [i for i, ch in enumerate(target) if ch.isdigit()]
    if digits:
        i = rng.choice(digits)
        return target[:i] + str((int(target[i]) + rng.randint(1, 8)) % 10) + target[i + 1 :]
    return rng.choice(("Jean Dupont", "Maria Rossi", "Springfield", "the Royal Society"))


def answer_short(item: Item, correct: bool, rng: random.Random) -> str:
    target = str(item.target)
    if correct:
        return target
    if rng.random() < 0.3:
        return "I don't know."
    return wrong_short_answer(target, rng)


def answer_hle(item: Item, correct: bool, rng: random.Random) -> str:
    target = str(item.target).strip()
    if correct:
        answer, confidence = target, rng.randint(60, 95)
    else:
        is_letter = re.fullmatch(r"[A-Z]", target) is not None
        answer = (
            rng.choice([c for c in "ABCDE" if c != target])
            if is_letter
            else (wrong_short_answer(target, rng))
        )
        confidence = rng.randint(30, 90)
    return (
        "Explanation: I compared the alternatives against the known results.\n"
        f"Answer: {answer}\nConfidence: {confidence}%"
    )


# --- HealthBench: a reply that addresses some rubric criteria ------------------------------------

# How often a reply addresses a criterion: (positive points, negative points), by `correct`.
HEALTH_ADDRESS_RATES = {True: (0.85, 0.1), False: (0.35, 0.5)}


def answer_health(item: Item, correct: bool, rng: random.Random) -> str:
    """A reply to the conversation's last turn: one sentence per rubric criterion it addresses
    (the criterion's own words). A skilled (`correct`) reply addresses most positive criteria and
    few negative ones, an unskilled one the reverse, so the judged score tracks the skill."""
    positive, negative = HEALTH_ADDRESS_RATES[correct]
    said = [
        f"On this point: {str(rubric['criterion']).rstrip('.')}."
        for rubric in item.target.get("rubrics", [])
        if rng.random() < (positive if rubric["points"] > 0 else negative)
    ]
    return "\n".join(said or ["Please talk to a health professional about this."])


def answer_unrecognised(rng: random.Random) -> str:
    """What a simulated model says to a prompt it does not know (graded wrong)."""
    return rng.choice(
        (
            "I'm not certain, but I think the answer is 42.",
            "Based on the information given, the most likely answer is the second option.",
            "It depends on the context; in most cases the answer would be no.",
        )
    )


# --- The judge (graders/judge.py's templates) ------------------------------------------------

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ANSWER_LINE = re.compile(r"^[ \t*]*(?:exact[ \t]+)?answer[ \t*]*:[ \t*]*(.*)$", re.I | re.M)
_CONFIDENCE = re.compile(r"confidence[ \t*]*:[ \t*]*(\d{1,3}(?:\.\d+)?)", re.I)
_NOT_ATTEMPTED = ("i don t know", "i do not know", "not sure", "cannot answer", "can t answer")


def normalise_answer(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces: "March 3, 1999" -> "march 3 1999"."""
    return " ".join(_NON_ALNUM.sub(" ", text.lower()).split())


def judge_simpleqa(question: str, reference: str, response: str) -> str:
    """A (CORRECT) when the response contains the reference as whole words, C (NOT_ATTEMPTED)
    when it declines, B (INCORRECT) otherwise."""
    said, gold = normalise_answer(response), normalise_answer(reference)
    if gold and f" {gold} " in f" {said} ":
        return "A"
    if not said or any(phrase in said for phrase in _NOT_ATTEMPTED):
        return "C"
    return "B"


def judge_hle(question: str, reference: str, response: str) -> str:
    """The four lines of the HLE judge: the last `Answer:` line against the reference."""
    answers = _ANSWER_LINE.findall(response)
    extracted = answers[-1].strip() if answers else ""
    correct = bool(extracted) and normalise_answer(extracted) == normalise_answer(reference)
    confidence = _CONFIDENCE.search(response)
    return (
        f"extracted_final_answer: {extracted or 'None'}\n"
        f"reasoning: the response's final answer {'matches' if correct else 'does not match'} "
        "the correct answer.\n"
        f"correct: {'yes' if correct else 'no'}\n"
        f"confidence: {confidence.group(1) if confidence else '100'}"
    )


_RUBRIC_POINTS = re.compile(r"^\[-?[0-9.]+\]\s*")
_STOPWORDS = frozenset({
    "that", "this", "with", "from", "when", "then", "than", "they", "them", "their", "there",
    "what", "which", "about", "into", "such", "also", "only", "does", "have", "been", "were",
    "will", "would", "should", "could", "very", "more", "most", "some",
})  # fmt: skip
RUBRIC_TERMS_MET = 0.6  # share of a criterion's key terms a response must contain


def key_terms(text: str) -> set[str]:
    """A criterion's key terms: its normalised words of 4+ letters, without common words."""
    return {w for w in normalise_answer(text).split() if len(w) >= 4 and w not in _STOPWORDS}


def judge_rubric(conversation: str, rubric_item: str, response: str) -> str:
    """The rubric judge's JSON: `criteria_met` when the response contains at least
    RUBRIC_TERMS_MET of the criterion's key terms (the simulated replies quote the criteria they
    address), in a ```json fence as the template asks."""
    terms = key_terms(_RUBRIC_POINTS.sub("", rubric_item))
    said = set(normalise_answer(response).split())
    met = bool(terms) and len(terms & said) >= RUBRIC_TERMS_MET * len(terms)
    verdict = {
        "explanation": "The response "
        + ("addresses" if met else "does not address")
        + " what the rubric item describes.",
        "criteria_met": met,
    }
    return "```json\n" + json.dumps(verdict, indent=2) + "\n```"


JUDGES: dict[str, Callable[[str, str, str], str]] = {
    SIMPLEQA_JUDGE_PROMPT_VERSION: judge_simpleqa,
    HLE_JUDGE_PROMPT_VERSION: judge_hle,
    RUBRIC_JUDGE_VERSION: judge_rubric,
}


RAMBLE_LINES = 80  # x ~95 characters: about 1,900 simulated tokens before the verdict


def ramble() -> str:
    """Reasoning a verbose judge writes before its verdict (no grade letters, no field labels)."""
    return "\n".join(
        f"Step {n}: comparing the predicted response with the reference, word by word, for any "
        "difference that matters."
        for n in range(1, RAMBLE_LINES + 1)
    )


def answer_judge(prompt_text: str, model_id: str | None = None) -> str | None:
    """The simulated judge's reply to a judge prompt, in the judge style of `model_id`
    (`sim_models.judge_style`); None when `prompt_text` is not a judge prompt."""
    parsed = parse_judge_prompt(prompt_text)
    judge = JUDGES.get(parsed.version) if parsed is not None else None
    if parsed is None or judge is None:
        return None
    style = judge_style(model_id or "")
    if style == "echo":
        return prompt_text
    verdict = judge(parsed.question, parsed.reference, parsed.response)
    return f"{ramble()}\n\n{verdict}" if style == "ramble" else verdict


# --- The JiSi aggregator (avp_harness/aggregation.py's prompt) ----------------------------------

_LAST_LETTER = re.compile(r"Answer:\s*\(?([A-J])\)?", re.I)
_BOXED = re.compile(r"\\boxed\{(.*)\}")


def response_right(benchmark: str, item: Item, text: str) -> bool | None:
    """Whether a candidate response (as the simulated models write them) answers `item` right,
    read the way the simulated aggregator reads it: the final letter, the boxed value, the
    answer line, the grids or the code. None when it cannot tell (the aggregator then relies on
    its own skill)."""
    fn = ANSWERS.get(benchmark)
    if fn is answer_letter:
        letters = _LAST_LETTER.findall(text)
        return bool(letters) and letters[-1].upper() == str(item.target).strip().upper()
    if fn is answer_boxed:
        boxed = _BOXED.findall(text)
        return bool(boxed) and boxed[-1].strip() == str(item.target).strip()
    if fn is answer_short:
        return judge_simpleqa("", str(item.target), text) == "A"
    if fn is answer_hle:
        return judge_hle("", str(item.target), text).split("correct: ")[-1].startswith("yes")
    if fn is answer_humaneval:
        body = str(item.metadata.get("canonical_solution", ""))
        return body.strip() in text and "_sim_adjust" not in text and "reduces to a" not in text
    if fn is answer_arc:
        grids = [list(map(list, g)) for g in item.target]
        payload = json.dumps(grids[0] if len(grids) == 1 else grids)
        return payload in text
    return None


# How the aggregator fares, by the share f of right responses it reads and its own skill s:
# P(right) = f·(0.9 + 0.1·s) + (1 − f)·0.5·s. It mostly follows right responses (more surely the
# more skilled), and without any it solves the item itself half as often as alone (misled).
AGGREGATE_FOLLOW, AGGREGATE_ALONE = 0.9, 0.5


def aggregate_p(shares: list[bool | None], skill: float) -> float:
    """The probability that the aggregator's answer is right (see above)."""
    known = [r for r in shares if r is not None]
    if not known:
        return skill
    f = sum(known) / len(known)
    follow = AGGREGATE_FOLLOW + (1 - AGGREGATE_FOLLOW) * skill
    return f * follow + (1 - f) * AGGREGATE_ALONE * skill


ANSWERS: dict[str, AnswerFn] = {
    "arc_agi": answer_arc,
    "arc_agi_2": answer_arc,
    "humaneval": answer_humaneval,
    "gpqa_diamond": answer_letter,
    "mmlu_pro": answer_letter,
    "aime": answer_boxed,
    "aime_2024": answer_boxed,
    "aime_2025": answer_boxed,
    "math500": answer_boxed,
    "simpleqa": answer_short,
    "hle": answer_hle,
    "healthbench": answer_health,
    "healthbench_hard": answer_health,
    "healthbench_consensus": answer_health,
}
