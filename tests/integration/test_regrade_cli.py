"""`avp regrade` after an extraction change: per model, how many cells went 1->0 and 0->1.

A real collector run against the simulated provider fills a real SQLite store with MMLU-Pro and
GPQA cells. Their grades are then replaced by those of a stand-in "legacy" choice grader (a
deterministic coin per answer, as a grader bug would give), and `avp regrade` (first with
--dry-run) is checked against the counts computed here from the current graders.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import benchmarks
from avp_harness.cli import main as avp_main
from avp_harness.collect.regrade import regrade
from avp_harness.collect.runner import Collector
from avp_harness.config import config_from_dict
from avp_harness.sim.models import SIM_MODELS
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from avp_harness.store.grades import count_grade_history
from avp_harness.types import Completion, Grade, Item
from tests.conftest import shared_path

pytestmark = pytest.mark.integration

MODELS = ("sim/flash-mini", "sim/atlas-xl")
BENCHES = {"mmlu_pro": ("mmlu_pro", "test.jsonl"), "gpqa_diamond": ("gpqa", "gpqa_diamond.csv")}


class LegacyGrader:
    """Stands in for an old extraction rule: a verdict unrelated to the answer's correctness."""

    id = "choice"
    version = "1"

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        score = float(zlib.crc32(f"{item.id}|{completion.text}".encode()) % 2)
        return Grade(score, "A", "legacy", self.id, self.version)


async def build_store(tmp_path: Path, base_url: str) -> str:
    db = str(tmp_path / "runs.db")
    data = {
        "db": db,
        "providers": {"sim": {"base_url": base_url, "max_concurrency": 8, "timeout_s": 10}},
        "models": [
            {"id": m, "provider": "sim", "price": {"input_per_m": SIM_MODELS[m].price_in,
                                                   "output_per_m": SIM_MODELS[m].price_out,
                                                   "date": "2026-11-01"}}
            for m in MODELS
        ],
        "benchmarks": [
            {"name": name, "limit": 15, "source": str(shared_path("benchmarks", *parts))}
            for name, parts in BENCHES.items()
        ],
    }
    with Store.open(db) as store:
        summary = await Collector(config_from_dict(data, None), store).run()
        assert summary.status == "completed" and summary.ok == 2 * 2 * 15
        for name in BENCHES:
            await regrade(store, name, grader=LegacyGrader())
    return db


def expected_changes(db: str) -> dict[tuple[str, str], Counter[str]]:
    """(benchmark, model) -> Counter(lost=1->0, gained=0->1) by the benchmarks' current graders."""
    out: dict[tuple[str, str], Counter[str]] = {}
    with Store.open(db, create=False) as store:
        for cell in store.cells(limit=10_000):
            record = store.item(cell.benchmark, cell.item_id)
            assert record is not None and cell.grader_version == "1"
            grader: Any = benchmarks.get(cell.benchmark).grader()
            new = grader.grade_text(cell.response, json.loads(record.target_json)).score
            counts = out.setdefault((cell.benchmark, cell.model), Counter())
            counts["cells"] += 1
            counts["lost"] += new < cell.score
            counts["gained"] += new > cell.score
    return out


async def test_regrade_shows_per_model_flips_dry_run_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no avp.toml around
    monkeypatch.delenv("AVP_CONFIG", raising=False)
    with SimServer(latency_scale=0.0, log_path=tmp_path / "sim.jsonl") as sim:
        db = await build_store(tmp_path, sim.base_url)
    expected = expected_changes(db)
    assert sum(c["lost"] for c in expected.values()) > 0
    assert sum(c["gained"] for c in expected.values()) > 0
    with Store.open(db, create=False) as store:
        history = count_grade_history(store)

    argv = ["regrade", "--db", db, "--benchmark", "mmlu_pro", "--benchmark", "gpqa_diamond"]
    assert await asyncio.to_thread(avp_main, [*argv, "--dry-run", "--json"]) == 0
    dry = {s["benchmark"]: s for s in json.loads(capsys.readouterr().out)}
    for (bench, model), counts in expected.items():
        row = dry[bench]["by_model"][model]
        assert (row["examined"], row["lost"], row["gained"]) == (
            counts["cells"], counts["lost"], counts["gained"]
        )
    assert all(s["dry_run"] and s["rewritten"] == s["examined"] for s in dry.values())
    with Store.open(db, create=False) as store:  # nothing written
        assert count_grade_history(store) == history
        assert {c.grader_version for c in store.cells(limit=10_000)} == {"1"}

    assert await asyncio.to_thread(avp_main, argv) == 0
    out = capsys.readouterr().out
    for (bench, model), counts in expected.items():
        row = rf"{re.escape(model)}\s*│\s*{counts['cells']}\s*│\s*{counts['lost']}\s*│"
        assert re.search(rf"{row}\s*{counts['gained']}\s*│", out), (bench, model, out)
    assert "mmlu_pro: changes per model" in out and "gpqa_diamond: changes per model" in out
    with Store.open(db, create=False) as store:
        versions = {(c.benchmark, c.grader_version) for c in store.cells(limit=10_000)}
        assert versions == {("mmlu_pro", "2/tiger-lab-mmlu-pro/1"),
                            ("gpqa_diamond", "2/simple-evals-gpqa/1")}
        assert count_grade_history(store) == history + 60

    assert await asyncio.to_thread(avp_main, [*argv, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [(s["score_changes"], s["rewritten"]) for s in again] == [(0, 0), (0, 0)]
