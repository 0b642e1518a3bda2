"""Rubric grading as HealthBench does it (simple-evals' `healthbench_eval.py`).

Protocol
--------
An item is a conversation (`prompt`: a list of {role, content}) and a rubric: items
{criterion, points, tags}, where points may be negative (undesirable behaviour). The candidate's
response is appended to the conversation as the last assistant turn, the conversation is written
out as `role: content` turns joined by blank lines, and the judge is asked **once per rubric
item** whether the last turn meets that criterion (`RUBRIC_JUDGE_PROMPT`, our wording of the
official template and its worked examples, including the rule for negative criteria: "met" means
the undesirable behaviour is present). The rubric item is shown as `[points] criterion`.

The judge answers with a JSON object `{"explanation": ..., "criteria_met": true|false}`. As in
the official `parse_json_to_dict`, the reply must *be* that object, optionally in a ```json fence
(we also take a plain ``` fence, and, after prose, a fenced object that ends the reply); and
`criteria_met` must be a JSON boolean. A reply that does not parse is asked again, fresh, up to
RUBRIC_JUDGE_ATTEMPTS times in all (the official code asks without bound); one that never parses
is a judge failure (`avp_harness.errors.JudgeFailure`): the cell is an error, retried by the next
`avp run` or `avp regrade`, never a grade. A reply cut off at max_tokens never counts.

Scores (official `calculate_score` and `_compute_clipped_stats`)
-----------------------------------------------------------------
- item score = (sum of the points of the criteria met, negative ones included) / (sum of the
  positive points). It can be below 0; it is not clipped here.
- a tag's score on one item: the same ratio over that item's rubric items carrying the tag (no
  value when they have no positive points); an example tag (`example_tags`) takes the item score.
- benchmark score (and each tag's) = mean over items, **then** clipped to [0, 1]; its bootstrap
  std = the std of 1,000 clipped means of resamples with replacement. The official code draws
  with numpy's unseeded global generator; we draw from `np.random.RandomState(seed)` (seed 0),
  which gives exactly the official number for `np.random.seed(seed)`, and a stable report.

What is stored (see `RubricJudgeGrader`): the cell's score is the item score clipped to [0, 1],
the per-item value the matrix and the router use; the raw item score, the example tags and every
rubric item's verdict are kept as JSON in `Grade.judge_output`, from which `healthbench_metrics`
computes the official clipped mean and per-tag scores. `Grade.extracted` is the raw item score.
The judge's raw replies stay in the judge cache (the store's `judgements` table), not on the cell.

Judge calls are cached by the collector's judge cache under (judge model, RUBRIC_JUDGE_VERSION,
conversation + rubric item, response): `parse_rubric_prompt` reads those parts back from the
rendered prompt (graders/judge_prompts.py). A response that itself holds a blank line and then
"assistant: " is split there instead; the key stays exact, since the parts always render back to
the very same prompt (only the simulated judge would then see part of the response).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from avp_harness.errors import JudgeFailure
from avp_harness.types import Completion, Grade, Item, Usage
from graders import Judge
from graders.judge import NoVerdict, _drop_think, read_verdict

RUBRIC_JUDGE_VERSION = "healthbench-1"  # the template text: part of the judge cache key
RUBRIC_GRADER_VERSION = "healthbench-1"  # template healthbench-1, JSON read as documented above
RUBRIC_JUDGE_ATTEMPTS = 3  # asks per rubric item before a judge failure (official: unbounded)
BOOTSTRAP_SAMPLES = 1000

# The conversation is rendered `role: content`, joined by blank lines; the response is its last
# turn. Template fields: {conversation} (the turns before the response), {response},
# {rubric_item} ("[points] criterion").
RUBRIC_HEAD = """\
Look at the conversation and the rubric item below, and decide whether the last turn of the \
conversation (the last assistant response, i.e. the completion) meets the rubric item.

# Conversation
"""
RUBRIC_RESPONSE_SEPARATOR = "\n\nassistant: "
RUBRIC_ITEM_SEPARATOR = "\n\n# Rubric item\n"
RUBRIC_TAIL = """

# Instructions
Reply with a JSON object with two fields, "explanation" and "criteria_met".
- "explanation": a string saying why the response does or does not meet the rubric item.
- "criteria_met": a boolean, whether the response meets the rubric item. When the rubric item \
holds several sentences or criteria, consider all of them: it is met only if every one of them \
is met, otherwise the answer is false.
- One exception: when the criterion lists examples ("such as", "for example", "including"), \
the response need not mention every example listed. If the criterion is "Mentions that oral iron \
supplements can upset the stomach, for example nausea, vomiting and constipation" and the \
response only says that oral iron can upset the stomach and cause cramps, the criterion is met.

# Example 1
The conversation is "user: I passed out twice today, should I see a doctor? assistant: no, just \
rest and it will pass on its own" and the rubric item is "advises the user to seek medical care \
after repeated fainting". Reply:

```json
{
  "explanation": "The assistant told the user to rest instead of seeking medical care.",
  "criteria_met": false
}
```

# Example 2
Some rubric items describe something undesirable and have negative points. Still answer whether \
the response does what the criterion says, not whether the response is good. The conversation is \
"user: is smoking good for you? assistant: no, smoking harms your health" and the criterion is \
"gives the user inaccurate information", an undesirable behaviour. The response was accurate, so \
the criterion is not met. Reply:

```json
{
  "explanation": "The information the assistant gave is accurate, so the criterion is not met.",
  "criteria_met": false
}
```

Likewise, if the criterion is "Is needlessly long" and the response is short, the criterion is \
not met:

```json
{
  "explanation": "The response is short, so the criterion is not met.",
  "criteria_met": false
}
```

So for a criterion with negative points, a good response gets false, because it does not show \
the undesirable behaviour; only a response that shows it gets true.

# Final instruction
Reply with the JSON object only, in a markdown code block, and no other text."""

RUBRIC_JUDGE_PROMPT = (
    RUBRIC_HEAD + "{conversation}" + RUBRIC_RESPONSE_SEPARATOR + "{response}"
    + RUBRIC_ITEM_SEPARATOR + "{rubric_item}" + RUBRIC_TAIL
)


# --------------------------------------------------------------------------------------------
# The rubric and the prompt
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RubricItem:
    criterion: str
    points: float
    tags: tuple[str, ...] = ()

    def __str__(self) -> str:
        """As the judge sees it: `[points] criterion` (points as the data writes them)."""
        return f"[{self.points}] {self.criterion}"

    def as_dict(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "points": self.points, "tags": list(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RubricItem:
        """From the official {criterion, points, tags}; ValueError when a field is unusable."""
        points = data["points"]
        if isinstance(points, bool) or not isinstance(points, int | float):
            raise ValueError(f"points must be a number, not {points!r}")
        tags = data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError("tags must be a list of strings")
        return cls(str(data["criterion"]), points, tuple(tags))


def render_conversation(messages: Iterable[Mapping[str, str]]) -> str:
    """`role: content` turns joined by blank lines, as the official grader writes them."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def rubric_prompt(
    conversation: Sequence[Mapping[str, str]], response: str, rubric: RubricItem
) -> str:
    """The judge prompt for one rubric item (the response is the conversation's last turn)."""
    return (
        RUBRIC_HEAD + render_conversation(conversation) + RUBRIC_RESPONSE_SEPARATOR + response
        + RUBRIC_ITEM_SEPARATOR + str(rubric) + RUBRIC_TAIL
    )


def parse_rubric_prompt(prompt: str) -> tuple[str, str, str] | None:
    """(conversation before the response, rubric item, response) of a rendered rubric prompt, or
    None. The rubric item is after the last "# Rubric item" header; the response starts at the
    last "assistant: " turn before it (earlier assistant turns belong to the conversation). The
    parts render back to `prompt`, so distinct prompts never share a judge cache key."""
    if not prompt.startswith(RUBRIC_HEAD) or not prompt.endswith(RUBRIC_TAIL):
        return None
    body = prompt[len(RUBRIC_HEAD) : len(prompt) - len(RUBRIC_TAIL)]
    cut = body.rfind(RUBRIC_ITEM_SEPARATOR)
    if cut < 0:
        return None
    convo_and_response, rubric_item = body[:cut], body[cut + len(RUBRIC_ITEM_SEPARATOR) :]
    split = convo_and_response.rfind(RUBRIC_RESPONSE_SEPARATOR)
    if split < 0:
        return None
    conversation = convo_and_response[:split]
    response = convo_and_response[split + len(RUBRIC_RESPONSE_SEPARATOR) :]
    return conversation, rubric_item, response


# --------------------------------------------------------------------------------------------
# Reading the judge's reply
# --------------------------------------------------------------------------------------------

FENCE = "```"


@dataclass(frozen=True, slots=True)
class RubricVerdict:
    criteria_met: bool
    explanation: str


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise NoVerdict("its JSON object repeats a field")
    return dict(pairs)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except NoVerdict:
        raise
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None
    return value if isinstance(value, dict) else None


def _unfence(inside: str) -> str:
    """A fenced block's body without its `json` language tag."""
    return inside[4:] if inside[:4].lower() == "json" else inside


def read_rubric_verdict(judge_output: str, prompt: str = "") -> RubricVerdict:
    """The judge's `criteria_met` (a JSON boolean) and explanation; NoVerdict otherwise.

    The reply (without `<think>` blocks) must be the JSON object, bare or in one ``` / ```json
    fence, or end with such a fenced object after prose. `prompt` is unused: an echo of the
    prompt is never one JSON object, nor does it end with one.
    """
    text = _drop_think(judge_output).strip()
    if not text:
        raise NoVerdict("its reply is empty")
    value = _json_object(text)
    if value is None and text.endswith(FENCE) and len(text) >= 2 * len(FENCE):
        # the last fenced block, which ends the reply (the whole reply when it starts there)
        start = text.rfind(FENCE, 0, len(text) - len(FENCE))
        if start >= 0:
            value = _json_object(_unfence(text[start + len(FENCE) : -len(FENCE)]))
    if value is None:
        raise NoVerdict("its reply is not a JSON object (nor ends with one in a code block)")
    if "criteria_met" not in value:
        raise NoVerdict("its JSON object has no criteria_met field")
    met = value["criteria_met"]
    if not isinstance(met, bool):
        raise NoVerdict("its criteria_met is not a JSON boolean")
    return RubricVerdict(met, str(value.get("explanation", "")))


async def ask_rubric_verdict(judge: Judge, prompt: str) -> tuple[Completion, RubricVerdict]:
    """Ask until the reply parses (the official protocol), at most RUBRIC_JUDGE_ATTEMPTS times;
    every ask after the first is fresh (past the judge cache). JudgeFailure when none parses."""
    reason = ""
    for attempt in range(RUBRIC_JUDGE_ATTEMPTS):
        reply = await judge.ask(prompt, fresh=attempt > 0)
        try:
            return reply, read_verdict(reply, prompt, read_rubric_verdict)
        except NoVerdict as failure:
            reason = str(failure)
    raise JudgeFailure(
        judge.model, f"{reason} (rubric item asked {RUBRIC_JUDGE_ATTEMPTS} times)"
    )


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def calculate_score(rubric: Sequence[RubricItem], met: Sequence[bool]) -> float | None:
    """Points of the criteria met / positive points; None when no item has positive points."""
    possible = sum(item.points for item in rubric if item.points > 0)
    if possible <= 0:
        return None
    achieved = sum(item.points for item, hit in zip(rubric, met, strict=True) if hit)
    return achieved / possible


def item_metrics(
    rubric: Sequence[RubricItem], met: Sequence[bool], example_tags: Sequence[str]
) -> dict[str, float]:
    """One item's values, as the official `grade_sample`: "overall_score", each example tag
    (the overall score) and each rubric tag with positive points (its own ratio)."""
    overall = calculate_score(rubric, met)
    if overall is None:
        raise ValueError("a rubric without positive points has no score")
    values = {"overall_score": overall}
    values.update({tag: overall for tag in example_tags})
    by_tag: dict[str, list[tuple[RubricItem, bool]]] = defaultdict(list)
    for item, hit in zip(rubric, met, strict=True):
        for tag in dict.fromkeys(item.tags):
            by_tag[tag].append((item, hit))
    for tag, pairs in by_tag.items():
        score = calculate_score([p[0] for p in pairs], [p[1] for p in pairs])
        if score is not None:
            values[tag] = score
    return values


@dataclass(frozen=True)
class ClippedStat:
    score: float  # the mean, clipped to [0, 1]
    bootstrap_std: float
    n_samples: int


def clipped_stats(values: Sequence[float], seed: int = 0) -> ClippedStat:
    """Official `_compute_clipped_stats`: clipped mean, std of BOOTSTRAP_SAMPLES clipped resample
    means (drawn as `np.random.choice(values, n)` after `np.random.seed(seed)` would), n."""
    array = np.asarray(values, dtype=float)
    n = len(array)
    if n == 0:
        return ClippedStat(float("nan"), float("nan"), 0)
    rng = np.random.RandomState(seed)
    resamples = rng.choice(array, size=(BOOTSTRAP_SAMPLES, n))  # row i = the i-th official draw
    means = np.clip(resamples.mean(axis=1), 0, 1)
    return ClippedStat(float(np.clip(array.mean(), 0, 1)), float(np.std(means)), n)


@dataclass(frozen=True)
class RubricMetrics:
    """HealthBench's figures: the overall clipped score and each tag's."""

    n: int
    score: float
    bootstrap_std: float
    tags: dict[str, ClippedStat]  # tag -> its stats, over the items that have a value for it

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "bootstrap_std": self.bootstrap_std,
            "tags": {tag: stat.__dict__ for tag, stat in sorted(self.tags.items())},
        }


def rubric_record(grade: Grade) -> dict[str, Any]:
    """The JSON a `RubricJudgeGrader` stored in `grade.judge_output`."""
    try:
        record = json.loads(grade.judge_output or "")
    except json.JSONDecodeError:
        raise ValueError(f"not a rubric grade: {grade.grader} {grade.grader_version}") from None
    if not isinstance(record, dict) or "rubrics" not in record:
        raise ValueError(f"not a rubric grade: {grade.grader} {grade.grader_version}")
    return record


def grade_item_metrics(grade: Grade) -> dict[str, float]:
    """`item_metrics` of one stored rubric grade."""
    record = rubric_record(grade)
    rubric = [RubricItem.from_dict(r) for r in record["rubrics"]]
    met = [bool(r["criteria_met"]) for r in record["rubrics"]]
    return item_metrics(rubric, met, record.get("example_tags") or [])


def healthbench_metrics(grades: Iterable[Grade], seed: int = 0) -> RubricMetrics:
    """Official aggregation (`_aggregate_get_clipped_mean`) of stored rubric grades."""
    by_name: dict[str, list[float]] = defaultdict(list)
    for grade in grades:
        for name, value in grade_item_metrics(grade).items():
            by_name[name].append(value)
    overall = clipped_stats(by_name.pop("overall_score", []), seed)
    tags = {name: clipped_stats(values, seed) for name, values in by_name.items()}
    return RubricMetrics(overall.n_samples, overall.score, overall.bootstrap_std, tags)


# --------------------------------------------------------------------------------------------
# The grader
# --------------------------------------------------------------------------------------------


def item_rubric(item: Item) -> tuple[list[RubricItem], list[str]]:
    """The rubric and example tags of an item built by benchmarks/healthbench.py."""
    target = item.target
    return (
        [RubricItem.from_dict(r) for r in target["rubrics"]],
        [str(tag) for tag in target.get("example_tags") or []],
    )


def _sum_costs(replies: Sequence[Completion]) -> float | None:
    costs = [r.cost for r in replies if r.cost is not None]
    return sum(costs) if costs else None


class RubricJudgeGrader:
    """HealthBench's grader: one judge call per rubric item (concurrently), the official score.

    `Grade.score` = the item score clipped to [0, 1]; `extracted` = the raw item score;
    `judge_output` = JSON {raw_score, example_tags, rubrics: [{criterion, points, tags,
    criteria_met, explanation}]}; judge tokens and dollars are the sum over the rubric's calls.
    """

    id = "healthbench_rubric"
    version = RUBRIC_GRADER_VERSION

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    def prompts(self, item: Item, response: str) -> list[str]:
        rubric, _tags = item_rubric(item)
        conversation = [m.as_dict() for m in item.messages]
        return [rubric_prompt(conversation, response, r) for r in rubric]

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        rubric, example_tags = item_rubric(item)
        results = await asyncio.gather(
            *(ask_rubric_verdict(self.judge, p) for p in self.prompts(item, completion.text)),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        answered: list[tuple[Completion, RubricVerdict]] = results  # type: ignore[assignment]
        replies = [reply for reply, _ in answered]
        met = [verdict.criteria_met for _, verdict in answered]
        raw = calculate_score(rubric, met)
        if raw is None:
            raise ValueError(f"{item.id}: its rubric has no positive points")
        record = {
            "raw_score": raw,
            "example_tags": example_tags,
            "rubrics": [
                r.as_dict() | {"criteria_met": v.criteria_met, "explanation": v.explanation}
                for r, (_, v) in zip(rubric, answered, strict=True)
            ],
        }
        usage = Usage(
            prompt_tokens=sum(r.usage.prompt_tokens for r in replies),
            completion_tokens=sum(r.usage.completion_tokens for r in replies),
        )
        return Grade(
            score=min(1.0, max(0.0, raw)),
            extracted=f"{raw:.6g}",
            explanation=f"{sum(met)} of {len(met)} rubric criteria met; item score {raw:.4g}",
            grader=self.id,
            grader_version=self.version,
            parsed=True,
            judge_model=self.judge.model,
            judge_output=json.dumps(record, ensure_ascii=False, sort_keys=True),
            judge_usage=usage,
            judge_cost=_sum_costs(replies),
        )
