"""SimpleQA: short, single-answer factual questions graded by an LLM judge.

Paper: Wei et al., "Measuring short-form factuality in large language models" (2024),
https://arxiv.org/abs/2411.04368. 4,326 questions.

Source format: the official `simple_qa_test_set.csv` with columns `metadata` (a Python-dict-like
string with `topic`, `answer_type`, `urls`; read with `ast.literal_eval`, which evaluates
literals only, never code), `problem`, `answer`. Rows have no id: an item's id is its 0-based row
index in the official file (`simpleqa-<index>`). SimpleQA is not available offline here: point
`Selection.source` at the CSV (default: `../shared/data/benchmarks/simpleqa/`).

Protocol (simple-evals' `simpleqa_eval.py`): the question is sent as it is, with no instructions
(PROMPT_TEMPLATE is just the question); an LLM judge grades the answer CORRECT / INCORRECT /
NOT_ATTEMPTED (graders/judge.py); report accuracy, accuracy given attempted and their F-score
(`graders.judge.simpleqa_metrics`). One deliberate difference: simple-evals reads the verdict with
`re.search(r"(A|B|C)", response)` (the first capital A, B or C anywhere, "C" when none), which a
judge repeating its prompt fools; here only the reply's own last line, once the prompt's text is
removed, may hold the grade letter, and a reply without exactly one grade (or one cut off at
max_tokens) is a judge failure, an error on the cell, never NOT_ATTEMPTED
(`graders.judge.read_simpleqa_grade`).

The Avengers-Pro paper evaluates 500 questions sampled uniformly: PAPER_SELECTION samples 500
with seed 0, which picks the same rows as simple-evals' `random.Random(0).sample(examples, 500)`
(kept in official order here).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from avp_harness.errors import ConfigError, DataError
from avp_harness.types import Grade, Item, Message
from benchmarks import BenchmarkBase, Selection, select
from benchmarks._text_common import read_csv, resolve_source
from graders.judge import SimpleQAJudgeGrader, simpleqa_metrics

if TYPE_CHECKING:
    from graders import Judge

NAME = "simpleqa"
VERSION = "1"
DEFAULT_SOURCE = "../shared/data/benchmarks/simpleqa/simple_qa_test_set.csv"
PAPER_SELECTION = Selection(sample=500, seed=0)

PROMPT_TEMPLATE = "{question}"  # simple-evals sends the bare question


def parse_metadata(text: str, where: str) -> dict[str, Any]:
    """The `metadata` column: a dict literal (topic, answer_type, urls), parsed safely."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise DataError(f"{NAME}: {where}: metadata is not a dict literal") from None
    if not isinstance(value, dict):
        raise DataError(f"{NAME}: {where}: metadata is not a dict literal")
    return value


def build_item(index: int, row: dict[str, str], where: str) -> Item:
    """One Item from one official CSV row at 0-based `index`."""
    meta = parse_metadata(row["metadata"], where)
    return Item(
        id=f"simpleqa-{index}",
        dataset=NAME,
        messages=(Message("user", PROMPT_TEMPLATE.format(question=row["problem"].strip())),),
        target=row["answer"].strip(),
        metadata={
            "topic": str(meta.get("topic", "")),
            "answer_type": str(meta.get("answer_type", "")),
            "urls": [str(u) for u in meta.get("urls", []) or []],
        },
    )


class SimpleQA(BenchmarkBase):
    """The SimpleQA benchmark (satisfies benchmarks.Benchmark); its grader needs a judge."""

    name = NAME
    version = VERSION
    description = (
        "SimpleQA: 4,326 short factual questions, LLM-judged correct/incorrect/not attempted"
    )
    default_source = DEFAULT_SOURCE
    needs_judge = True
    metric_labels = MappingProxyType({"f_score": "F-score"})

    def rows(self, source: Path | None = None) -> list[tuple[int, dict[str, str]]]:
        """(row index, row) pairs in official order."""
        path = resolve_source(NAME, DEFAULT_SOURCE, source, ["simple_qa_test_set.csv"])
        return list(enumerate(read_csv(path, NAME, ("metadata", "problem", "answer"))))

    def items(self, selection: Selection) -> Iterator[Item]:
        for index, row in select(self.rows(selection.source), selection):
            yield build_item(index, row, f"row {index + 2}")

    def grader(self, judge: Judge | None = None) -> SimpleQAJudgeGrader:
        if judge is None:
            raise ConfigError(
                "avp.toml", "judge", "simpleqa is graded by an LLM judge: configure one"
            )
        return SimpleQAJudgeGrader(judge)

    def metrics(self, grades: Sequence[Grade]) -> dict[str, Any]:
        """Correct / incorrect / not attempted, accuracy, accuracy given attempted, F-score."""
        return dict(simpleqa_metrics(grades).__dict__)


BENCHMARK = SimpleQA()
