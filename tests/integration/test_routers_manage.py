"""`avp routers list` (a header, `--json`) and `avp routers import`, which never creates a store
at a mistyped path (unless --create) nor replaces a router of the same name (unless --force; or
--as NEW_NAME), on real SQLite stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_router_cli import db, run  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration


def test_list_has_a_header_and_json(db: str, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, "fit", "--name", "second", "--embedding", "tfidf", "--clusters", "3",
        "--kind", "knn", "--db", db)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "routers", "list", "--db", db)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["name", "kind", "models", "items", "embedding"]
    assert lines[1].startswith("─") and all(len(line) <= 80 for line in lines)
    assert [line.split()[0] for line in lines[2:]] == ["main", "second"]
    code, out, _ = run(capsys, "routers", "list", "--db", db, "--json")
    rows = json.loads(out)
    assert [(r["name"], r["kind"], r["models"], r["items"]) for r in rows] == [
        ("main", "faithful", 3, 90), ("second", "knn", 3, 90)]
    assert 0 < rows[0]["best_router_accuracy"] <= 1


def test_import_refuses_a_path_that_is_not_a_store(db: str, tmp_path: Path,  # noqa: F811
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "routers", "export", "main", str(tmp_path / "exp"), "--db", db)
    typo = tmp_path / "rusn.db"
    code, out, err = run(capsys, "routers", "import", str(tmp_path / "exp"), "--db", str(typo))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "no store at" in err and "--create" in err
    assert not typo.exists()
    code, out, err = run(capsys, "routers", "import", str(tmp_path / "exp"), "--db", str(typo),
                         "--create")
    assert code == 0 and typo.exists() and "imported router 'main'" in out


def test_import_keeps_a_router_of_the_same_name(db: str, tmp_path: Path,  # noqa: F811
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "routers", "export", "main", str(tmp_path / "exp"), "--db", db)
    run(capsys, "fit", "--name", "main", "--embedding", "tfidf", "--clusters", "2", "--top-k", "1",
        "--db", db)
    shown = json.loads(run(capsys, "routers", "show", "main", "--db", db)[1])
    assert shown["params"]["estimator"]["n_clusters"] == 2

    code, out, err = run(capsys, "routers", "import", str(tmp_path / "exp"), "--db", db)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "already has a router named 'main'" in err and "--force" in err and "--as" in err
    assert json.loads(run(capsys, "routers", "show", "main", "--db", db)[1]) == shown

    code, out, err = run(capsys, "routers", "import", str(tmp_path / "exp"), "--db", db,
                         "--as", "main6")
    assert code == 0, err
    assert json.loads(run(capsys, "routers", "show", "main6", "--db", db)[1])[
        "params"]["estimator"]["n_clusters"] == 6
    assert json.loads(run(capsys, "routers", "show", "main", "--db", db)[1]) == shown

    code, out, err = run(capsys, "routers", "import", str(tmp_path / "exp"), "--db", db,
                         "--force")
    assert code == 0, err
    assert json.loads(run(capsys, "routers", "show", "main", "--db", db)[1])[
        "params"]["estimator"]["n_clusters"] == 6
