"""AIME 2024 and 2025: the American Invitational Mathematics Examination, 30 problems a year.

Source: the problems of the 2024 and 2025 AIME I and II (Mathematical Association of America),
as used by the Avengers-Pro paper: Zhang et al., "Beyond GPT-5: Making LLMs Cheaper and Better
via Performance-Efficiency Optimized Routing" (2025), https://arxiv.org/abs/2508.12631.

Source format: one JSONL file per year (`aime_2024.jsonl`, `aime_2025.jsonl`) with `id`,
`problem`, `answer` (an integer string, 0-999). The default source is the folder holding both;
`Selection.source` may name a folder or a single file.

Protocol: the model reasons and puts its final integer in `\\boxed{}`; the last box is compared
to the gold answer by mathematical equivalence (graders/math.py), so `\\boxed{033}` or
`\\boxed{33.0}` count for 33.

AIME has no official grading code. Extraction is the MATH benchmark's (hendrycks/math
`modeling/dataset/util.py: last_boxed_only_string`, the last `\\boxed{...}`), as in MATH-500;
the comparison is `math-verify` equivalence rather than an exact integer string match (deliberate:
a zero-padded or `.0` integer is the same answer).

Registered three times: `aime` (both years, 60 problems), `aime_2024` and `aime_2025`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avp_harness.types import Item, Message
from benchmarks import BenchmarkBase, Selection, select
from benchmarks._text_common import read_jsonl, resolve_source
from graders.math import MathGrader

if TYPE_CHECKING:
    from graders import Judge

VERSION = "1"
DEFAULT_SOURCE = "../shared/data/benchmarks/aime"
PAPER_SELECTION = Selection()  # all problems of both years
YEARS = ("2024", "2025")

PROMPT_TEMPLATE = """\
Solve the competition problem below. The answer is an integer from 0 to 999. Work through it \
step by step, then give your final answer inside \\boxed{{}}.

{problem}"""


def build_item(row: dict[str, Any], dataset: str, year: str) -> Item:
    """One Item from one `id, problem, answer` record; the year is the topic."""
    return Item(
        id=str(row["id"]),
        dataset=dataset,
        messages=(Message("user", PROMPT_TEMPLATE.format(problem=str(row["problem"]).strip())),),
        target=str(row["answer"]).strip(),
        metadata={"topic": f"aime_{year}", "year": int(year)},
    )


class AIME(BenchmarkBase):
    """AIME problems of the given years (satisfies benchmarks.Benchmark)."""

    version = VERSION
    default_source = DEFAULT_SOURCE

    def __init__(self, name: str, years: tuple[str, ...]) -> None:
        self.name = name
        self.years = years
        self.description = f"AIME {' + '.join(years)}: {30 * len(years)} integer-answer problems"

    def rows(self, source: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(year, record) pairs, years in order, records in file order."""
        if source is not None and Path(source).is_file():
            year = next((y for y in self.years if y in Path(source).name), self.years[0])
            return [
                (year, row)
                for row in read_jsonl(Path(source), self.name, ("id", "problem", "answer"))
            ]
        pairs: list[tuple[str, dict[str, Any]]] = []
        for year in self.years:
            path = resolve_source(self.name, DEFAULT_SOURCE, source, [f"aime_{year}.jsonl"])
            rows = read_jsonl(path, self.name, ("id", "problem", "answer"))
            pairs.extend((year, row) for row in rows)
        return pairs

    def items(self, selection: Selection) -> Iterator[Item]:
        for year, row in select(self.rows(selection.source), selection):
            yield build_item(row, self.name, year)

    def grader(self, judge: Judge | None = None) -> MathGrader:
        return MathGrader()


BENCHMARK = AIME("aime", YEARS)
BENCHMARK_2024 = AIME("aime_2024", ("2024",))
BENCHMARK_2025 = AIME("aime_2025", ("2025",))
