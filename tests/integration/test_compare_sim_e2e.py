"""`avp compare` end to end on a simulator-collected store with repeated samples.

Three simulated models answer MATH-500 and MMLU-Pro 10 times per item (`samples = 10`,
`temperature = 0.7` on each benchmark; the
simulator draws 7 samples in 8 afresh, right with the item's own probability) and HumanEval 10 times
(code: run in the sandbox, never voted on). `avp compare` then reports every method, the
Avengers' Self-Consistency and Model-Switch among them, from the stored samples alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avp_harness.cli import main
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from avp_harness.store.routing import sample_table

pytestmark = pytest.mark.integration
MODELS = ("sim/atlas-xl", "sim/coder-7b", "sim/mid-pro")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    models = "\n".join(f'[[models]]\nid = "{m}"\nprovider = "sim"\n' for m in MODELS)
    with SimServer(latency_scale=0.0) as sim:
        (folder / "avp.toml").write_text(
            f'db = "{folder / "runs.db"}"\n[providers.sim]\nbase_url = "{sim.base_url}"\n'
            f"max_concurrency = 16\nrequest_cost = true\n\n{models}\n"
            '[[benchmarks]]\nname = "math500"\nlimit = 16\nsamples = 10\ntemperature = 0.7\n'
            '[[benchmarks]]\nname = "mmlu_pro"\nlimit = 16\nsamples = 10\ntemperature = 0.7\n'
            '[[benchmarks]]\nname = "humaneval"\nlimit = 6\nsamples = 10\ntemperature = 0.7\n'
        )
        assert main(["run", "--progress", "none", "--config", str(folder / "avp.toml")]) == 0
    return folder


def test_samples_are_stored_and_vary(store_dir: Path) -> None:
    with Store.open(str(store_dir / "runs.db")) as store:
        cells = [c for c in store.cells(limit=100_000) if c.benchmark == "mmlu_pro"]
        items = sorted({c.item_id for c in cells})
        table = sample_table(store, rows=[("mmlu_pro", i) for i in items], models=MODELS,
                             samples=10)
    assert {c.sample for c in cells} == set(range(10))
    assert table.scores.shape == (16, 3, 10) and not np.isnan(table.scores).any()
    assert table.graders == {"mmlu_pro": cells[0].grader}
    by_item: dict[tuple[str, str], set[str | None]] = {}
    for c in cells:
        by_item.setdefault((c.model, c.item_id), set()).add(c.extracted)
    assert any(len(v) > 1 for v in by_item.values())  # samples differ


def test_compare_reports_every_method_from_the_samples(store_dir: Path, capsys: Any) -> None:
    db = str(store_dir / "runs.db")
    capsys.readouterr()
    assert main(["compare", "--db", db, "--embedding", "tfidf", "--clusters", "6",
                 "--avengers-clusters", "6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {s["name"]: s for s in out["systems"]}
    n = out["n_test"]
    assert set(MODELS) <= set(rows)
    for name in ("oracle", "random", "cheapest", "best_per_benchmark", "avengers (direct)",
                 "avengers SC (n=10)", "avengers MS (s=5)", "avengers MS-ablation (s=5)",
                 "jisi (router-only)"):
        assert name in rows, (name, out["skipped"])
    assert any(r["family"] == "avengers_pro" for r in rows.values())
    assert rows["avengers (direct)"]["calls"] == n
    assert rows["avengers SC (n=10)"]["calls"] == 10 * n  # every sample is paid
    assert rows["avengers MS (s=5)"]["calls"] == 10 * n
    assert rows["avengers SC (n=10)"]["cost"] > rows["avengers (direct)"]["cost"]
    assert 3 * n <= rows["jisi (router-only)"]["calls"] <= 4 * n
    for r in rows.values():
        assert 0.0 <= r["accuracy_95"][0] <= r["accuracy"] <= r["accuracy_95"][1] <= 1.0
    # voting helps on independent samples of multiple-choice and maths answers
    sc, direct = rows["avengers SC (n=10)"], rows["avengers (direct)"]
    assert np.mean([sc["per_benchmark"][b] for b in ("math500", "mmlu_pro")]) >= np.mean(
        [direct["per_benchmark"][b] for b in ("math500", "mmlu_pro")])
    assert list(out["skipped"]) == ["jisi (full, with aggregator)"]  # until `avp aggregate`
    assert "`avp aggregate` makes them" in out["skipped"]["jisi (full, with aggregator)"]


def test_a_method_that_cannot_fit_is_skipped_not_fatal(store_dir: Path, capsys: Any) -> None:
    """The Avengers' default 64 clusters need more training queries than this store has."""
    db = str(store_dir / "runs.db")
    capsys.readouterr()
    assert main(["compare", "--db", db, "--embedding", "tfidf", "--methods", "baselines",
                 "avengers", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "n_clusters=64" in out["skipped"]["avengers"]
    assert {s["family"] for s in out["systems"]} == {"single", "baseline"}
