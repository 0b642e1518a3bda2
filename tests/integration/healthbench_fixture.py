"""HealthBench over the project's made-up fixture, for the simulated provider.

The simulator indexes registered benchmarks from their default sources, absent offline;
`SimServer(extra_benchmarks={"healthbench": "tests.integration.healthbench_fixture:HEALTHBENCH"})`
makes it recognise the fixture's conversations instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.healthbench import BENCHMARK, FILES, HealthBench

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "healthbench" / FILES["healthbench"]


@dataclass(frozen=True)
class FixtureHealthBench(HealthBench):
    def rows(self, source: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
        return super().rows(source or SOURCE)


HEALTHBENCH = FixtureHealthBench(BENCHMARK.name, BENCHMARK.description, BENCHMARK.filename)
