"""Reading a rendered judge prompt back into its parts (template version, question, reference,
response).

The judge graders (graders/judge.py) hand the judge one string. Two consumers need its parts back:
the collector's judge cache, keyed by (judge model, prompt version, question, response), and the
simulated provider, which plays an honest judge offline. Both use `parse_judge_prompt`, which
matches the prompt against each template's literal text (no regular expression: linear time on
any input) and returns None for a prompt that no template produced.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from graders.judge import (
    HLE_JUDGE_PROMPT,
    HLE_JUDGE_PROMPT_VERSION,
    SIMPLEQA_JUDGE_PROMPT,
    SIMPLEQA_JUDGE_PROMPT_VERSION,
)
from graders.rubric import RUBRIC_JUDGE_VERSION, parse_rubric_prompt

# template version -> (template, the name of its reference-answer field)
TEMPLATES: dict[str, tuple[str, str]] = {
    SIMPLEQA_JUDGE_PROMPT_VERSION: (SIMPLEQA_JUDGE_PROMPT, "target"),
    HLE_JUDGE_PROMPT_VERSION: (HLE_JUDGE_PROMPT, "correct_answer"),
}


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    """The parts of one rendered judge prompt."""

    version: str  # the template's version constant, e.g. "simpleqa-1"
    question: str
    reference: str  # the gold answer the response is judged against
    response: str  # the candidate's answer, verbatim


def _split(template: str) -> tuple[list[str], list[str]]:
    """Literal segments and field names in order: lit0 {f0} lit1 {f1} ... litN."""
    literals, fields = [""], []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        literals[-1] += literal  # escaped braces arrive as extra literal-only pieces
        if field is not None:
            fields.append(field)
            literals.append("")
    return literals, fields


def _fill(prompt: str, template: str) -> dict[str, str] | None:
    """The field values that render `template` into `prompt`, or None if it did not."""
    literals, fields = _split(template)
    head, tail = literals[0], literals[-1]
    if not prompt.startswith(head) or not prompt.endswith(tail) or len(prompt) < len(head + tail):
        return None
    body = prompt[len(head) : len(prompt) - len(tail)]
    values: dict[str, str] = {}
    position = 0
    for field, separator in zip(fields[:-1], literals[1:-1], strict=True):
        found = body.find(separator, position)
        if found < 0:
            return None
        values[field] = body[position:found]
        position = found + len(separator)
    values[fields[-1]] = body[position:]
    return values


def parse_judge_prompt(prompt: str) -> JudgePrompt | None:
    """Which judge template rendered `prompt`, and with what; None for any other prompt."""
    for version, (template, reference_field) in TEMPLATES.items():
        values = _fill(prompt, template)
        if values is not None:
            return JudgePrompt(
                version=version,
                question=values["question"],
                reference=values[reference_field],
                response=values["response"],
            )
    rubric = parse_rubric_prompt(prompt)  # HealthBench: question = the conversation before
    if rubric is not None:  # the response, reference = the rubric item (graders/rubric.py)
        conversation, rubric_item, response = rubric
        return JudgePrompt(RUBRIC_JUDGE_VERSION, conversation, rubric_item, response)
    return None
