"""GPQA-Diamond: graduate-level, "Google-proof" multiple-choice science questions.

Paper: Rein et al., "GPQA: A Graduate-Level Google-Proof Q&A Benchmark" (2023),
https://arxiv.org/abs/2311.12022. Diamond subset: 198 questions.

Source format: the official CSV (`gpqa_diamond.csv`, 78 columns) with `Question`,
`Correct Answer`, `Incorrect Answer 1..3`, `Record ID`, `High-level domain`, `Subdomain`; or, when
`datasets` is importable, `Selection(source=Path("hf:Idavidrein/gpqa"))` (config gpqa_diamond).
The data carries a canary string: never print items.

Protocol (as simple-evals' gpqa_eval): the four answers are shuffled with a permutation seeded by
the record id and SHUFFLE_SEED (stored on the item as `metadata["permutation"]`: position i shows
original answer index, 0 being the correct one), so the gold letter is tracked through the
shuffle and a resumed run renders byte-identical prompts. The model is asked to end with
`Answer: X`.

Extraction follows openai/simple-evals, `gpqa_eval.py` (`GPQAEval.__call__`): the FIRST match
(`re.search`) of `common.ANSWER_PATTERN_MULTICHOICE`, `(?i)Answer[ \\t]*:[ \\t]*\\$?([A-D])\\$?`,
on the raw response (simple-evals strips markdown for MMLU, not for GPQA), the captured letter
compared to the gold letter as is. So `**Answer:** C`, `Answer: **C**` and `Answer: (C)` find no
answer, and `answer: c` is read as `c`, not the gold `C` (score 0), exactly as there.

Deliberate differences: a response with no match is marked unparsed (score 0, as there); the
permutation is our own seeded one per record, each question asked once (simple-evals draws four
permutations per question from `random.Random(0)`, `n_repeats=4`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avp_harness.types import Item, Message
from benchmarks import BenchmarkBase, Selection, select
from benchmarks._text_common import (
    LETTERS,
    hf_dataset_name,
    iter_hf_rows,
    read_csv,
    render_choices,
    resolve_source,
)
from graders.choice import ChoiceGrader, ChoiceRule, Pattern

if TYPE_CHECKING:
    from graders import Judge

NAME = "gpqa_diamond"
VERSION = "1"
SHUFFLE_SEED = 0  # global part of every item's permutation seed (changing it = new VERSION)
DEFAULT_SOURCE = "../shared/data/benchmarks/gpqa/gpqa_diamond.csv"
PAPER_SELECTION = Selection()  # the Avengers-Pro paper uses all 198 items

PROMPT_TEMPLATE = """\
Answer the multiple-choice question below. Reason step by step, then finish with a final line \
of the form 'Answer: LETTER' (no quotes), where LETTER is one of {letters}.

{question}

{choices}"""

# openai/simple-evals gpqa_eval.py: re.search(ANSWER_PATTERN_MULTICHOICE, response_text)
EXTRACTION = ChoiceRule(
    name="simple-evals-gpqa",
    version="1",
    follows="openai/simple-evals gpqa_eval.py: re.search(common.ANSWER_PATTERN_MULTICHOICE)",
    patterns=(Pattern(r"(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?"),),
)

REQUIRED_COLUMNS = (
    "Question",
    "Correct Answer",
    "Incorrect Answer 1",
    "Incorrect Answer 2",
    "Incorrect Answer 3",
    "Record ID",
)


def permutation(record_id: str, seed: int = SHUFFLE_SEED) -> list[int]:
    """Stable shuffle of [0, 1, 2, 3] (0 = the correct answer) for one record."""
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    order = [0, 1, 2, 3]
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def build_item(row: dict[str, Any]) -> Item:
    """One Item from one official CSV row."""
    answers = [row["Correct Answer"]] + [row[f"Incorrect Answer {i}"] for i in (1, 2, 3)]
    answers = [str(a).strip() for a in answers]
    record_id = str(row["Record ID"]).strip()
    order = permutation(record_id)
    prompt = PROMPT_TEMPLATE.format(
        letters="ABCD",
        question=str(row["Question"]).strip(),
        choices=render_choices([answers[i] for i in order]),
    )
    return Item(
        id=record_id,
        dataset=NAME,
        messages=(Message("user", prompt),),
        target=LETTERS[order.index(0)],
        metadata={
            "topic": str(row.get("Subdomain") or "").strip(),
            "domain": str(row.get("High-level domain") or "").strip(),
            "permutation": order,
            "letters": "ABCD",
        },
    )


class GPQADiamond(BenchmarkBase):
    """The GPQA-Diamond benchmark (satisfies benchmarks.Benchmark)."""

    name = NAME
    version = VERSION
    description = "GPQA-Diamond: 198 graduate-level science multiple-choice questions (A-D)"
    default_source = DEFAULT_SOURCE

    def rows(self, source: Path | None = None) -> list[dict[str, Any]]:
        """Official rows in file order."""
        hf = hf_dataset_name(source)
        if hf:
            return list(iter_hf_rows(hf, "train", name="gpqa_diamond"))
        path = resolve_source(NAME, DEFAULT_SOURCE, source, ["gpqa_diamond.csv"])
        return list(read_csv(path, NAME, REQUIRED_COLUMNS))

    def items(self, selection: Selection) -> Iterator[Item]:
        for row in select(self.rows(selection.source), selection):
            yield build_item(row)

    def grader(self, judge: Judge | None = None) -> ChoiceGrader:
        return ChoiceGrader(EXTRACTION)


BENCHMARK = GPQADiamond()
