"""MMLU-Pro: a harder, ten-choice successor of MMLU across 14 disciplines.

Paper: Wang et al., "MMLU-Pro: A More Robust and Challenging Multi-Task Language Understanding
Benchmark" (NeurIPS 2024), https://arxiv.org/abs/2406.01574. Test set: 12,032 questions.

Source format: the official `test.jsonl` (one object per line: `question_id`, `question`,
`options` (up to 10), `answer` (letter), `answer_index`, `category`, `src`); or, when `datasets`
is importable, `Selection(source=Path("hf:TIGER-Lab/MMLU-Pro"))`.

Protocol: zero-shot chain of thought, options lettered A-J in the official order (no shuffle),
with the official answer instruction: finish with "The answer is (X)".

Extraction follows TIGER-AI-Lab/MMLU-Pro, `evaluate_from_api.py` (the API path, which is ours):
the response has every `**` removed (`response.replace('**', '')`), then `extract_answer` takes
the FIRST "answer is (X)" (`answer is \\(?([A-J])\\)?`, case-sensitive, `re.search`), else
`extract_again` the first line holding "Answer: X" (`.*[aA]nswer:\\s*([A-J])`, `re.search`),
else `extract_final` the last standalone capital A-J anywhere (`\\b[A-J]\\b` not followed by
another, DOTALL). So a base model that answers and then writes and answers a fake next question
is graded on its first answer. The letter is compared to the gold letter as is.

Deliberate differences from that code:
- no answer found: recorded as unparsed and scored 0; the official code (`update_result`) scores
  it as a uniformly random option instead (its reported accuracy includes that luck);
- zero-shot: the official runs prepend 5 chain-of-thought examples of the same category from the
  validation split; we send the question alone (the extraction is unchanged);
- `extract_again` and `extract_final` are written in linear-time forms that pick the same letter
  (tests/unit/test_choice_grader.py checks them against the official regexes), because the
  official ones backtrack quadratically on long answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avp_harness.errors import DataError
from avp_harness.types import Item, Message
from benchmarks import BenchmarkBase, Selection, select
from benchmarks._text_common import (
    LETTERS,
    hf_dataset_name,
    iter_hf_rows,
    read_jsonl,
    render_choices,
    resolve_source,
)
from graders.choice import ChoiceGrader, ChoiceRule, Pattern

if TYPE_CHECKING:
    from graders import Judge

NAME = "mmlu_pro"
VERSION = "2"  # 2: the official answer instruction "The answer is (X)"
DEFAULT_SOURCE = "../shared/data/benchmarks/mmlu_pro/test.jsonl"
PAPER_SELECTION = Selection()  # all 12,032 test questions

PROMPT_TEMPLATE = """\
The following is a multiple-choice question about {category}. Think step by step and then \
finish your answer with "The answer is (X)", where X is the letter of the correct option \
({letters}).

{question}

{choices}"""

# TIGER-AI-Lab/MMLU-Pro evaluate_from_api.py: extract_answer -> extract_again -> extract_final
EXTRACTION = ChoiceRule(
    name="tiger-lab-mmlu-pro",
    version="1",
    follows="TIGER-AI-Lab/MMLU-Pro evaluate_from_api.py: extract_answer, extract_again, "
    "extract_final (after response.replace('**', ''))",
    remove=("**",),
    patterns=(
        Pattern(r"answer is \(?([A-J])\)?"),
        # official `.*[aA]nswer:\s*([A-J])` with re.search: the first line with a match, its
        # last match; anchored at line starts it is the same search without the backtracking
        Pattern(r"^.*[aA]nswer:\s*([A-J])", flags=re.MULTILINE),
        # official `\b[A-J]\b(?!.*\b[A-J]\b)` (DOTALL): the last standalone letter
        Pattern(r"\b[A-J]\b", take="last"),
    ),
)

REQUIRED_FIELDS = ("question_id", "question", "options", "answer", "category")


def build_item(row: dict[str, Any]) -> Item:
    """One Item from one official JSONL record."""
    options = [str(option).strip() for option in row["options"]]
    if not 2 <= len(options) <= len(LETTERS):
        raise DataError(f"{NAME}: question {row['question_id']}: {len(options)} options")
    letters = LETTERS[: len(options)]
    answer = str(row["answer"]).strip().upper()
    if answer not in letters:
        raise DataError(f"{NAME}: question {row['question_id']}: answer {answer!r} not an option")
    prompt = PROMPT_TEMPLATE.format(
        category=str(row["category"]).strip(),
        letters=", ".join(letters),
        question=str(row["question"]).strip(),
        choices=render_choices(options),
    )
    return Item(
        id=str(row["question_id"]),
        dataset=NAME,
        messages=(Message("user", prompt),),
        target=answer,
        metadata={
            "topic": str(row["category"]),
            "src": str(row.get("src", "")),
            "letters": letters,
        },
    )


class MMLUPro(BenchmarkBase):
    """The MMLU-Pro benchmark (satisfies benchmarks.Benchmark)."""

    name = NAME
    version = VERSION
    description = "MMLU-Pro: 12,032 ten-choice questions across 14 disciplines (A-J)"
    default_source = DEFAULT_SOURCE

    def rows(self, source: Path | None = None) -> list[dict[str, Any]]:
        """Official records in file order."""
        hf = hf_dataset_name(source)
        if hf:
            return list(iter_hf_rows(hf, "test"))
        path = resolve_source(NAME, DEFAULT_SOURCE, source, ["test.jsonl"])
        return read_jsonl(path, NAME, REQUIRED_FIELDS)

    def items(self, selection: Selection) -> Iterator[Item]:
        for row in select(self.rows(selection.source), selection):
            yield build_item(row)

    def grader(self, judge: Judge | None = None) -> ChoiceGrader:
        return ChoiceGrader(EXTRACTION)


BENCHMARK = MMLUPro()
