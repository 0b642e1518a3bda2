"""Humanity's Last Exam (text-only): expert-written closed-ended questions at the frontier.

Paper: Phan et al., "Humanity's Last Exam" (2025), https://arxiv.org/abs/2501.14249.
2,500 questions, of which those with an image are excluded here (text-only evaluation).

Source formats: the official Hugging Face release `cais/hle` as parquet (read when `pyarrow` is
importable), or a JSONL / CSV export of it, with `id, question, image` (empty for text-only
items), `answer, answer_type` (`exactMatch` | `multipleChoice`), `rationale, raw_subject,
category, canary`; or `Selection(source=Path("hf:cais/hle"))` when `datasets` is importable.
HLE is not available offline here: point `Selection.source` at a file (default:
`../shared/data/benchmarks/hle/`). Items with an image are dropped; how many is kept on
`BENCHMARK.excluded_with_image` after loading, for callers to report.

Protocol (the official `hle_eval`): a system message asks for `Explanation:`, then
`Exact Answer:` (or `Answer:` for multiple choice) and `Confidence:` (0-100%); the question is the
user message. An LLM judge extracts the final answer and decides correct yes/no against the
reference (graders/judge.py); report accuracy and the RMS calibration error of the stated
confidences (`graders.judge.hle_metrics`). The official judge returns a structured output
(`extracted_final_answer`, `reasoning`, `correct: yes|no`, `confidence`); we ask for the same four
fields as lines (JSON is read too) and read only the judge's own single `correct:` field once the
prompt's text (which has a line "correct: yes if ...") is removed; a reply without exactly one, or
cut off at max_tokens, is a judge failure, not a grade (`graders.judge.read_hle_verdict`).
The Avengers-Pro paper uses the first 500 text-only
questions: PAPER_SELECTION.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from avp_harness.errors import ConfigError, DataError
from avp_harness.types import Grade, Item, Message
from benchmarks import BenchmarkBase, Selection, select
from benchmarks._text_common import (
    check_fields,
    hf_dataset_name,
    iter_hf_rows,
    read_csv,
    read_jsonl,
    resolve_source,
)
from graders.judge import HLEJudgeGrader, hle_metrics

if TYPE_CHECKING:
    from graders import Judge

NAME = "hle"
VERSION = "1"
DEFAULT_SOURCE = "../shared/data/benchmarks/hle"
PAPER_SELECTION = Selection(limit=500)  # the first 500 text-only questions
FILENAMES = ("test.parquet", "hle.parquet", "test.jsonl", "hle.jsonl", "test.csv", "hle.csv")
REQUIRED_FIELDS = ("id", "question", "image", "answer", "answer_type")

SYSTEM_EXACT_ANSWER = """\
Format your response exactly like this:
Explanation: {the reasoning behind your final answer}
Exact Answer: {your final answer, stated concisely}
Confidence: {how confident you are in your answer, from 0% to 100%}"""

SYSTEM_MULTIPLE_CHOICE = """\
Format your response exactly like this:
Explanation: {the reasoning behind the answer you chose}
Answer: {the answer you chose}
Confidence: {how confident you are in your answer, from 0% to 100%}"""


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """Rows of a parquet file via pyarrow (an optional dependency)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{NAME}: reading {path} needs pyarrow; export it to JSONL or CSV"
        ) from None
    return list(pq.read_table(path).to_pylist())


def is_text_only(row: dict[str, Any]) -> bool:
    """True when the question has no image (the official text-only filter: `not q['image']`)."""
    return not row.get("image")


def build_item(row: dict[str, Any]) -> Item:
    """One Item from one official record (text-only)."""
    answer_type = str(row["answer_type"])
    if answer_type not in ("exactMatch", "multipleChoice"):
        raise DataError(f"{NAME}: question {row['id']}: unknown answer_type {answer_type!r}")
    system = SYSTEM_MULTIPLE_CHOICE if answer_type == "multipleChoice" else SYSTEM_EXACT_ANSWER
    return Item(
        id=str(row["id"]),
        dataset=NAME,
        messages=(Message("system", system), Message("user", str(row["question"]))),
        target=str(row["answer"]).strip(),
        metadata={
            "topic": str(row.get("category") or ""),
            "raw_subject": str(row.get("raw_subject") or ""),
            "answer_type": answer_type,
        },
    )


class HLE(BenchmarkBase):
    """Humanity's Last Exam, text-only (satisfies benchmarks.Benchmark); graded by a judge."""

    name = NAME
    version = VERSION
    description = "Humanity's Last Exam (text-only): expert questions, LLM-judged, with calibration"
    default_source = DEFAULT_SOURCE
    needs_judge = True
    metric_labels = MappingProxyType({"half_width": "± (95%)"})
    metric_notes = (
        "calibration error: RMS over bins of 100 answers, as the official code "
        "(- under 100 answers; 0 under 200)",
    )

    def __init__(self) -> None:
        self.excluded_with_image = 0  # set by rows(): how many questions had an image

    def rows(self, source: Path | None = None) -> list[dict[str, Any]]:
        """Text-only records in official order (records with an image are counted and dropped)."""
        hf = hf_dataset_name(source)
        if hf:
            records = list(iter_hf_rows(hf, "test"))
        else:
            path = resolve_source(NAME, DEFAULT_SOURCE, source, FILENAMES)
            if path.suffix == ".parquet":
                records = read_parquet(path)
            elif path.suffix == ".csv":
                records = list(read_csv(path, NAME, REQUIRED_FIELDS))
            else:
                records = read_jsonl(path, NAME, REQUIRED_FIELDS)
        for number, row in enumerate(records, start=1):
            check_fields(row, REQUIRED_FIELDS, NAME, f"record {number}")
        kept = [row for row in records if is_text_only(row)]
        self.excluded_with_image = len(records) - len(kept)
        return kept

    def items(self, selection: Selection) -> Iterator[Item]:
        for row in select(self.rows(selection.source), selection):
            yield build_item(row)

    def load_notes(self) -> list[str]:
        """What the last load left out, for the collector to report."""
        if not self.excluded_with_image:
            return []
        return [f"{NAME}: {self.excluded_with_image} questions with an image excluded (text-only)"]

    def grader(self, judge: Judge | None = None) -> HLEJudgeGrader:
        if judge is None:
            raise ConfigError("avp.toml", "judge", "hle is graded by an LLM judge: configure one")
        return HLEJudgeGrader(judge)

    def metrics(self, grades: Sequence[Grade]) -> dict[str, Any]:
        """Accuracy with its 95% half-width and the RMS calibration error, as fractions
        (`graders.judge.hle_metrics` works in percent like the official code)."""
        figures = hle_metrics(grades)
        calibration = figures.calibration_error / 100
        return {
            "accuracy": figures.accuracy / 100,
            "half_width": figures.half_width / 100,
            "calibration_error": None if math.isnan(calibration) else calibration,
            "judged": figures.judged,
        }


BENCHMARK = HLE()
