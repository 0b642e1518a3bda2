"""A benchmark's sampling temperature in avp.toml (`samples = 10`, `temperature = 0.7`: the
samples the Avengers' Self-Consistency votes over) reaches every call on that benchmark, and only
there, and is part of the cells' fingerprints (a run at another temperature makes new cells)."""

from __future__ import annotations

from pathlib import Path

import pytest

from avp_harness.collect.plan import build_plan
from avp_harness.config import load_config
from avp_harness.errors import ConfigError
from avp_harness.gateway.client import ModelClient

BASE = """\
[providers.sim]
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "sim/atlas-xl"
provider = "sim"

[[models]]
id = "sim/mid-pro"
provider = "sim"
temperature = 0.2

[[benchmarks]]
name = "arc_agi"
limit = 2
samples = 3
{extra}
[[benchmarks]]
name = "humaneval"
limit = 2
"""


def plan(tmp_path: Path, extra: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "avp.toml"
    path.write_text(BASE.format(extra=extra))
    return build_plan(load_config(path)), load_config(path)


def test_the_benchmark_temperature_reaches_its_calls_only(tmp_path: Path) -> None:
    sampled, config = plan(tmp_path, "temperature = 0.7\n")
    cells = list(sampled.cells())
    arc = [c for c in cells if c.key.benchmark == "arc_agi"]
    other = [c for c in cells if c.key.benchmark == "humaneval"]
    assert len(arc) == 2 * 3 * 2 and {c.key.sample for c in arc} == {0, 1, 2}
    assert {c.model.temperature for c in arc} == {0.7}
    assert {(c.model.id, c.model.temperature) for c in other} == {
        ("sim/atlas-xl", 0.0), ("sim/mid-pro", 0.2)}
    client = ModelClient(config.provider_for(arc[0].model))
    body = client.request_body(arc[0].model, [{"role": "user", "content": "x"}], seed=1)
    assert body["temperature"] == 0.7

    plain, _ = plan(tmp_path, "")
    before = {c.key for c in plain.cells()}
    after = {c.key for c in cells}
    assert {k for k in before if k.benchmark == "humaneval"} <= after  # untouched
    assert not {k for k in before if k.benchmark == "arc_agi"} & after  # new cells


def test_a_bad_temperature_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="temperature"):
        plan(tmp_path, "temperature = 3\n")
