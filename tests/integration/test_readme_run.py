"""The README's router commands really run, as written, on a demo store (offline: the simulated
provider filled it): fit, sweep, route (text and JSON Lines), routers list / export / import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avp_harness.cli import main
from tests.unit.test_readme_commands import README, readme_commands

pytestmark = pytest.mark.integration


def routers_block() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index("avp fit --name main --db demo/runs.db --embedding tfidf")
    block = text[text.rindex("```sh", 0, start):text.index("```\n", start) + 4]
    return readme_commands(block)


def test_the_readme_router_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    commands = routers_block()
    assert [c[0] for c in commands] == ["fit", "sweep", "sweep", "route", "route", "routers",
                                        "routers", "routers"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AVP_DB", raising=False)
    monkeypatch.delenv("AVP_CONFIG", raising=False)
    assert main(["demo", "--arc", "10", "--humaneval", "30", "--latency-scale", "0",
                 "--faults", "", "--progress", "none"]) == 0
    Path("queries.jsonl").write_text('{"query": "Reverse a string"}\n{"query": "Sort a list"}\n')
    outputs = []
    for argv in commands:
        capsys.readouterr()
        assert main(argv) == 0, (argv, capsys.readouterr().err)
        outputs.append(capsys.readouterr().out)
    routed = [json.loads(line) for line in outputs[4].splitlines()]  # JSON Lines, as documented
    assert [r["query"] for r in routed] == ["Reverse a string", "Sort a list"]
    assert main(["routers", "list", "--db", "other.db", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["main-copy"]
