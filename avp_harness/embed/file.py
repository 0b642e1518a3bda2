"""Vectors the user brings (`--embedding file:PATH.npz`): arrays `texts` (strings) and `X` (n, d).

For embeddings avp cannot compute here (the Avengers-Pro paper used a 7B embedding model on a
GPU): each text is looked up by its exact string; a text without a vector is an error naming the
first such text and how many lack one. Vectors are L2-normalised as the reference code does
(`sklearn.preprocessing.Normalizer`), so already normalised vectors stay as they are up to
rounding. Not cached in the store: the file is the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.preprocessing import normalize

from avp_harness.errors import DataError

Array = NDArray[np.float64]


class FileEmbedder:
    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.model = f"file:{self.path}"
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                if "texts" not in npz.files or "X" not in npz.files:
                    raise DataError(f"{self.path}: needs arrays 'texts' and 'X', has {npz.files}")
                texts = [str(t) for t in npz["texts"]]
                X = np.asarray(npz["X"], dtype=np.float64)
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}: not a readable .npz of texts and X ({exc})") from None
        if X.ndim != 2 or len(X) != len(texts):
            raise DataError(f"{self.path}: X has shape {X.shape} for {len(texts)} texts")
        if not np.isfinite(X).all():
            raise DataError(f"{self.path}: X contains NaN or infinite values")
        self._row: dict[str, int] = {}
        for i, text in enumerate(texts):
            self._row.setdefault(text, i)  # a repeated text keeps its first vector
        self._X = X
        self.dim = X.shape[1]

    def embed(self, texts: Sequence[str]) -> Array:
        rows = [self._row.get(t, -1) for t in texts]
        lacking = [t for t, r in zip(texts, rows, strict=True) if r < 0]
        if lacking:
            first = " ".join(lacking[0].split())
            first = first if len(first) <= 60 else first[:59] + "…"
            raise DataError(
                f"{self.path}: {len(lacking)} of {len(texts)} texts have no vector, "
                f"the first: {first!r}"
            )
        if not rows:
            return np.zeros((0, self.dim))
        return np.asarray(normalize(self._X[rows]), dtype=np.float64)
