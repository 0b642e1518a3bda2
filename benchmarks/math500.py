"""MATH-500: the 500-problem test subset of the MATH competition dataset.

Papers: Hendrycks et al., "Measuring Mathematical Problem Solving With the MATH Dataset" (2021),
https://arxiv.org/abs/2103.03874; subset from Lightman et al., "Let's Verify Step by Step"
(2023), https://arxiv.org/abs/2305.20050.

Source format: `test.jsonl` with `id`, `problem`, `answer` (LaTeX); the Hugging Face release
(`hf:HuggingFaceH4/MATH-500`, when `datasets` is importable) names the id `unique_id` and adds
`subject` and `level`, which become the item's topic and level when present.

Protocol: the model reasons and puts its final answer in `\\boxed{}`; the last box is compared to
the gold answer by mathematical equivalence (graders/math.py, `math-verify`).

Extraction follows the MATH benchmark's own code, hendrycks/math
`modeling/dataset/util.py: last_boxed_only_string` (the last `\\boxed{...}`; `\\fbox` only when
there is no `\\boxed`). Deliberate differences: equivalence is decided by `math-verify`, not by the
original `math_equivalence.is_equiv` string normalisation (so `0.5` matches `\\frac{1}{2}`, which
is_equiv rejects), and `\\boxed 5` without braces is read as `5` (graders/math.py says more).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avp_harness.errors import DataError
from avp_harness.types import Item, Message
from benchmarks import BenchmarkBase, Selection, select
from benchmarks._text_common import hf_dataset_name, iter_hf_rows, read_jsonl, resolve_source
from graders.math import MathGrader

if TYPE_CHECKING:
    from graders import Judge

NAME = "math500"
VERSION = "1"
DEFAULT_SOURCE = "../shared/data/benchmarks/math500/test.jsonl"
PAPER_SELECTION = Selection()  # all 500 problems

PROMPT_TEMPLATE = """\
Solve the math problem below. Work through it step by step, then give your final answer \
inside \\boxed{{}}.

{problem}"""


def build_item(row: dict[str, Any], dataset: str = NAME, topic: str = "math") -> Item:
    """One Item from one record with `id` (or `unique_id`), `problem` and `answer`."""
    if "id" not in row and "unique_id" not in row:
        raise DataError(f"{dataset}: a record has neither `id` nor `unique_id`")
    item_id = str(row["id"] if "id" in row else row["unique_id"])
    metadata: dict[str, Any] = {"topic": str(row.get("subject") or topic)}
    if "level" in row:
        metadata["level"] = row["level"]
    return Item(
        id=item_id,
        dataset=dataset,
        messages=(Message("user", PROMPT_TEMPLATE.format(problem=str(row["problem"]).strip())),),
        target=str(row["answer"]).strip(),
        metadata=metadata,
    )


class Math500(BenchmarkBase):
    """The MATH-500 benchmark (satisfies benchmarks.Benchmark)."""

    name = NAME
    version = VERSION
    description = "MATH-500: 500 competition math problems, boxed answers checked by equivalence"
    default_source = DEFAULT_SOURCE

    def rows(self, source: Path | None = None) -> list[dict[str, Any]]:
        """Official records in file order."""
        hf = hf_dataset_name(source)
        if hf:
            return list(iter_hf_rows(hf, "test"))
        path = resolve_source(NAME, DEFAULT_SOURCE, source, ["test.jsonl"])
        return read_jsonl(path, NAME, ("problem", "answer"))

    def items(self, selection: Selection) -> Iterator[Item]:
        for row in select(self.rows(selection.source), selection):
            yield build_item(row)

    def grader(self, judge: Judge | None = None) -> MathGrader:
        return MathGrader()


BENCHMARK = Math500()
