"""LLM-as-judge graders: SimpleQA (three grades) and Humanity's Last Exam (extract + yes/no).

Both call a `graders.Judge` (a pinned model at temperature 0, called through the provider layer)
with a template written in our words that follows the official protocol:

- SimpleQA (simple-evals' `simpleqa_eval.py`): the judge sees question, gold target and predicted
  answer and answers with one letter: A = CORRECT, B = INCORRECT, C = NOT_ATTEMPTED.
  `simpleqa_metrics()` gives accuracy, accuracy given attempted and their F-score.
- HLE (`hle_eval/run_judge_results.py`): the judge reports `extracted_final_answer`, `reasoning`,
  `correct: yes|no` and the `confidence` the response stated (100 when none); the official judge
  gets these as a structured output. `hle_metrics()` gives accuracy with its 95% Wald half-width
  and the official RMS calibration error (`calibration_error`, bins of beta = 100 answers).

How a verdict is read (where we deliberately differ from the official code)
--------------------------------------------------------------------------
simple-evals takes `re.search(r"(A|B|C)", response)`: the first capital A, B or C anywhere in the
reply, and "C" when there is none. A weak judge that repeats its prompt ("A) CORRECT: ...") or
writes "A predicted answer of London is wrong: B" is then read as CORRECT. Here a verdict is read
only where the protocol puts it, from the judge's own words:

1. the prompt's own text is removed from the reply first: `<think>` blocks, every verbatim copy of
   the whole prompt, and every line equal to a line of the prompt (template lines, the question,
   the gold answer and the candidate's response, compared without surrounding markdown);
2. SimpleQA: what remains must hold exactly one grade line (`A`, `B`, `C`, optionally with its
   name, `**A**`, `Grade: B`, or the name alone: `NOT_ATTEMPTED`), and it must be the reply's last
   line; a letter and a name that disagree (`A) INCORRECT`) are no verdict;
3. HLE: what remains must hold exactly one `correct:` field whose whole value is yes or no (as
   lines, or as the JSON object of the official structured output); of the other fields the last
   one counts.

Anything else -- an empty reply, only the prompt's text, no grade, several grades, or a reply cut
off at max_tokens (finish_reason "length") -- is a **judge failure**: the grader raises
`avp_harness.errors.JudgeFailure` (a ProviderError), so the cell is recorded as an error
("judge failure: ...") and is retried by the next `avp run` or `avp regrade`; it is never graded
as a wrong (or right) answer. A side effect: if the candidate's response itself holds a line that
is a bare verdict, a judge reply of exactly that line cannot be told from an echo and is a judge
failure too.

Caching judge calls is the store's job; it keys them with `judge_cache_key` on the *prompt*
version (the template text), so a change in how replies are read needs no new judge call: cached
replies are read again. A cached reply that holds no verdict is asked once more, fresh
(`Judge.ask(prompt, fresh=True)`). Each grader's `version` (stored with every grade) names both
the template and the reading rule, so grades read by an older rule are told apart.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from avp_harness.errors import JudgeFailure
from avp_harness.types import Completion, Grade, Item, canonical_json, sha256_hex
from graders import Judge

CACHED = "cached"  # Completion.finish_reason of a judge reply served from the judge cache
JUDGE_MAX_TOKENS = 4096  # the judge's max_tokens when [judge] sets none (official HLE: 4096)
MAX_VERDICT_LINE = 200  # longer lines are prose, never a grade line (keeps matching linear)

T = TypeVar("T")


class NoVerdict(ValueError):
    """A judge reply that does not hold exactly one verdict; the message says why."""


def judge_cache_key(judge_model: str, prompt_version: str, question: str, response: str) -> str:
    """sha256 identifying one judge verdict: same judge, template, question and response."""
    return sha256_hex(canonical_json([judge_model, prompt_version, question, response]))


def _judge_grade(
    grader: str,
    version: str,
    judge: Judge,
    reply: Completion,
    *,
    score: float,
    extracted: str | None,
    explanation: str,
    parsed: bool,
) -> Grade:
    return Grade(
        score=score,
        extracted=extracted,
        explanation=explanation,
        grader=grader,
        grader_version=version,
        parsed=parsed,
        judge_model=judge.model,
        judge_output=reply.text,
        judge_usage=reply.usage,
        judge_cost=reply.cost,
    )


# --------------------------------------------------------------------------------------------
# Reading a reply: the prompt's own text out, then exactly one verdict
# --------------------------------------------------------------------------------------------


def _bare(line: str) -> str:
    """A line without surrounding markdown and with single spaces, for comparing with the prompt."""
    return " ".join(line.strip().strip(">*_`#-").split())


def _drop_think(text: str) -> str:
    """The reply without `<think>...</think>` blocks (an unclosed one runs to the end)."""
    closing = text.rfind("</think>")
    if closing >= 0 and text.find("<think>") < 0:  # the server dropped the opening tag
        text = text[closing + len("</think>") :]
    kept, position = [], 0
    while (start := text.find("<think>", position)) >= 0:
        kept.append(text[position:start])
        end = text.find("</think>", start)
        position = len(text) if end < 0 else end + len("</think>")
    kept.append(text[position:])
    return "".join(kept)


def strip_echo(reply: str, prompt: str) -> list[str]:
    """The non-empty lines of `reply` that are the judge's own: without `<think>` blocks, without
    verbatim copies of `prompt`, and without any line equal to a line of `prompt`."""
    text = _drop_think(reply)
    if prompt.strip():
        text = text.replace(prompt.strip(), "\n")
    prompt_lines = {bare for line in prompt.splitlines() if (bare := _bare(line))}
    return [line for line in text.splitlines() if _bare(line) and _bare(line) not in prompt_lines]


def read_verdict(
    reply: Completion, prompt: str, read: Callable[[str, str], T]
) -> T:
    """`read(reply text, prompt)`, unless the reply was cut off at max_tokens; NoVerdict if not."""
    if reply.finish_reason == "length":
        raise NoVerdict(
            f"its reply was cut off at max_tokens ({reply.usage.completion_tokens} tokens): "
            "raise [judge] max_tokens"
        )
    return read(reply.text, prompt)


async def ask_for_verdict(
    judge: Judge, prompt: str, read: Callable[[str, str], T]
) -> tuple[Completion, T]:
    """Ask the judge and read its verdict. A cached reply without one is asked once more, fresh;
    a fresh reply without one raises JudgeFailure (an error on the cell, never a grade)."""
    reply = await judge.ask(prompt)
    try:
        return reply, read_verdict(reply, prompt, read)
    except NoVerdict as failure:
        if reply.finish_reason != CACHED:
            raise JudgeFailure(judge.model, str(failure)) from None
    reply = await judge.ask(prompt, fresh=True)
    try:
        return reply, read_verdict(reply, prompt, read)
    except NoVerdict as failure:
        raise JudgeFailure(judge.model, str(failure)) from None


def _no_lines(reply: str) -> NoVerdict:
    if not reply.strip():
        return NoVerdict("its reply is empty")
    return NoVerdict("its reply holds nothing of its own (only the prompt's text, or thinking)")


# --------------------------------------------------------------------------------------------
# SimpleQA
# --------------------------------------------------------------------------------------------

SIMPLEQA_JUDGE_PROMPT_VERSION = "simpleqa-1"  # the template text: part of the judge cache key
SIMPLEQA_GRADER_VERSION = "simpleqa-2"  # template simpleqa-1, verdicts read strictly (see above)
SIMPLEQA_GRADES = {"A": "CORRECT", "B": "INCORRECT", "C": "NOT_ATTEMPTED"}

SIMPLEQA_JUDGE_PROMPT = """\
You are grading one answer to a factual question. You get the question, the gold target (the \
reference answer) and the predicted answer. Classify the predicted answer as exactly one of:

A) CORRECT: it contains the gold target's meaning and contradicts nothing in it. Differences in \
wording, capitalisation, punctuation, word order or the amount of extra detail do not matter, \
as long as no extra claim contradicts the gold target. Hedging is fine if the gold target is \
stated as the answer. A number counts when it matches the gold target to its last significant \
figure (for a gold target of 120k, "about 120,000" or "118k" counts, "100k" does not). Parts of \
the answer the question already implies (such as a city when the state is given) may be left out.
B) INCORRECT: it states an answer that contradicts the gold target, even if hedged ("I think it \
is X" with X wrong), or it offers several candidate answers of which any is wrong.
C) NOT_ATTEMPTED: it does not give the answer and contradicts nothing, for example "I don't \
know", a refusal, or a reply that asks for more context or names related facts without the \
answer itself.

Judge only the predicted answer against the gold target; do not correct the gold target and do \
not penalise the predicted answer for facts that the gold target does not cover.

Question: {question}
Gold target: {target}
Predicted answer: {response}

Reply with a single letter, A, B or C, and nothing else."""

_GRADE_NAME = r"(?i:NOT[_ ]ATTEMPTED|INCORRECT|CORRECT)"
# Possessive quantifiers (*+) never give back what they took: matching stays linear in the line.
_SIMPLEQA_LINE = re.compile(
    r"^[\s*_`\"'(\[]*+"  # markdown and quotes around the grade
    r"(?:(?i:(?:the\s++)?(?:final\s++)?(?:grade|answer|verdict|classification))"
    r"(?:\s++is)?+[\s*_`\"'(\[:=\-]*+)?"  # an optional label: "Grade: B", "**Answer:** A"
    rf"(?:(?P<letter>[ABC])(?![A-Za-z0-9])(?:[\s*_`\"')\].:\-]*+(?P<named>{_GRADE_NAME}))?"
    rf"|(?P<name>{_GRADE_NAME}))"
    r"[\s*_`\"')\].!]*+$"
)


def _simpleqa_line(line: str) -> str | None:
    """The grade a line states when the whole line is a grade line ("" when it contradicts
    itself), else None."""
    if len(line) > MAX_VERDICT_LINE:
        return None
    match = _SIMPLEQA_LINE.match(line)
    if match is None:
        return None
    name = (match["named"] or match["name"] or "").upper().replace(" ", "_")
    letter = match["letter"]
    if letter and name and SIMPLEQA_GRADES[letter] != name:
        return ""
    return SIMPLEQA_GRADES[letter] if letter else name


def read_simpleqa_grade(judge_output: str, prompt: str = "") -> str:
    """CORRECT / INCORRECT / NOT_ATTEMPTED: the reply's one grade line, its last line once the
    prompt's own text is removed; NoVerdict (with the reason) otherwise."""
    lines = strip_echo(judge_output, prompt)
    if not lines:
        raise _no_lines(judge_output)
    grades = [(number, grade) for number, line in enumerate(lines)
              if (grade := _simpleqa_line(line)) is not None]
    if not grades:
        raise NoVerdict("its reply holds no grade letter (A, B or C) of its own")
    if len(grades) > 1:
        raise NoVerdict(f"its reply holds {len(grades)} grade lines, not one")
    number, grade = grades[0]
    if not grade:
        raise NoVerdict("its grade line names one letter and another grade")
    if number != len(lines) - 1:
        raise NoVerdict("its grade is not the last line of its reply")
    return grade


def parse_simpleqa_grade(judge_output: str, prompt: str = "") -> str | None:
    """`read_simpleqa_grade`, or None when the reply holds no single verdict."""
    try:
        return read_simpleqa_grade(judge_output, prompt)
    except NoVerdict:
        return None


class SimpleQAJudgeGrader:
    """Asks the judge for CORRECT / INCORRECT / NOT_ATTEMPTED; score 1 only for CORRECT.

    `Grade.extracted` holds the grade; `parsed` is False for NOT_ATTEMPTED (the model gave no
    answer), so unanswered questions are counted apart from wrong ones. A reply without exactly
    one verdict raises JudgeFailure.
    """

    id = "simpleqa_judge"
    version = SIMPLEQA_GRADER_VERSION

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    def prompt(self, item: Item, response: str) -> str:
        return SIMPLEQA_JUDGE_PROMPT.format(
            question=item.prompt_text, target=item.target, response=response
        )

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        reply, grade = await ask_for_verdict(
            self.judge, self.prompt(item, completion.text), read_simpleqa_grade
        )
        return _judge_grade(
            self.id,
            self.version,
            self.judge,
            reply,
            score=1.0 if grade == "CORRECT" else 0.0,
            extracted=grade,
            explanation=f"judge: {grade}",
            parsed=grade != "NOT_ATTEMPTED",
        )


@dataclass(frozen=True)
class SimpleQAMetrics:
    """SimpleQA's headline figures (fractions in 0..1), as simple-evals reports them."""

    n: int
    correct: int
    incorrect: int
    not_attempted: int
    accuracy: float  # correct / n
    accuracy_given_attempted: float  # correct / (correct + incorrect)
    f_score: float  # harmonic mean of the two above


def simpleqa_metrics(grades: Iterable[Grade | str]) -> SimpleQAMetrics:
    """Metrics from SimpleQA grades (Grade objects from SimpleQAJudgeGrader, or grade labels)."""
    labels = [g.extracted if isinstance(g, Grade) else g for g in grades]
    n = len(labels)
    correct = labels.count("CORRECT")
    incorrect = labels.count("INCORRECT")
    accuracy = correct / n if n else 0.0
    attempted = correct + incorrect
    given_attempted = correct / attempted if attempted else 0.0
    denominator = accuracy + given_attempted
    f_score = 2 * accuracy * given_attempted / denominator if denominator else 0.0
    return SimpleQAMetrics(
        n=n,
        correct=correct,
        incorrect=incorrect,
        not_attempted=n - attempted,
        accuracy=accuracy,
        accuracy_given_attempted=given_attempted,
        f_score=f_score,
    )


# --------------------------------------------------------------------------------------------
# Humanity's Last Exam
# --------------------------------------------------------------------------------------------

HLE_JUDGE_PROMPT_VERSION = "hle-1"  # the template text: part of the judge cache key
HLE_GRADER_VERSION = "hle-2"  # template hle-1, verdicts read strictly (see the module docstring)

HLE_JUDGE_PROMPT = """\
Decide whether the [response] to the [question] below is correct, judged only against the \
precise and unambiguous [correct_answer].

[question]: {question}

[response]: {response}

[correct_answer]: {correct_answer}

Reply with exactly these four lines:

extracted_final_answer: the exact final answer given in the [response], or None if the response \
gives no exact final answer.
reasoning: why the extracted_final_answer does or does not match [correct_answer], considering \
only meaningful differences between the two. Do not discuss the background of the problem, do \
not solve it yourself and do not argue for an answer other than [correct_answer].
correct: yes if extracted_final_answer matches [correct_answer], or is within a small margin of \
error for a numerical problem; no otherwise (any inconsistency, ambiguity, non-equivalence, or a \
wrong answer).
confidence: the confidence score between 0% and 100% stated in the [response], as a number; \
100 if the response states none."""

HLE_FIELDS = ("extracted_final_answer", "reasoning", "correct", "confidence")
# A field line: its label at the start of a line, maybe in markdown (`**correct:** yes`). Runs
# are bounded to one line, so a reply full of blank lines or asterisks is read in linear time.
_HLE_FIELD = re.compile(
    r"^[ \t*_#>-]*(extracted_final_answer|reasoning|correct|confidence)[ \t*_]*:[ \t*_]*(.*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HLEVerdict:
    """The HLE judge's structured reply (the official judge's four fields)."""

    extracted_final_answer: str | None
    reasoning: str
    correct: bool
    confidence: float  # 0..100, as stated by the response (100 when none)


def _yes_no(value: object) -> bool:
    text = str(value).strip().strip("*_`\"'.").strip().lower()
    if text not in ("yes", "no"):
        raise NoVerdict("its correct: field is not just yes or no")
    return text == "yes"


def _hle_from_fields(fields: dict[str, str]) -> HLEVerdict:
    answer = fields.get("extracted_final_answer", "").strip(" \t*_`")
    return HLEVerdict(
        extracted_final_answer=None if answer in ("", "None") else answer,
        reasoning=fields.get("reasoning", "").strip(),
        correct=_yes_no(fields["correct"]),
        confidence=_confidence(fields.get("confidence", "100")),
    )


def read_hle_verdict(judge_output: str, prompt: str = "") -> HLEVerdict:
    """The judge's one verdict (four field lines, or the official JSON object) once the prompt's
    own text is removed; NoVerdict (with the reason) otherwise."""
    lines = strip_echo(judge_output, prompt)
    if not lines:
        raise _no_lines(judge_output)
    fields: dict[str, str] = {}
    current: str | None = None
    outside: list[str] = []
    for line in lines:
        match = _HLE_FIELD.match(line)
        if match is None:
            if current == "reasoning":
                fields["reasoning"] += "\n" + line
            else:
                outside.append(line)
            continue
        name = current = match.group(1).lower()
        if name == "correct" and name in fields:
            raise NoVerdict("its reply holds more than one correct: field")
        fields[name] = match.group(2)  # other fields: the last one (a repeated response's
        # "Confidence: 85%" comes before the judge's own line)
    as_json = _json_fields("\n".join(outside))
    if as_json is not None and "correct" in as_json:
        if fields:
            raise NoVerdict("its reply holds a verdict as JSON and as field lines")
        return _hle_from_fields({k: str(v) for k, v in as_json.items() if k in HLE_FIELDS})
    if "correct" not in fields:
        raise NoVerdict("its reply holds no correct: yes|no field of its own")
    return _hle_from_fields(fields)


def parse_hle_verdict(judge_output: str, prompt: str = "") -> HLEVerdict | None:
    """`read_hle_verdict`, or None when the reply holds no single verdict."""
    try:
        return read_hle_verdict(judge_output, prompt)
    except NoVerdict:
        return None


def _json_fields(text: str) -> dict[str, object] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _confidence(text: str) -> float:
    match = re.search(r"\d+(?:\.\d+)?", text)
    return min(100.0, max(0.0, float(match.group(0)))) if match else 100.0


class HLEJudgeGrader:
    """Asks the judge to extract the final answer and decide yes/no against the reference; a
    reply without exactly one `correct:` verdict raises JudgeFailure."""

    id = "hle_judge"
    version = HLE_GRADER_VERSION

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    def prompt(self, item: Item, response: str) -> str:
        return HLE_JUDGE_PROMPT.format(
            question=item.prompt_text, response=response, correct_answer=item.target
        )

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        reply, verdict = await ask_for_verdict(
            self.judge, self.prompt(item, completion.text), read_hle_verdict
        )
        return _judge_grade(
            self.id,
            self.version,
            self.judge,
            reply,
            score=1.0 if verdict.correct else 0.0,
            extracted=verdict.extracted_final_answer,
            explanation=f"correct: {'yes' if verdict.correct else 'no'}; {verdict.reasoning}",
            parsed=verdict.extracted_final_answer is not None,
        )


def calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], p: str = "2", beta: int = 100
) -> float:
    """HLE's calibration error, exactly as the official `calib_err` computes it.

    `confidence` in 0..1. Answers are sorted by confidence and cut into bins of `beta`; the last
    bin absorbs the remainder. As in the official code (from hendrycks/outlier-exposure), the loop
    stops before that last bin, so fewer than 2 * beta answers give 0.0; fewer than beta answers
    have no bin at all (the official code fails there), which we report as NaN. p = "2" is the
    RMS error (sqrt of the bin-size-weighted mean squared gap between mean confidence and
    accuracy), "1" the weighted mean gap, "infty" the largest gap.
    """
    conf = np.asarray(confidence, dtype=float)
    hits = np.asarray(correct, dtype=float)
    order = np.argsort(conf, kind="stable")
    conf, hits = conf[order], hits[order]
    total = len(conf)
    bins = [[i * beta, (i + 1) * beta] for i in range(total // beta)]
    if not bins:
        return math.nan
    bins[-1] = [bins[-1][0], total]
    error = 0.0
    for start, stop in bins[:-1]:
        gap = abs(float(np.nanmean(conf[start:stop])) - float(np.nanmean(hits[start:stop])))
        size = stop - start
        if p == "2":
            error += size / total * gap**2
        elif p == "1":
            error += size / total * gap
        elif p in ("infty", "infinity", "max"):
            error = max(error, gap)
        else:
            raise ValueError(f"p must be '1', '2' or 'infty', not {p!r}")
    return math.sqrt(error) if p == "2" else error


@dataclass(frozen=True)
class HLEMetrics:
    """HLE's headline figures, in percent like the official `dump_metrics`."""

    n: int
    judged: int  # grades whose judge reply was readable (these enter the calibration error)
    accuracy: float
    half_width: float  # 95% Wald interval half-width of the accuracy
    calibration_error: float  # RMS, beta = 100; NaN under 100 judged answers


def hle_metrics(grades: Iterable[Grade]) -> HLEMetrics:
    """Accuracy and calibration error of HLE grades (verdicts re-read from `judge_output`)."""
    grades = list(grades)
    n = len(grades)
    # the template's own lines are left out (a judge may have repeated them before its verdict)
    verdicts = [parse_hle_verdict(g.judge_output or "", HLE_JUDGE_PROMPT) for g in grades]
    read = [v for v in verdicts if v is not None]
    accuracy = 100 * sum(g.score >= 1.0 for g in grades) / n if n else 0.0
    half_width = 1.96 * math.sqrt(accuracy * (100 - accuracy) / n) if n else 0.0
    calib = calibration_error([v.confidence / 100 for v in read], [v.correct for v in read])
    return HLEMetrics(
        n=n,
        judged=len(read),
        accuracy=accuracy,
        half_width=half_width,
        calibration_error=100 * calib,
    )
