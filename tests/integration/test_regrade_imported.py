"""`avp regrade` on a store holding imported records (`avp import`): their benchmarks may be
unknown to avp (RouterBench's 'arc-challenge') and they carry no answer to grade again, so they are
skipped and counted, never a stop and never a grade rewritten from an empty answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avp_harness.cli import main
from avp_harness.store import Store

pytestmark = pytest.mark.integration


def write_records(path: Path) -> None:
    lines = []
    for i, dataset in enumerate(["arc-challenge"] * 4 + ["mbpp"] * 2 + ["mmlu_pro"] * 3):
        scores = {"m1": float(i % 2), "m2": 1.0}
        lines.append(json.dumps({"query": f"question {i} about {dataset}", "records": scores,
                                 "usages": {"m1": {"cost": 0.001}, "m2": {"cost": 0.01}},
                                 "dataset": dataset, "index": i}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_regrade_skips_imported_records_and_says_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AVP_CONFIG", raising=False)
    monkeypatch.delenv("AVP_DB", raising=False)
    source, db = tmp_path / "records.jsonl", str(tmp_path / "runs.db")
    write_records(source)
    assert main(["import", "avengers-pro", str(source), "--db", db]) == 0
    capsys.readouterr()
    with Store.open(db, create=False) as store:
        before = sorted((c.model, c.item_id, c.score) for c in store.cells())

    code = main(["regrade", "--db", db])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "unknown benchmark" not in err
    # 4 + 2 records x 2 models under names avp does not know, 3 x 2 under a name it knows
    assert "skipped 12 cells of 2 benchmarks avp does not know" in err
    assert "arc-challenge" in err and "mbpp" in err
    assert "mmlu_pro: 0 cells regraded" in out and "6 imported cells skipped" in out

    code = main(["regrade", "--db", db, "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "skipped 12 cells" in err
    (summary,) = json.loads(out)
    assert (summary["benchmark"], summary["examined"], summary["skipped"]) == ("mmlu_pro", 0, 6)
    with Store.open(db, create=False) as store:
        assert sorted((c.model, c.item_id, c.score) for c in store.cells()) == before


def test_regrade_of_a_named_unknown_benchmark_is_still_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, db = tmp_path / "records.jsonl", str(tmp_path / "runs.db")
    write_records(source)
    assert main(["import", "avengers-pro", str(source), "--db", db]) == 0
    capsys.readouterr()
    code = main(["regrade", "--db", db, "--benchmark", "arc-challenge"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown benchmark 'arc-challenge'" in err
