"""`avp cells` on a store the simulated provider filled: a header, one line per cell (answers
with line breaks shown as ⏎), an explicit line when the listing is cut, and a one-line error
naming the store's models / benchmarks for an unknown name."""

from __future__ import annotations

import json

import pytest

from avp_harness.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("cells") / "demo"
    code = main(["demo", "--dir", str(folder), "--arc", "3", "--humaneval", "3",
                 "--latency-scale", "0", "--faults", "", "--progress", "none"])
    assert code == 0
    return str(folder / "runs.db")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["cells", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_one_line_per_cell_under_a_header(db: str, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    code, out, err = run(capsys, "--db", db, "--benchmark", "humaneval")
    assert code == 0 and err == ""  # 15 cells, all shown: nothing to say
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["id", "model", "benchmark", "item", "status", "score"]
    assert len(lines) == 1 + 15 and all(len(line) <= 120 for line in lines)
    code, listed, _ = run(capsys, "--db", db, "--benchmark", "humaneval", "--json")
    answers = [r["extracted"] for r in json.loads(listed)]
    assert any("\n" in (a or "") for a in answers)  # code answers span lines...
    assert "⏎" in out  # ...and are shown on one


def test_a_cut_listing_says_how_many_match(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", db, "--limit", "4")
    assert code == 0 and len(out.splitlines()) == 1 + 4
    assert "showing 4 of 30 cells; --limit N for more, --all for every one" in err
    code, out, err = run(capsys, "--db", db, "--all")
    assert code == 0 and len(out.splitlines()) == 1 + 30 and "showing" not in err
    code, out, err = run(capsys, "--db", db, "--limit", "4", "--json")
    assert len(json.loads(out)) == 4 and "showing 4 of 30" in err  # stdout stays JSON
    code, out, err = run(capsys, "--db", db, "--model", "sim/atlas-xl", "--status", "wrong",
                         "--limit", "1")
    wrong = int(err.split(" of ")[1].split()[0]) if err else len(out.splitlines()) - 1
    code, out, _ = run(capsys, "--db", db, "--model", "sim/atlas-xl", "--status", "wrong",
                       "--json", "--all")
    assert wrong == len(json.loads(out))  # the count follows the filter


@pytest.mark.parametrize(("option", "name", "known"), [
    ("--model", "sim/atlas", "sim/atlas-xl, sim/coder-7b"),
    ("--benchmark", "human_eval", "arc_agi, humaneval"),
])
def test_an_unknown_name_is_one_line_naming_those_that_exist(
    db: str, capsys: pytest.CaptureFixture[str], option: str, name: str, known: str
) -> None:
    code, out, err = run(capsys, "--db", db, option, name)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"{option} {name!r}" in err and known in err


def test_bad_limit_is_refused(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["cells", "--db", db, "--limit", "0"])
    assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err
