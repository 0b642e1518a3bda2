"""Which store a command opens: `--db` > `$AVP_DB` > the config's `db` > ./runs.db, the same for
every command (regression: `fit`, `routers list`, `cells`, `progress`, `report` and others ignored
`db` in avp.toml and said "no store at .../runs.db")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avp_harness.cli import main


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("choice") / "demo"
    code = main(["demo", "--dir", str(folder), "--arc", "6", "--humaneval", "0",
                 "--latency-scale", "0", "--faults", "", "--progress", "none"])
    assert code == 0
    return folder / "runs.db"


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: Path) -> Path:
    """A folder whose avp.toml names the demo store by a path relative to the file."""
    monkeypatch.chdir(tmp_path)
    for name in ("AVP_CONFIG", "AVP_DB", "AVP_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "stores").mkdir()
    (tmp_path / "stores" / "cfg.db").write_bytes(demo_store.read_bytes())
    (tmp_path / "avp.toml").write_text('db = "stores/cfg.db"\n', encoding="utf-8")
    return tmp_path / "stores" / "cfg.db"


COMMANDS = [
    ["status", "--json"],
    ["cells", "--json"],
    ["progress", "--json"],
    ["report", "--json"],
    ["fit", "--name", "r", "--embedding", "tfidf", "--clusters", "2", "--top-k", "1"],
    ["routers", "list"],
    ["export", "avengers-pro", "records.jsonl"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_every_command_opens_the_config_db(
    in_project: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "no store" not in err
    assert not (in_project.parent.parent / "runs.db").exists()  # no empty ./runs.db made


def test_db_flag_and_env_win_over_the_config(
    in_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    assert main(["status", "--json", "--db", str(other)]) != 0  # no store there: not the config's
    capsys.readouterr()
    monkeypatch.setenv("AVP_DB", str(other))
    assert main(["cells", "--json"]) != 0
    assert "other.db" in capsys.readouterr().err
    monkeypatch.setenv("AVP_DB", str(in_project))
    assert main(["cells", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_a_broken_config_is_one_line(in_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("avp.toml").write_text("db = [\n", encoding="utf-8")
    assert main(["cells"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "avp.toml" in err


def test_compare_on_a_missing_store_makes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AVP_DB", raising=False)
    assert main(["compare", "--db", "typo.db"]) != 0
    assert "no store" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()

