"""TF-IDF + truncated SVD embeddings: the dependency-free fallback backend.

Fitted on the corpus being embedded (deterministic: fixed `random_state`), then able to embed new
queries with the same vocabulary and projection; its state is plain arrays, stored with a router.
Texts are head-truncated to their last `max_words` words before vectorising.

`embed` computes the fitted vectorizer's TF-IDF rows itself (`tfidf_rows`: the vectorizer's own
analyzer, vocabulary and idf, sklearn's own row normalisation) instead of calling its
`transform`, whose per-call validation cost more than the arithmetic for the few queries a
served batch holds (`avp serve` embeds every routed request); the vectors are bit-identical
(tests/unit/test_tfidf_lean.py checks it over thousands of texts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from avp_harness.embed.text import keep_tail_words
from avp_harness.errors import RouterError

Array = NDArray[np.float64]


def l2_normalise(X: Array) -> Array:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def tfidf_rows(vec: TfidfVectorizer, docs: Sequence[str]) -> sp.csr_array:
    """`vec.transform(docs)` for this module's vectorizers (word analyzer, sublinear tf, idf, l2
    norm), step by step as sklearn computes it (`CountVectorizer._count_vocab` then
    `TfidfTransformer.transform`), without its validation: the same floats."""
    analyze = vec.build_analyzer()
    vocabulary = vec.vocabulary_
    indices: list[int] = []
    counts: list[int] = []
    indptr = [0]
    for doc in docs:
        counter: dict[int, int] = {}
        for feature in analyze(doc):
            j = vocabulary.get(feature)
            if j is not None:
                counter[j] = counter.get(j, 0) + 1
        indices.extend(counter)
        counts.extend(counter.values())
        indptr.append(len(indices))
    X = sp.csr_array((np.asarray(counts, dtype=np.float64), np.asarray(indices, dtype=np.int32),
                      np.asarray(indptr, dtype=np.int32)), shape=(len(docs), len(vocabulary)))
    X.sort_indices()
    np.log(X.data, X.data)  # sublinear tf: 1 + log(count)
    X.data += 1.0
    X.data *= vec.idf_[X.indices]
    inplace_csr_row_normalize_l2(X)
    return X


class TfidfEmbedder:
    """`fit(corpus)` then `embed(texts)`; `state()` / `from_state()` persist it as arrays."""

    name = "tfidf"

    def __init__(self, dim: int = 128, max_words: int = 256, seed: int = 0) -> None:
        self.dim, self.max_words, self.seed = dim, max_words, seed
        self.model = f"tfidf-svd{dim}-tail{max_words}"
        self._vectorizer: TfidfVectorizer | None = None
        self._components: Array | None = None

    def fit(self, corpus: Sequence[str]) -> TfidfEmbedder:
        if len(corpus) < 2:
            raise RouterError("TF-IDF embedding needs at least 2 texts to fit on")
        docs = [keep_tail_words(t, self.max_words) for t in corpus]
        # Words seen in one text only say nothing about similarity; small corpora keep them all.
        min_df = 2 if len(docs) >= 50 else 1
        vec = TfidfVectorizer(sublinear_tf=True, min_df=min_df, dtype=np.float64)
        tf = vec.fit_transform(docs)
        k = max(1, min(self.dim, tf.shape[1] - 1, len(docs) - 1))
        svd = TruncatedSVD(n_components=k, random_state=self.seed, algorithm="randomized", n_iter=5)
        with np.errstate(divide="ignore", invalid="ignore"):  # explained variance of 0
            svd.fit(tf)
        self._vectorizer, self._components = vec, svd.components_
        return self

    def embed(self, texts: Sequence[str]) -> Array:
        if self._vectorizer is None or self._components is None:
            raise RouterError("the TF-IDF embedder is not fitted")
        docs = [keep_tail_words(t, self.max_words) for t in texts]
        tf = tfidf_rows(self._vectorizer, docs)
        return l2_normalise(np.asarray(tf @ self._components.T, dtype=np.float64))

    def fit_embed(self, corpus: Sequence[str]) -> Array:
        return self.fit(corpus).embed(corpus)

    def state(self) -> dict[str, NDArray[np.generic]]:
        """Vocabulary, idf and projection as arrays (for the router's npz)."""
        if self._vectorizer is None or self._components is None:
            raise RouterError("the TF-IDF embedder is not fitted")
        vocab = sorted(self._vectorizer.vocabulary_, key=self._vectorizer.vocabulary_.get)
        return {
            "tfidf_vocab": np.array(vocab, dtype=np.str_),
            "tfidf_idf": self._vectorizer.idf_,
            "tfidf_components": self._components,
            "tfidf_config": np.array([self.dim, self.max_words, self.seed]),
        }

    @classmethod
    def from_state(cls, state: dict[str, NDArray[np.generic]]) -> TfidfEmbedder:
        dim, max_words, seed = (int(v) for v in state["tfidf_config"])
        self = cls(dim, max_words, seed)
        vocab = [str(v) for v in state["tfidf_vocab"]]
        vec = TfidfVectorizer(
            sublinear_tf=True,
            min_df=1,
            dtype=np.float64,
            vocabulary={w: i for i, w in enumerate(vocab)},
        )
        vec.fit(["x"])  # sets up the analyser; vocabulary and idf are then replaced
        vec.idf_ = np.asarray(state["tfidf_idf"], dtype=np.float64)
        self._vectorizer = vec
        self._components = np.asarray(state["tfidf_components"], dtype=np.float64)
        return self
