"""`avp onboard` end to end: a new model evaluated first where the router's choice could change.

A store of four simulated models on ARC-AGI and HumanEval, a router fitted on it, a fifth model
added to avp.toml: onboarding spends exactly its call budget on that model alone, covers every
cluster before going deeper, and never asks for an item twice.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main
from avp_harness.sim.server import SimServer
from avp_harness.store import Store

pytestmark = pytest.mark.integration

NEW = "sim/reasoner-r1"


def write_config(path: Path, base_url: str) -> None:
    models = "\n".join(
        f'[[models]]\nid = "{m}"\nprovider = "sim"\n'
        for m in ("sim/atlas-xl", "sim/coder-7b", "sim/mid-pro")
    )
    # flash-mini reports no cost: without a price its dollars would be unknown
    models += ('\n[[models]]\nid = "sim/flash-mini"\nprovider = "sim"\n'
               'price = { input_per_m = 0.1, output_per_m = 0.4, date = "2026-11-01" }\n')
    path.write_text(
        f'db = "runs.db"\n[providers.sim]\nbase_url = "{base_url}"\nmax_concurrency = 16\n'
        f"request_cost = true\n\n{models}\n"
        '[[benchmarks]]\nname = "arc_agi"\nlimit = 30\n'
        '[[benchmarks]]\nname = "humaneval"\nlimit = 20\n'
    )


def test_onboard_spends_its_budget_on_the_new_model_across_clusters(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SimServer(latency_scale=0.0) as sim:
        write_config(tmp_path / "avp.toml", sim.base_url)
        assert main(["run", "--progress", "none"]) == 0
        assert main(["fit", "--name", "main", "--embedding", "tfidf", "--clusters", "5"]) == 0
        assert main(["models", "add", NEW, "--provider", "sim"]) == 0
        capsys.readouterr()
        since = time.time()
        assert main(["onboard", NEW, "--router", "main", "--budget", "15"]) == 0
        out = capsys.readouterr().out
        requests = [e for e in sim.log() if e["time"] >= since and e["endpoint"] == "chat"]
    assert {e["model"] for e in requests} == {NEW}
    assert len(requests) == 15
    assert max(Counter(e["prompt_sha"] for e in requests).values()) == 1
    with Store.open(str(tmp_path / "runs.db")) as store:
        new_cells = [c for c in store.cells(model=NEW, limit=10_000) if c.status == "ok"]
    assert len(new_cells) == 15
    per_cluster = [int(m.group(2)) for m in re.finditer(r"^\s+(\d+)\s+(\d+)\s+\d", out, re.M)]
    assert len(per_cluster) == 5 and all(n >= 1 for n in per_cluster)  # every cluster probed
    assert sum(per_cluster) == 15
