"""`TfidfEmbedder.embed` computes the TF-IDF rows itself (`tfidf_rows`) instead of calling the
fitted vectorizer's `transform`: the rows, and so the embeddings and every routing decision, must
be bit-identical to sklearn's, for any text (unknown words, case, accents, other scripts,
punctuation, repeats, nothing at all) and any batch size."""

from __future__ import annotations

import numpy as np
import pytest

from avp_harness.embed.text import keep_tail_words
from avp_harness.embed.tfidf import TfidfEmbedder, l2_normalise, tfidf_rows

WORDS = ["solve", "equation", "polynomial", "poem", "sea", "moon", "python", "function", "sort",
         "list", "river", "train", "stone", "cloud", "engine", "letter", "apple", "number",
         "Rhyme", "VERSE", "algèbre", "naïve", "東京", "данные", "x", "42", "3.14", "don't",
         "e-mail", "C++", "αβγ", "🙂", "unseen", "zzzz", "co-operate", "the", "a"]
SEPARATORS = [" ", "  ", "\n", "\t", ", ", ". ", "? ", "!", "-", "/", "_", "'"]


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = ["", " ", "?!", "x y z", "poem poem poem poem"]
    for _ in range(n):
        length = int(rng.integers(0, 400 if rng.uniform() < 0.1 else 40))
        words = rng.choice(WORDS, length)
        seps = rng.choice(SEPARATORS, length)
        out.append("".join(f"{w}{s}" for w, s in zip(words, seps, strict=True)))
    return out


@pytest.fixture(scope="module")
def embedders() -> list[TfidfEmbedder]:
    corpus = texts(300, seed=0)
    fitted = TfidfEmbedder(dim=16, max_words=64).fit(corpus)
    small = TfidfEmbedder(dim=8, max_words=256).fit(corpus[:30])  # min_df 1: every word
    return [fitted, TfidfEmbedder.from_state(fitted.state()), small,
            TfidfEmbedder.from_state(small.state())]


@pytest.mark.parametrize("batch", [1, 7, 32, 1000])
def test_rows_and_embeddings_are_bit_identical_to_sklearns(embedders: list[TfidfEmbedder],
                                                           batch: int) -> None:
    queries = texts(3000 if batch >= 32 else 400, seed=1)
    for embedder in embedders:
        vec, components = embedder._vectorizer, embedder._components
        assert vec is not None and components is not None
        for start in range(0, len(queries), batch):
            docs = [keep_tail_words(t, embedder.max_words) for t in queries[start:start + batch]]
            ours, theirs = tfidf_rows(vec, docs), vec.transform(docs)
            assert ours.shape == theirs.shape
            assert np.array_equal(ours.indptr, theirs.indptr)
            assert np.array_equal(ours.indices, theirs.indices)
            assert np.array_equal(ours.data, theirs.data)  # exact floats, not approximately
            expected = l2_normalise(np.asarray(theirs @ components.T, dtype=np.float64))
            got = embedder.embed(queries[start:start + batch])
            assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_the_texts_reach_known_and_unknown_words(embedders: list[TfidfEmbedder]) -> None:
    """Not a vacuous comparison: most rows have several known words, some none."""
    vec = embedders[0]._vectorizer
    assert vec is not None
    rows = tfidf_rows(vec, texts(500, seed=2))
    per_row = np.diff(rows.indptr)
    assert (per_row >= 3).mean() > 0.5 and (per_row == 0).any()
