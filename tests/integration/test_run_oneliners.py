"""`avp run` one-liners (inspect-style) against the real simulator: the same cells as avp.toml's
entries, item ranges and ids, epochs, generation and provider options, bad values refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import benchmarks
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from tests.integration.test_collector import ATLAS, FLASH, requests_for
from tests.integration.test_endings import one_line

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    with SimServer(latency_scale=0.0, log_path=log) as server:
        yield server


def run(tmp_path: Path, *args: str) -> Any:
    """`avp run` in `tmp_path` (where an avp.toml may or may not be)."""
    env = {k: v for k, v in os.environ.items() if k not in ("AVP_CONFIG", "AVP_DB", "AVP_BUDGET")}
    command = [sys.executable, "-m", "avp_harness.cli", "run", "--db", str(tmp_path / "runs.db"),
               "--progress", "none", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env,
                          cwd=tmp_path)


def arc_ids(n: int) -> list[str]:
    return [item.id for item in benchmarks.get("arc_agi").items(benchmarks.Selection(limit=n))]


def stored(tmp_path: Path) -> list[Any]:
    with Store.open(str(tmp_path / "runs.db"), create=False) as store:
        return store.cells(limit=100_000)


def test_a_one_liner_makes_the_cells_of_the_equivalent_avp_toml_entry(
    sim: Any, tmp_path: Path
) -> None:
    since = time.time()
    done = run(tmp_path, "--model", f"sim/{ATLAS}", "--model", f"sim/{FLASH}",
               "--model-base-url", sim.base_url, "--benchmarks", "arc_agi", "--limit", "3")
    assert done.returncode == 0, done.stderr
    assert len(requests_for(sim, since)) == 6
    # the same two models and items written into avp.toml: nothing left to call
    (tmp_path / "avp.toml").write_text(
        f'[providers.sim]\nbase_url = "{sim.base_url}"\nmax_concurrency = 2\n\n'
        f'[[models]]\nid = "{ATLAS}"\nprovider = "sim"\n\n'
        f'[[models]]\nid = "{FLASH}"\nprovider = "sim"\n\n'
        '[[benchmarks]]\nname = "arc_agi"\nlimit = 3\n')
    since = time.time()
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "6 already done, 0 attempted" in done.stderr
    assert requests_for(sim, since) == []
    # with avp.toml present, --model picks its entry (id and price) for that provider and name
    with (tmp_path / "avp.toml").open("a") as out:
        out.write('\n[[models]]\nid = "cheap"\nprovider = "sim"\nmodel = "sim/mid-pro"\n'
                  'price = { input_per_m = 1.0, output_per_m = 2.0 }\n')
    done = run(tmp_path, "--model", "sim/sim/mid-pro", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["spent"] > 0  # priced by the entry's price table
    assert {c.model for c in stored(tmp_path)} == {ATLAS, FLASH, "cheap"}


def test_item_ranges_ids_and_epochs(sim: Any, tmp_path: Path) -> None:
    url = ("--model-base-url", sim.base_url)
    done = run(tmp_path, "--model", f"sim/{ATLAS}", *url, "--benchmarks", "arc_agi",
               "--limit", "2-4", "--epochs", "2")
    assert done.returncode == 0, done.stderr
    cells = stored(tmp_path)
    assert sorted({c.item_id for c in cells}) == sorted(arc_ids(4)[1:4])  # items 2 to 4
    assert sorted(c.sample for c in cells) == [0, 0, 0, 1, 1, 1]
    wanted = arc_ids(6)[5]
    done = run(tmp_path, "--model", f"sim/{ATLAS}", *url, "--benchmarks", "arc_agi",
               "--sample-id", wanted)
    assert done.returncode == 0, done.stderr
    assert "1 cells planned" in done.stderr
    assert {c.item_id for c in stored(tmp_path)} == set(arc_ids(4)[1:4]) | {wanted}


def test_generation_options_make_new_cells_and_provider_options_do_not(
    sim: Any, tmp_path: Path
) -> None:
    base = ("--model", f"sim/{ATLAS}", "--model-base-url", sim.base_url,
            "--benchmarks", "arc_agi", "--limit", "2")
    assert run(tmp_path, *base).returncode == 0
    since = time.time()
    done = run(tmp_path, *base, "--max-connections", "1", "--timeout", "30")
    assert done.returncode == 0 and requests_for(sim, since) == []
    done = run(tmp_path, *base, "--temperature", "0.5", "--max-tokens", "4000",
               "--reasoning-effort", "low")
    assert done.returncode == 0, done.stderr
    assert len(requests_for(sim, since)) == 2
    assert len({c.config_hash for c in stored(tmp_path)}) == 2


@pytest.mark.parametrize(("args", "says"), [
    (["--limit", "0-3"], "argument --limit"),
    (["--limit", "ten"], "argument --limit"),
    (["--temperature", "3"], "argument --temperature"),
    (["--temperature", "nan"], "argument --temperature"),
    (["--max-tokens", "0"], "argument --max-tokens"),
    (["--max-connections", "-2"], "argument --max-connections"),
    (["--timeout", "0"], "argument --timeout"),
    (["--epochs", "0"], "argument --epochs"),
    (["--budget", "-1"], "argument --budget"),
    (["--budget", "nan"], "argument --budget"),
    (["--reasoning-effort", "huge"], "argument --reasoning-effort"),
    (["--model", "noslash"], "expected PROVIDER/NAME"),
    (["--model", "nowhere/x"], "unknown provider 'nowhere'"),
    (["--benchmarks", "arc"], "ambiguous 'arc'"),
    (["--benchmarks", "nosuch"], "unknown benchmark 'nosuch'"),
    (["--sample-id", "no-such-item"], "no item with id 'no-such-item'"),
    (["--model-base-url", "ftp://x"], "must be an http(s) URL"),
])
def test_bad_values_are_refused_in_one_line(
    sim: Any, tmp_path: Path, args: list[str], says: str
) -> None:
    model = [] if args[0] == "--model" else ["--model", f"sim/{ATLAS}"]
    url = [] if "--model-base-url" in args or args[0] == "--model" else [
        "--model-base-url", sim.base_url]
    since = time.time()
    done = run(tmp_path, *model, *url, "--benchmarks", "arc_agi", "--limit", "1", *args)
    assert done.returncode == 2
    assert says in one_line(done.stderr)
    assert requests_for(sim, since) == []


def test_without_avp_toml_a_model_and_benchmarks_are_needed(tmp_path: Path) -> None:
    done = run(tmp_path, "--benchmarks", "arc_agi")
    assert done.returncode == 2 and "config file not found" in one_line(done.stderr)
    done = run(tmp_path, "--model", "openrouter/x/y")
    assert done.returncode == 2 and "name the benchmarks to run" in one_line(done.stderr)
