"""A new benchmark is one module plus one registry line: tests/integration/tiny_benchmark.py,
registered here, is configured (with an options table), planned, collected against the simulator
(which answers prompts it does not know generically), graded, reported by `avp report` with its
own metrics, listed by `avp benchmarks list` and graded by `avp grade`, with no CLI code naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import benchmarks
from avp_harness.cli import main
from avp_harness.collect.runner import Collector
from avp_harness.config import load_config
from avp_harness.errors import ConfigError
from avp_harness.sim.server import SimServer
from avp_harness.store import Store

pytestmark = pytest.mark.integration

MODULE = "tests.integration.tiny_benchmark"


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(benchmarks.REGISTRY, "tiny_sums", MODULE)  # the one registry line
    monkeypatch.chdir(tmp_path)
    for name in ("AVP_CONFIG", "AVP_DB", "AVP_BUDGET"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, base_url: str, options: str = "offset = 1") -> Path:
    path = tmp_path / "avp.toml"
    path.write_text(f"""\
db = "runs.db"
[providers.sim]
base_url = "{base_url}"
timeout_s = 10
[[models]]
id = "sim/flash-mini"
provider = "sim"
price = {{ input_per_m = 0.1, output_per_m = 0.4 }}
[[models]]
id = "sim/atlas-xl"
provider = "sim"
price = {{ input_per_m = 2.0, output_per_m = 8.0 }}
[[benchmarks]]
name = "tiny_sums"
limit = 5
options = {{ {options} }}
""", encoding="utf-8")
    return path


def test_a_new_benchmark_runs_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SimServer(latency_scale=0.0, extra_benchmarks={"tiny_sums": MODULE},
                   index_only=["tiny_sums"]) as sim:
        config = load_config(write_config(tmp_path, sim.base_url))
        assert config.benchmarks[0].options == {"offset": 1}
        with Store.open(config.db) as store:
            summary: Any = asyncio_run(Collector(config, store).run())
            assert summary.status == "completed" and summary.ok == 2 * 5
            cells = store.cells(benchmark="tiny_sums")
            scores = {m: [c.score for c in cells if c.model == m] for m in ("sim/flash-mini",
                                                                            "sim/atlas-xl")}
            items = {c.item_id for c in cells}
    assert items == {f"sum-{n}" for n in range(5)}

    code, out, err = run(capsys, "report", "--benchmark", "tiny_sums", "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)["tiny_sums"]
    for model, model_scores in scores.items():
        row = report[model]
        assert row["n"] == 5 and row["accuracy"] == pytest.approx(sum(model_scores) / 5)
        assert 0 <= row["answered"] <= 5 and row["planned"] == 5
    code, out, _ = run(capsys, "report", "--benchmark", "tiny_sums")
    assert code == 0 and "answered" in out and "sim/atlas-xl" in out

    code, out, _ = run(capsys, "benchmarks", "list", "--json")
    (row,) = [r for r in json.loads(out) if r["name"] == "tiny_sums"]
    assert (row["data_present"], row["data"]) == (True, "built into the module")
    assert (row["grader"], row["needs_judge"]) == ("tiny_last_number", False)
    code, out, _ = run(capsys, "benchmarks", "show", "tiny_sums")
    assert code == 0 and "Tiny sums: six additions" in out and "present" in out

    answer = tmp_path / "answer.txt"
    answer.write_text("40 plus 2 is 42", encoding="utf-8")
    code, out, _ = run(capsys, "grade", "tiny_sums", "sum-0", "--response", str(answer))
    assert code == 0 and json.loads(out)["score"] == 1.0


def test_its_options_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9/v1", options="offset = 'one'")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "benchmarks[0].options.offset"
    assert "must be an integer" in info.value.reason


def asyncio_run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)
