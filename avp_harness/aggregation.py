"""JiSi's aggregation prompt. The paper publishes none: this plain one is ours.

    text = aggregation_prompt(question, responses)     # the one user message of the call
    aggregation_parts(text)                             # (question, responses), or None

The aggregator model receives the question exactly as the benchmark rendered it (the item's last
user message) and the responses of the models in JiSi's adaptive set A^f, best first (by g^f),
each under its own heading. It is asked to answer the question itself, in the format the question
asks for, so the benchmark's own grader grades its answer like any other. When three responses
together exceed MAX_RESPONSE_TOKENS (13,000, SEED-METHODS.md; counted as characters / 4, the
simulator's and `approx_tokens`' rule) only the first two are kept (`kept_responses`).

A few-shot benchmark's earlier turns are not repeated: the responses already answer in the
benchmark's format. The prompt's version is part of every aggregator cell's fingerprint.

Aggregator cells are stored like every cell, under the benchmark `<benchmark>@jisi`
(AGGREGATE_SUFFIX) and the item id `<item id>~<candidate set>` (`Aggregation.cell_item_id`: a
hash of the prompt version, the models whose responses are read and those responses), so the
same aggregator on the same item with another candidate set is another cell, and the routing
tables (`score_table` without a benchmark filter) leave them out.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

AGGREGATION_PROMPT_VERSION = "jisi-aggregate-v1"
AGGREGATE_SUFFIX = "@jisi"
MAX_RESPONSE_TOKENS = 13_000

INSTRUCTION = (
    "You are given a question and {n} responses to it written by other AI models. Some of them "
    "may be wrong. Read them critically, then answer the question yourself: write your own "
    "complete final answer, in exactly the format the question asks for."
)
QUESTION_HEADING = "=== QUESTION ==="
RESPONSE_HEADING = "=== RESPONSE {k} ==="
CLOSING = "=== END OF RESPONSES ===\nNow write your final answer to the question."

_HEAD = re.compile(re.escape(INSTRUCTION).replace(r"\{n\}", r"(\d+)"))


def approx_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def kept_responses(responses: Sequence[str]) -> list[str]:
    """The responses the aggregator sees: all of them, or the first two when there are three
    or more and together they exceed MAX_RESPONSE_TOKENS."""
    if len(responses) >= 3 and sum(approx_tokens(r) for r in responses) > MAX_RESPONSE_TOKENS:
        return list(responses[:2])
    return list(responses)


def aggregation_prompt(question: str, responses: Sequence[str]) -> str:
    """The aggregator's prompt for `question` and the (already kept) `responses`, best first."""
    parts = [INSTRUCTION.format(n=len(responses)), "", QUESTION_HEADING, question, ""]
    for k, response in enumerate(responses, 1):
        parts += [RESPONSE_HEADING.format(k=k), response.strip(), ""]
    parts.append(CLOSING)
    return "\n".join(parts)


def aggregation_parts(text: str) -> tuple[str, list[str]] | None:
    """(question, responses) of a prompt `aggregation_prompt` wrote; None for any other text."""
    head = _HEAD.match(text)
    if head is None or not text.endswith(CLOSING):
        return None
    n = int(head.group(1))
    body = text[head.end() : len(text) - len(CLOSING)]
    marks = [f"\n\n{QUESTION_HEADING}\n"] + [f"\n{RESPONSE_HEADING.format(k=k)}\n"
                                               for k in range(1, n + 1)]
    pieces, rest = [], body
    for mark in marks:
        at = rest.find(mark)
        if at < 0:
            return None
        pieces.append(rest[:at])
        rest = rest[at + len(mark) :]
    pieces.append(rest)
    if pieces[0] != "":
        return None
    question = pieces[1][:-1]  # verbatim: the simulator finds the item by its exact text
    return question, [p.rstrip("\n") for p in pieces[2:]]


@dataclass(frozen=True)
class Aggregation:
    """One aggregator call JiSi's adaptive switch asks for: the aggregator model on an item,
    reading `responses` of `models` (A^f, best first by g^f, already cut by `kept_responses`)."""

    benchmark: str
    item_id: str
    aggregator: str
    models: tuple[str, ...]
    responses: tuple[str, ...]

    @property
    def cell_benchmark(self) -> str:
        return self.benchmark + AGGREGATE_SUFFIX

    @property
    def cell_item_id(self) -> str:
        digests = [hashlib.sha256(r.encode()).hexdigest() for r in self.responses]
        payload = json.dumps([AGGREGATION_PROMPT_VERSION, list(self.models), digests])
        return f"{self.item_id}~{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def is_aggregate_benchmark(name: str) -> bool:
    return name.endswith(AGGREGATE_SUFFIX)
