"""What real model servers do and the simulator now does too, end to end over loopback.

Truncated answers, context-length rejections, one-at-a-time servers, a provider that is down,
a renamed model and `avp doctor`, each against the simulated provider on 127.0.0.1 and a real
SQLite store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main
from avp_harness.providers.sim import SimServer
from avp_harness.store import Store
from tests.integration.test_collector import ATLAS, FLASH, cells, collect, make_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with SimServer(latency_scale=0.0, index_only=["arc_agi"]) as server:
        yield server


def _matrix(db: str) -> dict[tuple[str, str], Any]:
    with Store.open(db, create=False) as store:
        return {(r.model, r.benchmark): r for r in store.matrix()}


# ------------------------------------------------------------------ truncation (item 3)
async def test_truncated_answers_are_graded_marked_and_done(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    # ARC answers are grids of dozens of tokens: 8 tokens cut every one of them
    config = make_config(sim.base_url, db, [ATLAS, FLASH], arc=3,
                         model_overrides={ATLAS: {"max_tokens": 8}})
    summary = await collect(config, db)
    assert summary.status == "completed" and summary.ok == 6
    assert summary.truncated == 3
    rows = cells(db)
    cut = [r for r in rows if r.model == ATLAS]
    assert {(r.status, r.finish_reason) for r in cut} == {("ok", "length")}
    assert all(r.score is not None and r.grader for r in cut)  # graded, not dropped
    assert {r.finish_reason for r in rows if r.model == FLASH} == {"stop"}
    matrix = _matrix(db)
    assert (matrix[(ATLAS, "arc_agi")].truncated, matrix[(ATLAS, "arc_agi")].done) == (3, 3)
    assert matrix[(FLASH, "arc_agi")].truncated == 0
    # done means done: the next run requests nothing
    again = await collect(config, db)
    assert again.already_done == 6 and again.attempted == 0
    # `avp status` shows the count in its own column
    assert main(["status", "--db", db, "--json"]) == 0
    status = {(r["model"], r["benchmark"]): r for r in json.loads(capsys.readouterr().out)}
    assert status[(ATLAS, "arc_agi")]["truncated"] == 3
    assert main(["status", "--db", db]) == 0
    table = capsys.readouterr().out
    assert "truncated" in table
    atlas_line = next(line for line in table.splitlines() if ATLAS in line)
    assert " 3 " in atlas_line
