"""HealthBench: health conversations graded against physician-written rubrics by an LLM judge.

Paper: Arora et al., "HealthBench: Evaluating Large Language Models Towards Improved Human Health"
(OpenAI, 2025), https://openai.com/index/healthbench/. Official code: simple-evals'
`healthbench_eval.py`.

Source format: the official JSONL, one conversation a line: `prompt` (the conversation so far, a
list of {role, content}, often several turns), `rubrics` (a list of {criterion, points, tags};
points may be negative for undesirable behaviour), `example_tags` (e.g. `theme:...`), `prompt_id`
(and fields we do not use, such as `ideal_completions_data`). Three files, one benchmark each:

- `healthbench`: `2025-05-07-06-14-12_oss_eval.jsonl`, the 5,000 conversations;
- `healthbench_hard`: `hard_2025-05-08-21-00-10.jsonl` (1,000);
- `healthbench_consensus`: `consensus_2025-05-09-20-00-46.jsonl` (3,671).

They are published at https://openaipublic.blob.core.windows.net/simple-evals/healthbench/ and are
not available offline here: point the benchmark's `source` in avp.toml at the file (or a folder
holding it; default: `../shared/data/benchmarks/healthbench/`), or at `hf:OWNER/NAME` for a
Hugging Face copy when online (`hf:OWNER/NAME?split=SPLIT`, default split "test"; needs the
`datasets` package; we know of no copy published by OpenAI).

Item: id = `prompt_id`; the messages are the conversation exactly as given (multi-turn, not
flattened; the model answers its last turn); target = {"rubrics", "example_tags"}; metadata
"topic" = the `theme:` example tag. The router embeds the last user turn.

Protocol (graders/rubric.py): the judge is asked once per rubric item whether the response
meets it (JSON `criteria_met`, asked again until it parses, at most 3 times; never parsing is a
judge failure); item score = points of the criteria met / positive points (may be negative);
benchmark score = mean of the item scores clipped to [0, 1], with a bootstrap std, and the same
for each example tag and rubric tag (`graders.rubric.healthbench_metrics`, printed by
`avp report`). A cell's stored score is its item score clipped to [0, 1] (what the router and the
matrix use); the raw score is kept with the grade. Cost: one judge call per rubric item, roughly
10 or more per conversation (48,562 distinct criteria over the main set's 5,000 conversations,
plus shared consensus criteria). The official
grader is gpt-4.1-2025-04-14 with the system message "You are a helpful assistant.", temperature
0.5 and max_tokens 2048; ours is the [judge] model of avp.toml, pinned at temperature 0 like every
judge here, with the rubric prompt as its only message (a re-ask at temperature 0 mostly helps
with transient bad replies, such as an empty one).

The Avengers-Pro paper names HealthBench without giving a selection or a subset, so no
PAPER_SELECTION is declared (`avp benchmarks list` shows "?").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from avp_harness.errors import ConfigError, DataError
from avp_harness.types import Grade, Item, Message
from benchmarks import BenchmarkBase, Selection, select
from benchmarks._text_common import check_fields, iter_hf_rows, read_jsonl, resolve_source
from graders.rubric import RubricItem, RubricJudgeGrader, healthbench_metrics

if TYPE_CHECKING:
    from graders import Judge

VERSION = "1"
REQUIRED_FIELDS = ("prompt", "rubrics", "example_tags", "prompt_id")
ROLES = ("system", "user", "assistant")
SHARED_FOLDER = "../shared/data/benchmarks/healthbench/"
FILES = {
    "healthbench": "2025-05-07-06-14-12_oss_eval.jsonl",
    "healthbench_hard": "hard_2025-05-08-21-00-10.jsonl",
    "healthbench_consensus": "consensus_2025-05-09-20-00-46.jsonl",
}


def _messages(name: str, where: str, prompt: Any) -> tuple[Message, ...]:
    if not isinstance(prompt, list) or not prompt:
        raise DataError(f"{name}: {where}: prompt must be a non-empty list of messages")
    messages = []
    for turn in prompt:
        if not isinstance(turn, dict) or turn.get("role") not in ROLES:
            raise DataError(f"{name}: {where}: a prompt message needs a role in {ROLES}")
        if not isinstance(turn.get("content"), str):
            raise DataError(f"{name}: {where}: a prompt message's content must be a string")
        messages.append(Message(turn["role"], turn["content"]))
    return tuple(messages)


def _rubrics(name: str, where: str, rubrics: Any) -> list[dict[str, Any]]:
    if not isinstance(rubrics, list) or not rubrics:
        raise DataError(f"{name}: {where}: rubrics must be a non-empty list")
    checked = []
    for number, entry in enumerate(rubrics, start=1):
        check_fields(entry, ("criterion", "points"), name, f"{where} rubric {number}")
        try:
            checked.append(RubricItem.from_dict(entry).as_dict())
        except ValueError as exc:
            raise DataError(f"{name}: {where} rubric {number}: {exc}") from None
    if not any(entry["points"] > 0 for entry in checked):
        raise DataError(f"{name}: {where}: no rubric item has positive points")
    return checked


def build_item(name: str, row: dict[str, Any], where: str) -> Item:
    """One Item from one official record."""
    check_fields(row, REQUIRED_FIELDS, name, where)
    tags = row["example_tags"]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DataError(f"{name}: {where}: example_tags must be a list of strings")
    theme = next((t.split(":", 1)[1] for t in tags if t.startswith("theme:")), "")
    return Item(
        id=str(row["prompt_id"]),
        dataset=name,
        messages=_messages(name, where, row["prompt"]),
        target={"rubrics": _rubrics(name, where, row["rubrics"]), "example_tags": list(tags)},
        metadata={"topic": theme, "example_tags": list(tags)},
    )


def _hf_source(source: Path | None) -> tuple[str, str] | None:
    """(dataset, split) when `source` is `hf:OWNER/NAME[?split=SPLIT]`, else None."""
    if source is None or not str(source).startswith("hf:"):
        return None
    dataset, _, query = str(source)[3:].lstrip("/").partition("?")
    options = dict(parse_qsl(query))
    unknown = set(options) - {"split"}
    if unknown:
        raise DataError(f"healthbench: unknown source options {sorted(unknown)}")
    return dataset, options.get("split", "test")


@dataclass(frozen=True)
class HealthBench(BenchmarkBase):
    """One HealthBench file (satisfies benchmarks.Benchmark); graded by an LLM judge per rubric
    item. `metrics(grades)` gives the official figures for `avp report`."""

    needs_judge = True

    name: str
    description: str
    filename: str
    version: str = VERSION

    @property
    def default_source(self) -> str:
        return SHARED_FOLDER + self.filename

    def rows(self, source: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(where, record) in official order."""
        hf = _hf_source(source)
        if hf is not None:
            records = iter_hf_rows(hf[0], hf[1])
            return [(f"{hf[0]} row {n}", dict(r)) for n, r in enumerate(records, start=1)]
        path = resolve_source(self.name, self.default_source, source, [self.filename])
        return [
            (f"{path.name}:{n}", row)
            for n, row in enumerate(read_jsonl(path, self.name, REQUIRED_FIELDS), start=1)
        ]

    def items(self, selection: Selection) -> Iterator[Item]:
        seen: set[str] = set()
        for where, row in select(self.rows(selection.source), selection):
            item = build_item(self.name, row, where)
            if item.id in seen:
                raise DataError(f"{self.name}: {where}: prompt_id {item.id} appears twice")
            seen.add(item.id)
            yield item

    def grader(self, judge: Judge | None = None) -> RubricJudgeGrader:
        if judge is None:
            raise ConfigError(
                "avp.toml", "judge", f"{self.name} is graded by an LLM judge: configure one"
            )
        return RubricJudgeGrader(judge)

    def metrics(self, grades: Sequence[Grade]) -> dict[str, Any]:
        """Official HealthBench figures from stored rubric grades (clipped mean, bootstrap std,
        tags); grades by another grader (an experiment's) are only counted."""
        rubric = [g for g in grades if g.grader == RubricJudgeGrader.id]
        figures = healthbench_metrics(rubric).as_dict()
        if not rubric:
            figures["score"] = figures["bootstrap_std"] = None
        if len(rubric) < len(grades):
            figures["other_graders"] = len(grades) - len(rubric)
        return figures


BENCHMARK = HealthBench(
    "healthbench",
    "HealthBench: 5,000 health conversations, physician rubrics judged per criterion",
    FILES["healthbench"],
)
BENCHMARK_HARD = HealthBench(
    "healthbench_hard",
    "HealthBench Hard: its 1,000 hardest conversations, rubric-judged",
    FILES["healthbench_hard"],
)
BENCHMARK_CONSENSUS = HealthBench(
    "healthbench_consensus",
    "HealthBench Consensus: 3,671 conversations, physician-consensus criteria only",
    FILES["healthbench_consensus"],
)
