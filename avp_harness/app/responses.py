"""The candidates' stored responses as the response-reading methods (JiSi) take them: texts,
completion tokens and embeddings per (query, model), shared by `avp compare` and router fitting."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from avp_harness.routing.data import RoutingData
from avp_harness.store import Store
from avp_harness.store.routing import SampleTable, sample_table

Array = NDArray[np.float64]


def approx_tokens(text: str | None) -> int:
    """Words and punctuation marks of a text: the token count where none is stored."""
    return 0 if not text else len(re.findall(r"\w+|[^\w\s]", text))



def stored_responses(
    store: Store, data: RoutingData
) -> tuple[NDArray[np.object_], Array, str | None]:
    """Sample 0's response text and completion tokens per (item, model) of `data` (tokens
    counted by `approx_tokens` where the store has none), and why a response-reading method
    cannot run (None when it can)."""
    keys = list(zip(data.datasets.tolist(), data.item_ids, strict=True))
    table = sample_table(store, rows=keys, models=data.models, samples=1)
    return responses_of(data, table)


def responses_of(
    data: RoutingData, table: SampleTable
) -> tuple[NDArray[np.object_], Array, str | None]:
    texts = table.texts[:, :, 0]
    tokens = table.tokens[:, :, 0].copy()
    for i, j in zip(*np.nonzero(tokens <= 0), strict=True):
        tokens[i, j] = approx_tokens(texts[i, j])
    scored = ~np.isnan(data.A)
    have = np.vectorize(lambda t: isinstance(t, str) and t != "", otypes=[bool])(texts)
    if not (have & scored).any():
        return texts, tokens, "the store holds no response texts (records imported without them)"
    lacking = int((scored & ~have).sum())
    if lacking:
        return texts, tokens, f"{lacking} scored cells have no stored response text"
    return texts, tokens, None


def embed_responses(embed: Callable[[list[str]], Array], texts: NDArray[np.object_]) -> Array:
    """Response embeddings (n, m, d); a zero vector where there is no text."""
    flat = texts.ravel().tolist()
    present = [k for k, t in enumerate(flat) if isinstance(t, str) and t]
    vectors = embed([flat[k] for k in present]) if present else np.zeros((0, 1))
    out = np.zeros((len(flat), vectors.shape[1]))
    if present:
        out[present] = vectors
    return out.reshape(texts.shape + (vectors.shape[1],))
