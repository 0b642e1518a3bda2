"""TF-IDF sees training texts only; `--embedding file:` errors; `--missing`; the pair note."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avp_harness.app.routing import load_data, load_router
from avp_harness.cli import main
from avp_harness.routing import RoutingData
from avp_harness.routing.persist import from_npz
from avp_harness.routing.split import split_data
from avp_harness.store import Store
from avp_harness.store.routing import get_router

pytestmark = pytest.mark.integration

N = 80
WORDS = ["river", "stone", "cloud", "engine", "letter", "number", "garden", "window"]


def write_records(path, models=("cheap", "strong"), test_word="zzqtestonly",
                  train_word="yyqtrainonly"):
    """N items; two words appear only in test texts / only in training texts (several each)."""
    index = np.arange(N)
    split = split_data(RoutingData(("m",), np.zeros((N, 1)), np.zeros((N, 1)),
                                   np.array(["d"] * N, dtype=object), index), seed=42)
    test = set(split.test.tolist())
    rng = np.random.default_rng(0)
    lines = []
    for i in range(N):
        marker = test_word if i in test else train_word
        text = f"question {' '.join(rng.choice(WORDS, 4))} {marker}"
        lines.append(json.dumps({
            "query": text, "dataset": "d", "index": int(i),
            "records": {m: float(rng.uniform() < (0.3 if m == "cheap" else 0.9)) for m in models},
            "usages": {m: {"cost": 0.001 if m == "cheap" else 0.05} for m in models},
        }))
    path.write_text("\n".join(lines) + "\n")
    return sorted(test)


@pytest.fixture()
def db(tmp_path):
    write_records(tmp_path / "r.jsonl")
    path = str(tmp_path / "runs.db")
    assert main(["import", "avengers-pro", str(tmp_path / "r.jsonl"), "--db", path]) == 0
    return path


def test_tfidf_is_fitted_on_training_texts_only(db, capsys):
    assert main(["fit", "--name", "t", "--embedding", "tfidf", "--clusters", "3",
                 "--db", db]) == 0
    with Store.open(db) as store:
        vocab = set(from_npz(get_router(store, "t").arrays)["tfidf_vocab"].tolist())
        loaded = load_router(store, "t")
        data = load_data(store, None, None)
    assert "yyqtrainonly" in vocab  # a training word is a feature...
    assert "zzqtestonly" not in vocab  # ...a word of test texts only is not
    X = loaded.embedding.embed(["zzqtestonly", "zzqtestonly river"])
    np.testing.assert_allclose(X[0], 0.0)  # nothing but a test-only word: no feature at all
    assert data.n == N


def test_pair_of_models_says_two_points_not_a_curve(db, capsys):
    assert main(["fit", "--name", "t", "--embedding", "tfidf", "--clusters", "3",
                 "--db", db]) == 0
    capsys.readouterr()
    assert main(["sweep", "t", "--alphas", "0:1:0.25", "--db", db]) == 0
    assert "two points" in capsys.readouterr().out


def test_file_embedding_errors_are_one_line(db, tmp_path, capsys):
    vectors = tmp_path / "v.npz"
    np.savez(vectors, texts=np.array(["something else"]), X=np.ones((1, 4)))
    code = main(["fit", "--name", "f", "--embedding", f"file:{vectors}", "--db", db])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert f"{N} of {N} texts have no vector, the first: 'question" in err
    code = main(["fit", "--name", "f", "--embedding", "file:", "--db", db])
    assert code != 0 and "file:PATH.npz" in capsys.readouterr().err


def test_missing_keep_is_stored_and_reported(tmp_path, capsys):
    source = tmp_path / "r.jsonl"
    write_records(source)
    lines = source.read_text().splitlines()
    first = json.loads(lines[0])
    del first["records"]["strong"]  # one item lacks a model's score
    lines[0] = json.dumps(first)
    source.write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "runs.db")
    assert main(["import", "avengers-pro", str(source), "--db", db]) == 0
    assert main(["fit", "--name", "d", "--embedding", "tfidf", "--clusters", "3",
                 "--db", db]) == 0
    assert "1 items dropped before the split" in capsys.readouterr().out
    assert main(["fit", "--name", "k", "--embedding", "tfidf", "--clusters", "3",
                 "--missing", "keep", "--db", db]) == 0
    assert "(keep): 0 items dropped before the split" in capsys.readouterr().out
    with Store.open(db) as store:
        assert load_router(store, "k").missing == "keep"
        assert load_router(store, "d").missing == "drop-first"


def test_local_token_budget_is_stored_and_old_routers_keep_256(db, capsys):
    from dataclasses import replace

    from avp_harness.embed.local import DYNAMIC_ID, MODEL_ID
    from avp_harness.store.routing import save_router

    assert main(["fit", "--name", "l", "--embedding", "local", "--clusters", "3",
                 "--db", db]) == 0
    with Store.open(db) as store:
        stored = get_router(store, "l")
        assert stored.fitted_on["embedding_max_tokens"] == 128
        assert stored.fitted_on["embedding_model"] == f"{DYNAMIC_ID}-tail128"
        assert load_router(store, "l").embedding.model == f"{DYNAMIC_ID}-tail128"
        assert load_router(store, "l").embedding.max_tokens == 128
        # Fitted before the int8 products: the shipped weights, at its budget.
        shipped = {**stored.fitted_on, "embedding_model": f"{MODEL_ID}-tail128"}
        save_router(store, replace(stored, name="shipped", fitted_on=shipped))
        assert load_router(store, "shipped").embedding.model == f"{MODEL_ID}-tail128"
        # Fitted before the budget and the model id were recorded: 256 tokens, shipped weights.
        legacy = {k: v for k, v in stored.fitted_on.items()
                  if k not in ("embedding_max_tokens", "embedding_model")}
        save_router(store, replace(stored, name="old", fitted_on=legacy))
        old = load_router(store, "old").embedding
        assert old.max_tokens == 256 and old.model == MODEL_ID  # its own vectors, own cache key
