"""The Avengers and JiSi router-only on the real RouterBench records (11 models, their real
response texts, correctness and dollars), and `avp compare` on them end to end.

The vectorised routers must take the literal loop-by-loop decisions of
`tests/unit/test_routing_collab.py` on real queries and real responses.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import numpy as np
import pytest

from avp_harness.app.responses import approx_tokens
from avp_harness.app.routing import load_data
from avp_harness.cli import main
from avp_harness.embed.tfidf import TfidfEmbedder
from avp_harness.routing.avengers_ensemble import AvengersRouter
from avp_harness.routing.jisi import JiSiRouter
from avp_harness.routing.split import split_data
from avp_harness.store import Store
from avp_harness.store.routing import sample_table
from tests.conftest import shared_path
from tests.unit.test_routing_collab import check_jisi, literal_avengers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    folder = shared_path("records", "routerbench_subset")
    path = str(tmp_path_factory.mktemp("rb") / "runs.db")
    assert main(["import", "routerbench", str(folder), "--db", path]) == 0
    return path


@pytest.fixture(scope="module")
def bank(db):
    """Queries, responses (sample 0 of every cell), TF-IDF fitted on the training texts only."""
    with Store.open(db) as store:
        data = load_data(store, None, None)
        keys = list(zip(data.datasets.tolist(), data.item_ids, strict=True))
        table = sample_table(store, rows=keys, models=data.models, samples=1)
    texts = table.texts[:, :, 0]
    split = split_data(data, seed=42)  # the split `avp compare` uses
    train, test = split.train, split.test
    corpus = [data.texts[i] for i in train] + [t for t in texts[train].ravel() if t]
    tfidf = TfidfEmbedder(dim=64).fit(corpus)
    X = tfidf.embed(list(data.texts))
    flat = [t or "" for t in texts.ravel()]
    R = tfidf.embed(flat).reshape(texts.shape + (X.shape[1],))
    T = np.vectorize(approx_tokens, otypes=[float])(texts)
    return data, X, R, T, train, test


def test_every_scored_cell_keeps_its_response_text(bank):
    """`avp import routerbench` keeps `<model>|model_response` as the cell's response."""
    data, X, R, T, _, _ = bank
    assert data.n == 3164 and R.shape == (3164, 11, X.shape[1])
    scored = ~np.isnan(data.A)
    assert (T[scored] > 0).all()  # a text (and so a token count) for every scored cell
    assert (T[~scored] == 0).all()  # a missing score wrote no cell and no text


def test_avengers_decisions_equal_the_literal_loops_on_real_records(bank):
    data, X, _, _, train, test = bank
    router = AvengersRouter(n_clusters=25, top_k=3, beta=3.0, top_n=2).fit(
        X[train], data.A[train], data.C[train])
    expected = literal_avengers(router.labels_.tolist(), data.A[train].tolist(),
                                router.centroids_.tolist(), X[test], 3, 3.0, 2)
    assert router.select(X[test]).models[0].tolist() == expected


def test_jisi_decisions_equal_the_literal_loops_on_real_records(bank):
    data, X, R, T, train, test = bank
    router = JiSiRouter().fit(X[train], data.A[train], data.C[train],
                              response_vectors=R[train], response_tokens=T[train])
    rows = test[::10]  # every dataset, 95 queries: the literal loops are slow
    d = check_jisi(router, X, R, T, rows)
    assert len(set(d.chosen.tolist())) > 1  # not a constant choice


def test_compare_end_to_end_on_the_imported_store(db, capsys, tmp_path):
    capsys.readouterr()
    args = ["compare", "--db", db, "--embedding", "tfidf", "--avengers-clusters", "25"]
    assert main([*args, "--json", "--seeds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = {s["name"] for s in out["systems"]}
    models = out["models"]
    assert set(models) <= names
    assert {"oracle", "random", "cheapest", "best_per_benchmark", "avengers (direct)",
            "jisi (router-only)"} <= names
    assert any(n.startswith("avengers-pro a=") for n in names)
    for s in out["systems"]:
        low, high = s["accuracy_95"]
        assert 0.0 <= low <= s["accuracy"] <= high <= 1.0, s["name"]
        assert set(s["per_benchmark"]) == {"arc-challenge", "mbpp", "winogrande"}
    by_name = {s["name"]: s for s in out["systems"]}
    assert not by_name["oracle"]["pareto"]  # a bound, not a system on the frontier
    assert by_name[models[0]]["calls"] == by_name["avengers (direct)"]["calls"]
    jisi = by_name["jisi (router-only)"]
    single = next(s for s in out["systems"] if s["name"] == models[0])
    assert 3 * single["calls"] <= jisi["calls"] <= 4 * single["calls"]  # K = 3 calls, or 4
    # one sample per cell: Self-Consistency and Model-Switch say why they are not evaluated
    assert "10 stored sample" in out["skipped"]["avengers SC (n=10)"]
    assert "aggregator" in out["skipped"]["jisi (full, with aggregator)"]
    assert main([*args, "--csv", "--methods", "baselines", "jisi"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["family"] for r in rows} == {"single", "baseline", "jisi"}


def test_plot_writes_a_png_or_names_the_missing_extra(db, capsys, tmp_path):
    png = tmp_path / "c.png"
    code = main(["compare", "--db", db, "--embedding", "tfidf", "--methods", "baselines",
                 "--plot", str(png)])
    if importlib.util.find_spec("matplotlib") is None:
        assert code == 2 and "avp-harness[plot]" in capsys.readouterr().err
    else:
        assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_compare_mistakes_are_one_line_errors(db, capsys):
    assert main(["compare", "--db", db, "--embedding", "tfidf", "--seeds", "0"]) == 2
    assert main(["compare", "--db", db, "--models", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("avp: error:") for e in err)


def test_a_strong_weak_pair_skips_jisi_with_the_reason(db, capsys):
    capsys.readouterr()
    assert main(["compare", "--db", db, "--embedding", "tfidf", "--json", "--methods",
                 "baselines", "jisi", "--models", "gpt-4-1106-preview",
                 "mistralai/mistral-7b-chat"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "n_candidates=3" in out["skipped"]["jisi (router-only)"]
    assert len([s for s in out["systems"] if s["family"] == "single"]) == 2
