"""`avp clusters` on a demo-like store (the simulated provider on ARC-AGI and HumanEval): each
cluster is shown by what sets it apart (its distinguishing terms, its members' most distinctive
sentences), not by the start of its prompts (before: 7 of 8 clusters read "Complete the
following Python function...")."""

from __future__ import annotations

import json

import pytest

from avp_harness.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("clusters") / "demo"
    code = main(["demo", "--dir", str(folder), "--arc", "12", "--humaneval", "48",
                 "--latency-scale", "0", "--faults", "", "--progress", "none"])
    assert code == 0
    db = str(folder / "runs.db")
    assert main(["fit", "--name", "main", "--embedding", "tfidf", "--clusters", "8",
                 "--db", db]) == 0
    return db


def test_clusters_are_shown_by_what_sets_them_apart(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["clusters", "main", "--db", db, "--json"]) == 0
    clusters = json.loads(capsys.readouterr().out)["clusters"]
    assert len(clusters) == 8
    firsts = [c["samples"][0] for c in clusters if c["samples"]]
    assert len(set(firsts)) == len(firsts)  # no two clusters show the same sample
    template = [s for s in firsts if s.startswith("Complete the following Python function")]
    assert len(template) <= 1
    for a in clusters:
        assert a["terms"] and all("\n" not in s for s in a["samples"])
        for b in clusters:
            if a["id"] < b["id"]:
                assert not set(a["samples"]) & set(b["samples"]), (a, b)
                assert a["terms"] != b["terms"]


def test_the_text_form_prints_terms_and_samples_on_one_line_each(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    assert main(["clusters", "main", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("terms: ") for line in lines) == 8
    assert all(len(line) <= 80 for line in lines if line.startswith(("terms", "  - ")))
