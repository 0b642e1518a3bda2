"""Any OpenAI-compatible `/v1/embeddings` endpoint (`--embedding api:MODEL`).

The base URL and key come from the environment (`AVP_EMBEDDING_BASE_URL` or `OPENAI_BASE_URL`,
`AVP_EMBEDDING_API_KEY` or `OPENAI_API_KEY`), read at call time and never stored. Texts are
head-truncated to their last `max_chars` characters. Vectors are L2-normalised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from avp_harness.embed.progress import progress
from avp_harness.errors import ConfigError, ProviderError

Array = NDArray[np.float64]


class ApiEmbedder:
    name = "api"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        max_chars: int = 8000,
        batch_size: int = 128,
    ) -> None:
        if not model:
            raise ConfigError("embedding", "api", "name the model: --embedding api:MODEL")
        self.model = model
        self.base_url = (
            base_url
            or os.environ.get("AVP_EMBEDDING_BASE_URL")
            or os.environ.get("OPENAI_BASE_URL")
        )
        self._key = (
            api_key or os.environ.get("AVP_EMBEDDING_API_KEY") or os.environ.get("OPENAI_API_KEY")
        )
        if not self._key:
            raise ConfigError("embedding", "api", "set AVP_EMBEDDING_API_KEY or OPENAI_API_KEY")
        self.max_chars, self.batch_size = max_chars, batch_size

    def embed(self, texts: Sequence[str]) -> Array:
        import openai

        client = openai.OpenAI(base_url=self.base_url, api_key=self._key, max_retries=0)
        rows: list[list[float]] = []
        bar = progress(len(texts), f"embedding {len(texts)} texts (api {self.model})")
        try:
            for s in range(0, len(texts), self.batch_size):
                chunk = [t[-self.max_chars :] or " " for t in texts[s : s + self.batch_size]]
                reply = client.embeddings.create(model=self.model, input=chunk)
                rows.extend(d.embedding for d in sorted(reply.data, key=lambda d: d.index))
                bar.advance(len(chunk))
        except openai.OpenAIError as exc:
            raise ProviderError(f"embeddings {self.model} at {self.base_url}: {exc}") from None
        finally:
            bar.close()
            client.close()
        X = np.asarray(rows, dtype=np.float64)
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
