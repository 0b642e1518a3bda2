"""`avp import / fit / sweep / route / routers / export` end to end on a real SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from avp_harness.cli import main

TOPICS = {
    "algebra": "solve the equation for x and simplify the polynomial expression",
    "poetry": "write a short poem about the sea and the moon in rhyming verse",
    "python": "write a python function that sorts a list and returns the result",
}
EXTRA = ["apples", "rivers", "numbers", "trains", "clouds", "engines", "letters", "stones"]
MODELS = {"small": 0.001, "medium": 0.01, "large": 0.1}
SKILL = {
    "small": {"algebra": 0.2, "poetry": 0.9, "python": 0.3},
    "medium": {"algebra": 0.5, "poetry": 0.9, "python": 0.9},
    "large": {"algebra": 0.95, "poetry": 0.9, "python": 0.95},
}


def records(models=MODELS, n=90, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        topic = list(TOPICS)[i % 3]
        scores = {m: float(rng.uniform() < SKILL[m][topic]) for m in models}
        lines.append(
            json.dumps(
                {
                    "query": f"{TOPICS[topic]} about {' '.join(rng.choice(EXTRA, 3))}",
                    "records": scores,
                    "usages": {m: {"cost": models[m]} for m in models},
                    "dataset": "mixed" if i % 2 else "other",
                    "index": i,
                }
            )
        )
    return "\n".join(lines) + "\n"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def db(tmp_path, capsys):
    source = tmp_path / "records.jsonl"
    source.write_text(records())
    path = str(tmp_path / "runs.db")
    code, out, _ = run(capsys, "import", "avengers-pro", str(source), "--db", path)
    assert code == 0 and "90 items, 3 models, 270 cells" in out
    code, out, _ = run(
        capsys, "fit", "--name", "main", "--embedding", "tfidf", "--clusters", "6", "--db", path
    )
    assert code == 0 and "router 'main' (faithful, 3 models, 90 items" in out
    return path


def test_sweep_json_and_csv(db, capsys):
    code, out, _ = run(
        capsys, "sweep", "main", "--alphas", "0:1:0.25", "--seeds", "2", "--json", "--db", db
    )
    report = json.loads(out)
    assert code == 0 and [p["alpha"] for p in report["curve"]] == [0, 0.25, 0.5, 0.75, 1]
    assert report["curve"][0]["usage"]["small"] == 1.0  # α = 0: the cheapest model everywhere
    assert set(report["single_models"]) == set(MODELS)
    assert {"oracle", "random", "cheapest", "best_per_benchmark"} == set(report["baselines"])
    assert (
        report["intervals_95"]["router_max_accuracy"]["low"]
        <= report["intervals_95"]["router_max_accuracy"]["mean"]
    )
    code, out, _ = run(capsys, "sweep", "main", "--alphas", "0,1", "--csv", "--db", db)
    lines = out.strip().splitlines()
    assert lines[0].startswith("alpha,accuracy,cost,pareto,share:large") and len(lines) == 3
    code, out, _ = run(capsys, "sweep", "main", "--db", db)
    assert "models and baselines above the router frontier" in out and "[oracle]" in out


def test_route_one_and_many(db, capsys, tmp_path):
    code, out, _ = run(
        capsys, "route", "main", "solve the equation for x", "--alpha", "1", "--json", "--db", db
    )
    answer = json.loads(out)
    assert code == 0 and answer["model"] == "large" and set(answer["scores"]) == set(MODELS)
    code, out, _ = run(
        capsys, "route", "main", "solve the equation for x", "--alpha", "0", "--db", db
    )
    assert out.splitlines()[0].startswith("small")
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "write a poem"}\n{"query": "sort a list in python"}\n')
    code, out, _ = run(capsys, "route", "main", "--file", str(queries), "--json", "--db", db)
    assert code == 0 and len(out.strip().splitlines()) == 2


def test_routers_export_import_and_records_roundtrip(db, capsys, tmp_path):
    code, out, _ = run(capsys, "routers", "export", "main", str(tmp_path / "exp"), "--db", db)
    other = str(tmp_path / "other.db")
    code, out, _ = run(capsys, "routers", "import", str(tmp_path / "exp"), "--db", other,
                       "--create")
    assert code == 0
    code, out, _ = run(capsys, "routers", "list", "--db", other)
    assert out.splitlines()[2].startswith("main") and "faithful" in out
    code, out, _ = run(capsys, "routers", "show", "main", "--db", db)
    shown = json.loads(out)
    assert shown["fitted_on"]["models"] == sorted(MODELS) and shown["params"]["seed"] == 42
    code, out, _ = run(capsys, "export", "avengers-pro", str(tmp_path / "out.jsonl"), "--db", db)
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 90 and rows[0]["usages"]["large"]["cost"] == 0.1


def test_refit_after_a_new_model_keeps_clusters(db, capsys, tmp_path):
    code, out, _ = run(capsys, "routers", "export", "main", str(tmp_path / "before"), "--db", db)
    newcomer = tmp_path / "new.jsonl"
    SKILL["newbie"] = {"algebra": 0.9, "poetry": 0.9, "python": 0.9}
    newcomer.write_text(records({"newbie": 0.002}, n=60, seed=1))  # only 60 of 90 items
    run(capsys, "import", "avengers-pro", str(newcomer), "--db", db)
    code, out, _ = run(capsys, "fit", "--name", "main", "--refit", "--db", db)
    assert code == 0 and "refitted" in out and "newbie 30" in out  # missing cells reported
    code, out, _ = run(capsys, "routers", "show", "main", "--db", db)
    assert "newbie" in json.loads(out)["fitted_on"]["models"]
    before = np.load(tmp_path / "before" / "arrays.npz")["centroids_"]
    run(capsys, "routers", "export", "main", str(tmp_path / "after"), "--db", db)
    np.testing.assert_array_equal(np.load(tmp_path / "after" / "arrays.npz")["centroids_"], before)


def test_user_mistakes_are_one_line_errors(db, capsys, tmp_path):
    cases = [
        (("sweep", "nope", "--db", db), "no router named 'nope'"),
        (("sweep", "main", "--alphas", "1:0:1", "--db", db), "bad alpha grid"),
        (("route", "main", "--db", db), "give a query text or --file"),
        (("import", "routerbench", str(tmp_path / "absent"), "--db", db), "no such file"),
        (
            ("fit", "--name", "x", "--models", "ghost", "--embedding", "tfidf", "--db", db),
            "no graded cells",
        ),
        (("fit", "--name", "x", "--embedding", "word2vec", "--db", db), "unknown backend"),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_cli_in_a_subprocess(db):
    proc = subprocess.run(
        [sys.executable, "-m", "avp_harness.cli", "route", "main", "poem", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.split()[0] in MODELS


def test_onboard_plans_calls_from_partial_cells(db, capsys, tmp_path, monkeypatch):
    SKILL["rookie"] = {"algebra": 0.99, "poetry": 0.99, "python": 0.99}
    partial = tmp_path / "rookie.jsonl"
    partial.write_text(records({"rookie": 0.0005}, n=30, seed=2))  # 30 of the 90 items
    run(capsys, "import", "avengers-pro", str(partial), "--db", db)
    code, out, _ = run(
        capsys,
        "onboard",
        "rookie",
        "--router",
        "main",
        "--budget",
        "4",
        "--plan-only",
        "--alpha",
        "0.5",
        "--db",
        db,
    )
    assert code == 0 and out.startswith("rookie: 30 cells evaluated")
    assert "choice changes in" in out and "-> rookie" in out  # strong and cheap: it takes over
    planned = [
        line
        for line in out.splitlines()
        if line.startswith("  other/") or line.startswith("  mixed/")
    ]
    assert 0 < len(planned) <= 4
    monkeypatch.chdir(tmp_path)  # no avp.toml here: calling the model needs one
    code, _, err = run(capsys, "onboard", "rookie", "--router", "main", "--budget", "4", "--db", db)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_plot_writes_a_png_or_names_the_missing_extra(db, capsys, tmp_path):
    out = tmp_path / "frontier.png"
    code, _, err = run(
        capsys, "sweep", "main", "--alphas", "0:1:0.5", "--plot", str(out), "--db", db
    )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert code == 2 and "pip install 'avp-harness[plot]'" in err
    else:
        assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
