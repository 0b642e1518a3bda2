"""Faithful mode makes the published Avengers-Pro reference code's decisions, exactly.

The fixture (`../shared/data/reference/avengers_pro_routerbench`, see its README) holds what the
reference (`balance_cluster_router.py`) decided for every test query of the RouterBench subset,
for K = 10 and 25 clusters and α in {0, 0.25, 0.5, 0.75, 1}, with the embedding vectors it used.
Fed the same records and vectors, avp must make the same choice for 100% of the test queries,
find the same clusters (KMeans labels of the training rows, in the reference's row order) and
report the same accuracy and total cost.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from avp_harness.cli import main
from avp_harness.embed.file import FileEmbedder
from avp_harness.routing import AvengersProRouter, RouterSpec, run_sweep
from avp_harness.routing.records import read_avengers_jsonl
from avp_harness.routing.split import split_data
from tests.conftest import shared_path

pytestmark = pytest.mark.integration

FOLDER = ("reference", "avengers_pro_routerbench")


def reference(k: int) -> dict:
    return json.loads(shared_path(*FOLDER, f"decisions_k{k}.json").read_text())


@pytest.fixture(scope="module")
def data():
    records = read_avengers_jsonl(shared_path(*FOLDER, "records.jsonl"))
    vectors = FileEmbedder(shared_path(*FOLDER, "vectors.npz"))
    return records.with_embeddings(vectors.embed(list(records.texts)))


@pytest.mark.parametrize("k", [10, 25])
def test_faithful_mode_makes_every_reference_decision(data, k):
    ref = reference(k)
    split = split_data(data, seed=ref["seed"])  # faithful: missing cells dropped first
    assert len(split.dropped) == 14 and len(split.test) == ref["runs"][0]["n_test"]
    train = split.train
    router = AvengersProRouter(n_clusters=k, top_k=ref["top_k"], beta=ref["beta"],
                               random_state=ref["seed"]).fit(data.X[train], data.A[train],
                                                             data.C[train])
    alphas = np.array([run["alpha"] for run in ref["runs"]])
    sweep = run_sweep(data, RouterSpec(kind="faithful"), seed=ref["seed"], alphas=alphas,
                      router=router)
    key = {(str(data.datasets[i]), int(data.index[i])): n for n, i in enumerate(split.test)}
    choice = router.route_curve(data.X[split.test], alphas)
    for a, run in enumerate(ref["runs"]):
        assert run["models"] == list(data.models)
        assert router.labels_.tolist() == run["train_labels"]  # the same clusters
        ours = [data.models[choice[a, key[(t["dataset"], t["index"])]]] for t in run["test"]]
        theirs = [t["choice"] for t in run["test"]]
        agree = np.mean([o == t for o, t in zip(ours, theirs, strict=True)])
        assert agree == 1.0, f"K={k} alpha={run['alpha']}: {agree:.2%} agreement"
        assert sweep.accuracy[a] == pytest.approx(run["accuracy"], rel=1e-12)
        assert sweep.cost[a] == pytest.approx(run["total_cost"], rel=1e-12)


def test_cli_import_fit_sweep_decisions_agree_with_the_reference(tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    records = shared_path(*FOLDER, "records.jsonl")
    vectors = shared_path(*FOLDER, "vectors.npz")
    assert main(["import", "avengers-pro", str(records), "--db", db]) == 0
    assert main(["fit", "--name", "k25", "--embedding", f"file:{vectors}", "--clusters", "25",
                 "--db", db]) == 0
    out = capsys.readouterr().out
    assert "14 items dropped before the split" in out
    decisions = tmp_path / "decisions.jsonl"
    assert main(["sweep", "k25", "--alphas", "0,0.25,0.5,0.75,1", "--decisions", str(decisions),
                 "--db", db]) == 0
    lines = [json.loads(line) for line in decisions.read_text().splitlines()]
    ref = reference(25)
    assert len(lines) == sum(len(run["test"]) for run in ref["runs"]) == 5 * 947
    ours = {(d["alpha"], d["dataset"], d["index"]): d["models"] for d in lines}
    agree = [ours[(run["alpha"], t["dataset"], t["index"])] == [t["choice"]]
             for run in ref["runs"] for t in run["test"]]
    assert np.mean(agree) == 1.0
    first = lines[0]
    assert set(first) >= {"alpha", "dataset", "item_id", "index", "models", "score",
                          "router_score", "cost"}
