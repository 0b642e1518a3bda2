"""Tiny sums: a whole benchmark in one module, as a new benchmark is added to avp.

Registered by tests/integration/test_new_benchmark.py with one line
(`benchmarks.REGISTRY["tiny_sums"] = "tests.integration.tiny_benchmark"`); nothing in the CLI,
the collector, the report or the config names it. Its data is built in; one option (`offset`,
added to every sum) comes from an avp.toml `options` table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from avp_harness.types import Completion, Grade, Item, Message
from benchmarks import BenchmarkBase, DataStatus, OptionError, Selection, select

PAIRS = [(40, 2), (1, 1), (20, 22), (7, 8), (30, 12), (3, 4)]
TEMPLATE = "What is {a} + {b}? Reply with the number."


class LastNumberGrader:
    """Correct when the last integer in the answer is the sum."""

    id = "tiny_last_number"
    version = "1"

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        numbers = re.findall(r"-?\d+", completion.text)
        if not numbers:
            return Grade(0.0, None, "no number in the answer", self.id, self.version, parsed=False)
        score = float(numbers[-1] == item.target)
        return Grade(score, numbers[-1], "last number vs the sum", self.id, self.version)


class TinySums(BenchmarkBase):
    name = "tiny_sums"
    version = "1"
    description = "Tiny sums: six additions, the last number of the answer"
    default_source = "built-in"

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def items(self, selection: Selection) -> Iterator[Item]:
        for n, (a, b) in select(list(enumerate(PAIRS)), selection):
            b += self.offset
            yield Item(f"sum-{n}", self.name, (Message("user", TEMPLATE.format(a=a, b=b)),),
                       str(a + b), {"topic": "small" if a + b < 20 else "large"})

    def grader(self, judge: object | None = None) -> LastNumberGrader:
        return LastNumberGrader()

    def metrics(self, grades: Sequence[Grade]) -> dict[str, Any]:
        return {"accuracy": sum(g.score for g in grades) / len(grades) if grades else 0.0,
                "answered": sum(g.parsed for g in grades)}

    def data_status(self) -> DataStatus:
        return DataStatus(True, "built into the module")

    def with_options(self, options: Mapping[str, Any]) -> TinySums:
        for key, value in options.items():
            if key != "offset":
                raise OptionError(self.name, key, "unknown option; expected: offset")
            if isinstance(value, bool) or not isinstance(value, int):
                raise OptionError(self.name, key, f"must be an integer, got {value!r}")
        return TinySums(int(options.get("offset", self.offset)))


BENCHMARK = TinySums()
