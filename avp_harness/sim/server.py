"""A simulated OpenAI-compatible provider: a real HTTP server on 127.0.0.1.

It is the project's embedded default (`avp demo`) and the collector's test double. It speaks the
chat-completions API (streaming too; offered `tools`, it calls one), lists its models and serves
hashed bag-of-words embeddings.
Every model it serves is SIMULATED (ids `sim/...`, see `sim_models.SIM_MODELS`).

    POST   /v1/chat/completions   answer in the benchmark's format, right or plausibly wrong
    GET    /v1/models             the catalogue (+ the embedding model)
    GET    /props                 llama.cpp's server properties: chat_template, total_slots, n_ctx
    POST   /v1/embeddings         deterministic 64-d hashed bag-of-words vectors, L2-normalised
    POST   /_sim/faults           queue scripted faults {"rules": [{"fault", "count", "model",
                                  "retry_after", "delay"}]} for the next N matching requests
    DELETE /_sim/faults           clear the queue
    GET    /_sim/log              every request so far, as a JSON list
    GET    /_sim/stats            counts: requests, by model, by fault, by status, indexed items

How it answers: at start-up a background thread builds every registered benchmark's items and
indexes them by sha256 of the last user message. A recognised prompt is answered correctly when
`hash(model, item) < p_correct(model, benchmark, topic)` at temperature 0; a sample (the nonce is
the request's `seed`, else 0) at temperature T > 0 repeats that greedy answer or is drawn afresh
(`sim_models.drift`, `item_p`: at T = 0.7 7 in 8 are, and a majority vote gains on the items a
model is unsure about), in the format of `sim_answers.ANSWERS[benchmark]`. A JiSi aggregation
prompt (`avp_harness/aggregation.py`) about a recognised question is answered by an aggregator
that reads the responses it is given (`sim_answers.aggregate_p`: it follows right ones, more surely
the more skilled it is). A prompt rendered from one of graders/judge.py's judge templates is
answered by an honest simulated judge
(`sim_answers.answer_judge`, logged with benchmark "judge"), or a broken one for a model id with a
judge-style suffix (`sim/mid-pro@echo`, see `sim_models.JUDGE_STYLES`); any other prompt gets a
generic answer that grades wrong.

Faults (KINDS below) come from, in order of precedence: the `X-Sim-Fault` request header, the
scripted queue, and random `--fault KIND=RATE` draws seeded by `--seed`. As seen by the openai
client (max_retries=0): 429 -> RateLimitError (Retry-After header), 500/503 ->
InternalServerError, 400 -> BadRequestError, 401 -> AuthenticationError (`401-echo`: its message
quotes the API key sent, as some providers do), quota -> APIStatusError
402 with code "insufficient_quota", slow -> APITimeoutError when the client timeout is shorter
than `delay`, reset -> APIConnectionError, malformed -> a 200 whose JSON body is cut short (the
client raises `json.JSONDecodeError`, a ValueError), empty -> a normal completion whose content
is "".

Like a local server (`ServerModes`): every model has a context window (`SimModel.context_tokens`,
or `--context-tokens` for all) and a longer prompt gets llama.cpp's 400
`exceed_context_size_error`; `max_tokens` below the answer's length cuts it (finish_reason
"length"); `--serial` generates one request at a time, the others queue, and a request whose
client gave up is still generated (counted in `/_sim/stats` generations.abandoned);
`--generation-s` fixes the time of each generation. Every answer carries llama.cpp's `timings`
(the server's own time, queueing excluded).

Every request, faulted or not, is appended to `--log FILE` as one JSON line written with one
`os.write` (so it is on disk even if the client or the server is SIGKILLed next).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

from aiohttp import web

from avp_harness.aggregation import aggregation_parts
from avp_harness.errors import AvpError
from avp_harness.sim import tau2 as sim_tau2
from avp_harness.sim.answers import (
    ANSWERS,
    aggregate_p,
    answer_judge,
    answer_unrecognised,
    preamble,
    response_right,
)
from avp_harness.sim.models import (
    BENCHMARK_ALIASES,
    SIM_EMBEDDING_DIM,
    SIM_EMBEDDING_MODEL,
    SIM_MODELS,
    SimModel,
    drift,
    item_p,
    p_correct,
    sim_model,
    topic_of,
)

# the serve options live in a light module so `avp --help` does not load aiohttp; re-exported
from avp_harness.sim.options import FAULT_KINDS as FAULT_KINDS
from avp_harness.sim.options import add_serve_arguments as add_serve_arguments
from avp_harness.types import Item, last_user_text

DEFAULT_RETRY_AFTER_S = 1.0
DEFAULT_SLOW_DELAY_S = 30.0
CACHED_SHARE = 0.5  # share of the prompt reported as cached when its prefix was seen before
CACHE_PREFIX_CHARS = 2048
MAX_BODY_BYTES = 64 * 1024 * 1024
ANSWER_CACHE_SIZE = 100_000
STREAM_PIECE_CHARS = 16  # characters of text per streamed chunk


class SimServerError(AvpError):
    """The simulated provider could not start, or was given bad options."""


# --- Faults ------------------------------------------------------------------------------------


@dataclass(slots=True)
class FaultRule:
    """A scripted fault for the next `count` requests (to `model`, or any model when None)."""

    fault: str
    count: int = 1
    model: str | None = None
    retry_after: float | None = None
    delay: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        if not isinstance(data, dict):
            raise ValueError("each rule must be an object")
        fault = str(data.get("fault", ""))
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; kinds: {', '.join(FAULT_KINDS)}")
        count = data.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise ValueError("model must be a string")
        numbers = {k: data.get(k) for k in ("retry_after", "delay")}
        for key, value in numbers.items():
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"{key} must be a non-negative number, got {value!r}")
        return cls(fault, count, model, numbers["retry_after"], numbers["delay"])


def parse_fault_spec(spec: str) -> tuple[str, float]:
    """`"429=0.05"` -> ("429", 0.05); a clear SimServerError for anything else."""
    kind, sep, rate_text = spec.partition("=")
    if not sep or kind not in FAULT_KINDS:
        raise SimServerError(
            f"--fault {spec!r}: expected KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}"
        )
    try:
        rate = float(rate_text)
    except ValueError:
        raise SimServerError(f"--fault {spec!r}: RATE must be a number in [0, 1]") from None
    if not 0.0 <= rate <= 1.0:
        raise SimServerError(f"--fault {spec!r}: RATE must be in [0, 1]")
    return kind, rate


# What `GET /props` reports as the chat template (llama.cpp's field): a ChatML-style Jinja template.
SIM_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# --- Server modes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerModes:
    """How the simulated server behaves like a real local one.

    `serial`: one generation at a time (llama-cpp-python, a llama.cpp server with one slot);
    other requests queue, and a queued request whose client gave up is still generated, as those
    servers do. `generation_s`: every generation takes this long (default: the model's simulated
    latency x --latency-scale). `context_tokens`: every model's context window in tokens (default:
    each model's own, `SimModel.context_tokens`); a longer prompt gets llama.cpp's 400
    `exceed_context_size_error`.
    """

    serial: bool = False
    generation_s: float | None = None
    context_tokens: int | None = None

    def arguments(self) -> list[str]:
        """The `serve` options that select these modes."""
        args = ["--serial"] if self.serial else []
        if self.generation_s is not None:
            args += ["--generation-s", str(self.generation_s)]
        if self.context_tokens is not None:
            args += ["--context-tokens", str(self.context_tokens)]
        return args


# --- Item index --------------------------------------------------------------------------------

Index = dict[str, tuple[str, Item]]


def prompt_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load_benchmark(name: str, target: str) -> Any:
    """`target` is "module" (its BENCHMARK) or "module:attribute"."""
    import importlib

    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute or "BENCHMARK")


def build_index(
    extra: Mapping[str, str] | None = None, only: Collection[str] | None = None
) -> tuple[Index, dict[str, int]]:
    """Index every registered benchmark's items (or `only` those) by sha256 of their last user
    message.

    A benchmark whose data is missing (DataError) or whose module is absent is skipped with a
    note on stderr; the server still answers its prompts, generically.
    """
    import benchmarks
    from avp_harness.errors import DataError

    targets = dict(benchmarks.REGISTRY) | dict(extra or {})
    if only is not None:
        targets = {name: t for name, t in targets.items() if name in only}
    index: Index = {}
    counts: dict[str, int] = {}
    for name, target in sorted(targets.items()):
        try:
            bench = _load_benchmark(name, target)
            if getattr(bench, "simulate", None) is not None:
                continue  # agentic (τ²-bench): answered by sim/tau2.py, not by its items
            items = list(bench.items(benchmarks.Selection()))
        except (DataError, ImportError, AttributeError) as exc:
            print(f"sim: benchmark {name} not indexed: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # another module's bug must not take the simulator down
            print(
                f"sim: benchmark {name} not indexed: {type(exc).__name__}: {exc}", file=sys.stderr
            )
            continue
        for item in items:  # the first name wins ("aime" over "aime_2024" for the same prompt)
            index.setdefault(prompt_sha(item.prompt_text), (name, item))
        counts[name] = len(items)
    return index, counts


# --- Answers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What a simulated model says to one prompt, before truncation and usage accounting."""

    text: str
    correct: bool | None  # None: the prompt was not recognised
    reasoning_tokens: int
    latency_s: float  # at --latency-scale 1


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56)


def tokens_of(text: str) -> int:
    """The simulator's tokenizer: about four characters a token."""
    return math.ceil(len(text) / 4)


def simulate_answer(
    model: SimModel,
    benchmark: str | None,
    item: Item | None,
    sha: str,
    nonce: int,
    judge_reply: str | None = None,
    temperature: float = 1.0,
) -> Answer:
    """The deterministic answer of `model` to one prompt (`sha`), sample nonce and temperature
    (1.0, the OpenAI default, when the request names none).

    At temperature 0 every nonce gets the greedy answer (nonce 0's); above it a sample repeats
    the greedy answer or is drawn afresh (`sim_models.drift`, `item_p`). `judge_reply` (from
    `sim_answers.answer_judge`) is the answer to a judge prompt: every simulated model judges
    the same honest way, without a preamble.
    """
    item_key = item.id if item is not None else sha
    key = (model.id, BENCHMARK_ALIASES.get(benchmark or "", benchmark), item_key)
    u = _unit(*key, 0)  # the item's latent: the greedy answer is right when u < p
    fresh = nonce != 0 and _unit("keep", *key, nonce) < drift(temperature)
    draw = nonce if fresh else 0
    rng = random.Random(f"{model.id}|{benchmark}|{item_key}|{draw}")
    answer_fn = ANSWERS.get(benchmark) if benchmark is not None else None
    correct: bool | None = None
    if judge_reply is not None:
        text = judge_reply
    elif item is None or answer_fn is None:
        text = answer_unrecognised(rng)
    else:
        p = p_correct(model, benchmark or "", topic_of(benchmark or "", item))
        correct = _unit("sample", *key, nonce) < item_p(p, u) if fresh else u < p
        text = answer_fn(item, correct, rng)
    if model.verbosity > 1 and judge_reply is None:
        text = preamble(rng, model.verbosity - 1) + "\n\n" + text
    reasoning = 0
    if model.reasoning:
        prompt_len = len(item.prompt_text) if item is not None else 400
        reasoning = int((300 + prompt_len / 8) * (0.5 + 1.5 * rng.random()))
        if correct is False:
            reasoning = int(reasoning * 1.5)  # it struggles longer when it gets it wrong
    mu, sigma = model.lognormal_params()
    z = NormalDist().inv_cdf(min(max(_unit("latency", model.id, item_key, nonce), 1e-9), 1 - 1e-9))
    return Answer(text, correct, reasoning, math.exp(mu + sigma * z))


def simulate_aggregation(
    model: SimModel, benchmark: str, item: Item, sha: str, nonce: int, responses: list[str]
) -> Answer:
    """The deterministic answer of `model` as JiSi's aggregator of `responses` to `item`: right
    with `aggregate_p` of the responses' correctness and its own skill; when wrong, it adopts
    the first wrong response it read (or writes a wrong answer of its own)."""
    rng = random.Random(f"aggregate|{model.id}|{sha}|{nonce}")
    right = [response_right(benchmark, item, r) for r in responses]
    skill = p_correct(model, benchmark, topic_of(benchmark, item))
    correct = _unit("aggregate", model.id, sha, nonce) < aggregate_p(right, skill)
    wrong = [r for r, ok in zip(responses, right, strict=True) if ok is False]
    text = ANSWERS[benchmark](item, correct, rng) if correct or not wrong else wrong[0]
    mu, sigma = model.lognormal_params()
    z = NormalDist().inv_cdf(min(max(_unit("latency", model.id, sha, nonce), 1e-9), 1 - 1e-9))
    return Answer(text, correct, 0, math.exp(mu + sigma * z))


def embed_text(text: str, dim: int = SIM_EMBEDDING_DIM) -> list[float]:
    """Hashed bag of words: each lowercase word adds +-1 to one of `dim` slots; L2-normalised."""
    vector = [0.0] * dim
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dim
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


# --- The server --------------------------------------------------------------------------------


def error_response(
    status: int,
    message: str,
    err_type: str,
    code: str | None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """OpenAI's error shape: {"error": {"message", "type", "code"}}."""
    body = {"error": {"message": message, "type": err_type, "code": code, "param": None}}
    return web.json_response(body, status=status, headers=headers)


# fault kind -> (HTTP status, error type, code, message)
_ERROR_FAULTS: dict[str, tuple[int, str, str, str]] = {
    "429": (429, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached (simulated)."),
    "500": (500, "server_error", "internal_error", "The server had an error (simulated)."),
    "503": (503, "server_error", "service_unavailable", "The model is overloaded (simulated)."),
    "400": (400, "invalid_request_error", "invalid_request", "Invalid request (simulated)."),
    "401": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key (simulated)."),
    "quota": (
        402,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota: credits exhausted (simulated). Add credits to continue.",
    ),
}


class SimProvider:
    """State of one running simulator: index, fault queue, request log and counters."""

    def __init__(
        self,
        *,
        latency_scale: float = 1.0,
        faults: Mapping[str, float] | None = None,
        seed: int = 0,
        log_path: str | os.PathLike[str] | None = None,
        extra_benchmarks: Mapping[str, str] | None = None,
        index_only: Collection[str] | None = None,
        modes: ServerModes | None = None,
    ) -> None:
        self.latency_scale = latency_scale
        self.modes = modes or ServerModes()
        self._generating = asyncio.Lock()  # held by the one generation of a --serial server
        self._generations: set[asyncio.Task[float]] = set()  # alive after their client left
        self.index_only = index_only
        self.random_faults = [(k, r) for k, r in (faults or {}).items() if r > 0]
        self.rng = random.Random(seed)
        self.extra_benchmarks = dict(extra_benchmarks or {})
        self.rules: list[FaultRule] = []
        self.log: list[dict[str, Any]] = []
        self.stats: dict[str, Counter[str]] = {
            "by_model": Counter(),
            "by_fault": Counter(),
            "by_status": Counter(),
            "generations": Counter(),  # generated; abandoned (the client left, generated anyway)
        }
        self.seen_prefixes: set[tuple[str, str]] = set()
        self.answers: dict[tuple[str, str, int, float], Answer] = {}  # model, sha, nonce, T
        self.log_fd = (
            os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if log_path else None
        )
        self.index: Index | None = None
        self.index_counts: dict[str, int] = {}
        self._index_future: asyncio.Future[tuple[Index, dict[str, int]]] | None = None
        self._index_thread: threading.Thread | None = None

    # -- lifecycle

    def start_indexing(self) -> None:
        """Build the item index in a daemon thread: start-up and shut-down stay fast."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Index, dict[str, int]]] = loop.create_future()

        def deliver(result: tuple[Index, dict[str, int]] | BaseException) -> None:
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        def work() -> None:
            try:
                result: tuple[Index, dict[str, int]] | BaseException = build_index(
                    self.extra_benchmarks, self.index_only
                )
            except BaseException as exc:  # delivered to the awaiting handlers
                result = exc
            if not loop.is_closed():
                loop.call_soon_threadsafe(deliver, result)

        self._index_future = future
        self._index_thread = threading.Thread(target=work, name="sim-index", daemon=True)
        self._index_thread.start()

    async def get_index(self) -> Index:
        if self.index is None:
            if self._index_future is None:
                self.start_indexing()
            assert self._index_future is not None
            self.index, self.index_counts = await self._index_future
        return self.index

    def close(self) -> None:
        if self.log_fd is not None:
            os.close(self.log_fd)
            self.log_fd = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/props", self.props)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/_sim/faults", self.post_faults)
        app.router.add_delete("/_sim/faults", self.delete_faults)
        app.router.add_get("/_sim/log", self.get_log)
        app.router.add_get("/_sim/stats", self.get_stats)
        return app

    # -- bookkeeping

    def pick_fault(self, request: web.Request, model: str | None) -> FaultRule | None:
        header = request.headers.get("X-Sim-Fault")
        if header:
            return FaultRule(header) if header in FAULT_KINDS else None
        for rule in self.rules:
            if rule.model is None or rule.model == model:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
                return FaultRule(rule.fault, 1, model, rule.retry_after, rule.delay)
        if self.random_faults:
            draw = self.rng.random()
            for kind, rate in self.random_faults:
                if draw < rate:
                    return FaultRule(kind)
                draw -= rate
        return None

    def record(self, entry: dict[str, Any]) -> None:
        """Append one request to the log (memory and file) and the counters."""
        self.log.append(entry)
        self.stats["by_model"][str(entry.get("model"))] += 1
        if entry.get("fault") is not None:
            self.stats["by_fault"][str(entry["fault"])] += 1
        status = entry.get("status")
        self.stats["by_status"]["dropped" if status is None else str(status)] += 1
        if self.log_fd is not None:
            os.write(self.log_fd, (json.dumps(entry) + "\n").encode())

    async def log_then_fault(
        self, request: web.Request, fault: FaultRule | None, entry: dict[str, Any]
    ) -> web.StreamResponse | None:
        """Log the request (with its fault), then answer with that fault if it has one; None
        means: go on and answer normally."""
        entry["fault"] = fault.fault if fault else None
        self.record(entry)
        return await self.apply_fault(request, fault) if fault is not None else None

    async def apply_fault(
        self, request: web.Request, fault: FaultRule
    ) -> web.StreamResponse | None:
        """The response a fault produces, or None to go on answering (after `slow`'s sleep)."""
        if fault.fault in _ERROR_FAULTS:
            status, err_type, code, message = _ERROR_FAULTS[fault.fault]
            headers = None
            if fault.fault == "429":
                retry_after = (
                    fault.retry_after if fault.retry_after is not None else DEFAULT_RETRY_AFTER_S
                )
                headers = {"Retry-After": f"{retry_after:g}"}
            return error_response(status, message, err_type, code, headers)
        if fault.fault == "401-echo":  # some providers quote the key they were given
            key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            return error_response(401, f"Incorrect API key provided: {key}. Check your key.",
                                  "invalid_request_error", "invalid_api_key")
        if fault.fault == "slow":
            await asyncio.sleep(fault.delay if fault.delay is not None else DEFAULT_SLOW_DELAY_S)
        elif fault.fault == "malformed":
            return web.Response(
                body=b'{"id": "chatcmpl-sim", "object": "chat.completion", "choices": [{"ind',
                content_type="application/json",
            )
        elif fault.fault == "reset":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing is written: the client sees the connection drop
        return None

    @staticmethod
    def fault_status(fault: FaultRule | None) -> int | None:
        if fault is not None and fault.fault == "401-echo":
            return 401
        if fault is None or fault.fault in ("slow", "malformed", "empty"):
            return 200
        if fault.fault == "reset":
            return None
        return _ERROR_FAULTS[fault.fault][0]

    # -- endpoints

    async def read_json(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        if body is None:
            self.record(_entry("chat", 400))
            return error_response(
                400, "Request body is not a JSON object.", "invalid_request_error", None
            )
        model_id = body.get("model")
        model_id = model_id if isinstance(model_id, str) else None
        text = last_user_text(body.get("messages"))
        sha = prompt_sha(text) if text is not None else None
        index = await self.get_index()
        bench, item = index.get(sha, (None, None)) if sha else (None, None)
        parts = aggregation_parts(text) if item is None and text is not None else None
        aggregated: list[str] | None = None
        if parts is not None and prompt_sha(parts[0]) in index:
            bench, item = index[prompt_sha(parts[0])]
            aggregated = parts[1] if bench in ANSWERS else None
        judge_reply = answer_judge(text, model_id) if item is None and text is not None else None
        seed = body.get("seed")
        nonce = seed if isinstance(seed, int) else 0
        temperature = body.get("temperature", 1.0)
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            temperature = 1.0
        fault = self.pick_fault(request, model_id)
        model = sim_model(model_id)
        too_long = model is not None and text is not None and self.over_context(model, body)
        if fault is not None:
            status = self.fault_status(fault)
        elif model is None:
            status = 404
        elif text is None or too_long:
            status = 400
        else:
            status = 200
        entry = _entry(
            "chat",
            status,
            model=model_id,
            sha=sha,
            benchmark="judge" if judge_reply is not None else bench,
            item_id=item.id if item is not None else None,
            seed=seed,
        )
        faulted = await self.log_then_fault(request, fault, entry)
        if faulted is not None:
            return faulted
        if model is None:
            return error_response(
                404,
                f"The model {model_id!r} does not exist (simulated provider).",
                "invalid_request_error",
                "model_not_found",
            )
        if text is None:
            return error_response(
                400,
                "messages must be a list with at least one user message.",
                "invalid_request_error",
                None,
            )
        if too_long:
            return self.context_error(model, body)
        assert sha is not None
        if aggregated is not None and bench is not None and item is not None:
            answer = simulate_aggregation(model, bench, item, sha, nonce, aggregated)
        else:
            answer = self.answer(model, bench, item, sha, nonce, judge_reply, float(temperature))
        tau2 = await sim_tau2.areply(model, body, nonce)  # None unless a τ² conversation
        if tau2 is not None:
            answer = Answer(tau2.text, tau2.correct, 0, answer.latency_s)
        seconds = self.modes.generation_s
        if seconds is None:
            seconds = answer.latency_s * self.latency_scale
        empty = fault is not None and fault.fault == "empty"
        if body.get("stream"):
            reply = self.completion_body(model, body, sha, answer, empty)
            return await self.stream_reply(request, body, reply, seconds)
        generated = await self.generate(seconds)
        reply = self.completion_body(model, body, sha, answer, empty)
        n = body.get("n", 1)
        if isinstance(n, int) and not isinstance(n, bool) and n > 1 and tau2 is None:
            self.more_choices(reply, n, model, body, sha, empty,
                              lambda k: self.answer(model, bench, item, sha, nonce + k,
                                                    judge_reply, float(temperature)))
        if tau2 is not None and not empty:
            reply = sim_tau2.apply(reply, tau2, model)
        reply["timings"] = _timings(reply["usage"], generated)
        return web.json_response(reply)

    def more_choices(self, reply: dict[str, Any], n: int, model: Any, body: Mapping[str, Any],
                     sha: str, empty: bool, answer_of: Any) -> None:
        """`n` choices (OpenAI's `n`): choice k is the sample of nonce seed + k; usage summed."""
        for k in range(1, n):
            more = self.completion_body(model, body, sha, answer_of(k), empty)
            reply["choices"].append({**more["choices"][0], "index": k})
            for key in ("completion_tokens", "total_tokens", "cost"):
                if key in more["usage"]:
                    reply["usage"][key] += more["usage"][key]

    async def stream_reply(
        self, request: web.Request, body: Mapping[str, Any], reply: dict[str, Any], seconds: float
    ) -> web.StreamResponse:
        """`reply` as server-sent chunks (OpenAI's `chat.completion.chunk`): the role at once,
        then the text in pieces (and any tool calls) spread over `seconds`, the finish reason, the
        usage when `stream_options.include_usage` asks, and `[DONE]`. Not queued by --serial."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        base = {k: reply[k] for k in ("id", "created", "model", "system_fingerprint")}
        base["object"] = "chat.completion.chunk"
        choice = reply["choices"][0]
        message = choice["message"]
        text = message.get("content") or ""
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": text[i : i + STREAM_PIECE_CHARS]}
                   for i in range(0, len(text), STREAM_PIECE_CHARS)]
        if message.get("tool_calls"):
            deltas.append({"tool_calls": [{"index": i, **call}
                                          for i, call in enumerate(message["tool_calls"])]})
        chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
                  for d in deltas]
        chunks.append({**base, "choices": [{"index": 0, "delta": {},
                                            "finish_reason": choice["finish_reason"]}]})
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            chunks.append({**base, "choices": [], "usage": reply["usage"]})
        for n, chunk in enumerate(chunks):
            if n and seconds > 0:
                await asyncio.sleep(seconds / (len(chunks) - 1))
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        self.stats["generations"]["generated"] += 1
        await response.write_eof()
        return response

    async def generate(self, seconds: float) -> float:
        """Spend `seconds` generating (one at a time when --serial); returns the time it took.

        A --serial generation runs in a task of its own: a client that gives up (its handler is
        cancelled) leaves it running, holding the server, as a one-slot local server does."""
        async def one() -> float:
            started = time.perf_counter()
            if seconds > 0:
                await asyncio.sleep(seconds)
            self.stats["generations"]["generated"] += 1
            return time.perf_counter() - started if seconds > 0 else 0.0

        if not self.modes.serial:
            return await one()

        async def serial() -> float:
            async with self._generating:
                return await one()

        task = asyncio.create_task(serial())
        self._generations.add(task)
        task.add_done_callback(self._generations.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stats["generations"]["abandoned"] += 1
            raise

    def context_window(self, model: SimModel) -> int:
        return self.modes.context_tokens or model.context_tokens

    def over_context(self, model: SimModel, body: Mapping[str, Any]) -> bool:
        return _prompt_tokens(body) > self.context_window(model)

    def context_error(self, model: SimModel, body: Mapping[str, Any]) -> web.Response:
        """llama.cpp's answer to a prompt longer than the context window (HTTP 400)."""
        n_prompt, n_ctx = _prompt_tokens(body), self.context_window(model)
        error = {
            "code": 400,
            "message": f"request ({n_prompt} tokens) exceeds the available context size "
            f"({n_ctx} tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": n_prompt,
            "n_ctx": n_ctx,
        }
        return web.json_response({"error": error}, status=400)

    def answer(
        self,
        model: SimModel,
        bench: str | None,
        item: Item | None,
        sha: str,
        nonce: int,
        judge_reply: str | None = None,
        temperature: float = 1.0,
    ) -> Answer:
        """`simulate_answer`, cached (a bounded cache: cleared when full)."""
        key = (model.id, sha, nonce, temperature)
        cached = self.answers.get(key)
        if cached is None:
            if len(self.answers) >= ANSWER_CACHE_SIZE:
                self.answers.clear()
            cached = self.answers[key] = simulate_answer(
                model, bench, item, sha, nonce, judge_reply, temperature
            )
        return cached

    def completion_body(
        self, model: SimModel, body: Mapping[str, Any], sha: str, answer: Answer, empty: bool
    ) -> dict[str, Any]:
        """The chat.completion object: message, finish reason, usage (and cost when asked)."""
        prompt_text = _prompt_text(body)
        prompt_tokens = max(tokens_of(prompt_text), 1)
        prefix_key = (model.id, prompt_sha(prompt_text[:CACHE_PREFIX_CHARS]))
        cached = int(prompt_tokens * CACHED_SHARE) if prefix_key in self.seen_prefixes else 0
        self.seen_prefixes.add(prefix_key)

        text = "" if empty else answer.text
        reasoning = 0 if empty else answer.reasoning_tokens
        call = _tool_call(body, sha)
        if call is not None:  # a function call instead of the answer
            text, reasoning = "", 0
        completion_tokens = tokens_of(text) + reasoning
        finish = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit < completion_tokens:
            finish = "length"
            reasoning = min(reasoning, limit)
            text = text[: (limit - reasoning) * 4]
            completion_tokens = limit
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            completion_tokens, finish = tokens_of(call["function"]["arguments"]) + 8, "tool_calls"
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }
        wants_cost = isinstance(body.get("usage"), dict) and body["usage"].get("include") is True
        if wants_cost and model.reports_cost:
            usage["cost"] = model.cost(prompt_tokens, completion_tokens, cached)
        return {
            "id": f"chatcmpl-sim-{sha[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model.id,
            "system_fingerprint": "avp-sim",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }

    async def props(self, request: web.Request) -> web.Response:
        """llama.cpp's server properties: its chat template, slots and context size."""
        return web.json_response({
            "chat_template": SIM_CHAT_TEMPLATE,
            "total_slots": 1 if self.modes.serial else 64,
            "default_generation_settings": {"n_ctx": self.modes.context_tokens or max(
                m.context_tokens for m in SIM_MODELS.values())},
            "model_path": "simulated",
        })

    async def models(self, request: web.Request) -> web.Response:
        ids = [*SIM_MODELS, SIM_EMBEDDING_MODEL]
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "avp-sim"} for i in ids]
        return web.json_response({"object": "list", "data": data})

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        if body is None:
            self.record(_entry("embeddings", 400))
            return error_response(
                400, "Request body is not a JSON object.", "invalid_request_error", None
            )
        model_id = body.get("model") if isinstance(body.get("model"), str) else None
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        valid = isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs)
        dim = body.get("dimensions") or SIM_EMBEDDING_DIM
        fault = self.pick_fault(request, model_id)
        if fault is not None:
            status = self.fault_status(fault)
        elif model_id != SIM_EMBEDDING_MODEL:
            status = 404
        elif not valid or not isinstance(dim, int) or not 1 <= dim <= 4096:
            status = 400
        else:
            status = 200
        faulted = await self.log_then_fault(request, fault, _entry("embeddings", status,
                                                                    model=model_id))
        if faulted is not None:
            return faulted
        if model_id != SIM_EMBEDDING_MODEL:
            return error_response(
                404,
                f"The embedding model {model_id!r} does not exist; use {SIM_EMBEDDING_MODEL!r}.",
                "invalid_request_error",
                "model_not_found",
            )
        if status == 400:
            return error_response(
                400,
                "input must be a string or a non-empty list of strings; dimensions 1..4096.",
                "invalid_request_error",
                None,
            )
        assert isinstance(inputs, list)
        base64_format = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vector = embed_text(text, dim)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
                if base64_format
                else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(tokens_of(t) for t in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response(
            {"object": "list", "data": data, "model": model_id, "usage": usage}
        )

    async def post_faults(self, request: web.Request) -> web.Response:
        body = await self.read_json(request)
        try:
            if body is None or not isinstance(body.get("rules"), list):
                raise ValueError('expected {"rules": [...]}')
            rules = [FaultRule.from_json(rule) for rule in body["rules"]]
        except ValueError as exc:
            return error_response(400, str(exc), "invalid_request_error", None)
        self.rules.extend(rules)
        return web.json_response({"queued": len(rules), "pending": len(self.rules)})

    async def delete_faults(self, request: web.Request) -> web.Response:
        cleared, self.rules = len(self.rules), []
        return web.json_response({"cleared": cleared})

    async def get_log(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def get_stats(self, request: web.Request) -> web.Response:
        await self.get_index()
        stats: dict[str, Any] = {k: dict(v) for k, v in self.stats.items()}
        stats["requests"] = len(self.log)
        stats["indexed"] = dict(self.index_counts)
        stats["pending_faults"] = sum(rule.count for rule in self.rules)
        return web.json_response(stats)


def _entry(
    endpoint: str,
    status: int | None,
    *,
    model: str | None = None,
    sha: str | None = None,
    benchmark: str | None = None,
    item_id: str | None = None,
    seed: Any = None,
    fault: str | None = None,
) -> dict[str, Any]:
    """One request-log line (status None: the connection was dropped without a response)."""
    return {
        "time": time.time(),
        "endpoint": endpoint,
        "model": model,
        "prompt_sha": sha,
        "benchmark": benchmark,
        "item_id": item_id,
        "seed": seed,
        "fault": fault,
        "status": status,
    }


def _tool_call(body: Mapping[str, Any], sha: str) -> dict[str, Any] | None:
    """The function call a simulated model makes when `tools` are offered (unless tool_choice is
    "none" or the last message is already a tool's result): the named tool, else the first, with
    each required parameter set to "sim"."""
    tools, choice, messages = body.get("tools"), body.get("tool_choice"), body.get("messages")
    if not isinstance(tools, list) or not tools or choice == "none":
        return None
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict) \
            and messages[-1].get("role") == "tool":
        return None
    named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    functions = [t["function"] for t in tools
                 if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    function = next((f for f in functions if named is None or f.get("name") == named), None)
    if function is None:
        return None
    parameters = function.get("parameters")
    required = parameters.get("required") if isinstance(parameters, dict) else None
    arguments = {str(name): "sim" for name in (required if isinstance(required, list) else [])}
    return {"id": f"call_sim_{sha[:12]}", "type": "function",
            "function": {"name": str(function.get("name")), "arguments": json.dumps(arguments)}}


def _prompt_text(body: Mapping[str, Any]) -> str:
    messages = body.get("messages") or []
    return "".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))


def _prompt_tokens(body: Mapping[str, Any]) -> int:
    return max(tokens_of(_prompt_text(body)), 1)


def _timings(usage: Mapping[str, Any], seconds: float) -> dict[str, float]:
    """llama.cpp's `timings`: the server's own time for the prompt and the generation, without
    the time the request waited in its queue (a tenth of the time is the prompt's here)."""
    prompt_ms, predicted_ms = seconds * 100.0, seconds * 900.0
    prompt_n, predicted_n = usage["prompt_tokens"], usage["completion_tokens"]
    return {
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "prompt_per_second": prompt_n / (prompt_ms / 1000.0) if prompt_ms else 0.0,
        "predicted_n": predicted_n,
        "predicted_ms": predicted_ms,
        "predicted_per_second": predicted_n / (predicted_ms / 1000.0) if predicted_ms else 0.0,
    }


# --- Running it --------------------------------------------------------------------------------


async def run_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    latency_scale: float = 1.0,
    faults: Mapping[str, float] | None = None,
    seed: int = 0,
    log_path: str | os.PathLike[str] | None = None,
    ready_file: str | os.PathLike[str] | None = None,
    extra_benchmarks: Mapping[str, str] | None = None,
    index_only: Collection[str] | None = None,
    stop: asyncio.Event | None = None,
    modes: ServerModes | None = None,
) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT when run by `serve`)."""
    provider = SimProvider(
        latency_scale=latency_scale,
        faults=faults,
        seed=seed,
        log_path=log_path,
        extra_benchmarks=extra_benchmarks,
        index_only=index_only,
        modes=modes,
    )
    runner = web.AppRunner(provider.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=1.0)
        try:
            await site.start()
        except OSError as exc:
            raise SimServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound_port = runner.addresses[0][1]
        provider.start_indexing()
        if ready_file is not None:
            tmp = Path(f"{ready_file}.tmp")
            tmp.write_text(f"{bound_port}\n")
            os.replace(tmp, ready_file)
        print(f"listening on http://{host}:{bound_port}/v1", file=sys.stderr, flush=True)
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
        provider.close()


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    latency_scale: float = 1.0,
    faults: Mapping[str, float] | None = None,
    seed: int = 0,
    log_path: str | os.PathLike[str] | None = None,
    ready_file: str | os.PathLike[str] | None = None,
    extra_benchmarks: Mapping[str, str] | None = None,
    index_only: Collection[str] | None = None,
    modes: ServerModes | None = None,
) -> None:
    """Run the simulated provider until SIGTERM or SIGINT (blocking).

    `index_only` limits which benchmarks' prompts are recognised (None: every registered one).
    """
    if latency_scale < 0:
        raise SimServerError(f"--latency-scale must be >= 0, got {latency_scale}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_server(
            host,
            port,
            latency_scale=latency_scale,
            faults=faults,
            seed=seed,
            log_path=log_path,
            ready_file=ready_file,
            extra_benchmarks=extra_benchmarks,
            index_only=index_only,
            stop=stop,
            modes=modes,
        )

    asyncio.run(main())


def serve_from_args(args: argparse.Namespace) -> int:
    """Validate parsed `serve` options and run the server."""
    faults = dict(parse_fault_spec(spec) for spec in args.fault)
    extra: dict[str, str] = {}
    for spec in args.benchmark:
        name, sep, target = spec.partition("=")
        if not sep or not name or not target:
            raise SimServerError(f"--benchmark {spec!r}: expected NAME=MODULE[:ATTR]")
        extra[name] = target
    if args.generation_s is not None and args.generation_s < 0:
        raise SimServerError(f"--generation-s must be >= 0, got {args.generation_s}")
    if args.context_tokens is not None and args.context_tokens < 1:
        raise SimServerError(f"--context-tokens must be >= 1, got {args.context_tokens}")
    serve(
        args.host,
        args.port,
        latency_scale=args.latency_scale,
        faults=faults,
        seed=args.seed,
        log_path=args.log,
        ready_file=args.ready_file,
        extra_benchmarks=extra,
        index_only=None if args.index is None else [n for n in args.index.split(",") if n],
        modes=ServerModes(args.serial, args.generation_s, args.context_tokens),
    )
    return 0


# --- A server in a subprocess, for tests and `avp demo` -----------------------------------------


class SimServer:
    """The simulated provider in a subprocess: `with SimServer(latency_scale=0) as sim: ...`.

    Exposes `base_url` ("http://127.0.0.1:PORT/v1"), `port`, and the control API:
    `add_faults(rules)`, `clear_faults()`, `log()`, `stats()`; `stop()` terminates, then kills.
    """

    def __init__(
        self,
        *,
        latency_scale: float = 1.0,
        faults: Mapping[str, float] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        extra_benchmarks: Mapping[str, str] | None = None,
        index_only: Sequence[str] | None = None,
        startup_timeout: float = 20.0,
        modes: ServerModes | None = None,
    ) -> None:
        self.latency_scale = latency_scale
        self.modes = modes or ServerModes()
        self.faults = dict(faults or {})
        self.log_path = log_path
        self.seed = seed
        self.host = host
        self.extra_benchmarks = dict(extra_benchmarks or {})
        self.index_only = None if index_only is None else list(index_only)
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the running server subprocess."""
        return self._proc.pid if self._proc is not None else None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise SimServerError("the simulated provider is not running")
        return f"http://{self.host}:{self.port}/v1"

    def command(self, ready_file: str) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "avp_harness.sim.server",
            "serve",
            "--host",
            self.host,
            "--port",
            "0",
            "--ready-file",
            ready_file,
            "--latency-scale",
            str(self.latency_scale),
            "--seed",
            str(self.seed),
        ]
        cmd += [arg for kind, rate in self.faults.items() for arg in ("--fault", f"{kind}={rate}")]
        cmd += [
            a for name, t in self.extra_benchmarks.items() for a in ("--benchmark", f"{name}={t}")
        ]
        if self.log_path is not None:
            cmd += ["--log", os.fspath(self.log_path)]
        if self.index_only is not None:
            cmd += [f"--index={','.join(self.index_only)}"]
        return cmd + self.modes.arguments()

    def start(self) -> SimServer:
        """Start the subprocess and wait until it listens (else SimServerError with its stderr)."""
        self._dir = tempfile.mkdtemp(prefix="avp-sim-")
        ready = os.path.join(self._dir, "port")
        stderr_path = os.path.join(self._dir, "stderr")
        with open(stderr_path, "wb") as stderr:
            self._proc = subprocess.Popen(
                self.command(ready),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + self.startup_timeout
        while not os.path.exists(ready):
            code = self._proc.poll()
            if code is not None or time.monotonic() > deadline:
                err = Path(stderr_path).read_text(errors="replace").strip()
                self.stop()
                why = f"exited with code {code}" if code is not None else "timed out"
                raise SimServerError(
                    f"simulated provider {why} before listening: {err or '(no stderr)'}"
                )
            time.sleep(0.02)
        self.port = int(Path(ready).read_text())
        return self

    def stop(self) -> None:
        """Terminate the server (SIGTERM), then kill it if it lingers."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        self.port = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control API

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        url = f"http://{self.host}:{self.port}{path}"
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SimServerError(
                f"{method} {url}: {exc.code} {exc.read().decode(errors='replace')}"
            ) from None

    def add_faults(self, rules: Sequence[Mapping[str, Any]]) -> None:
        """Queue scripted faults, e.g. [{"fault": "429", "count": 2, "retry_after": 0.1}]."""
        self._call("POST", "/_sim/faults", {"rules": list(rules)})

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sim/faults")

    def log(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_sim/log"))

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/stats"))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m avp_harness.sim.server serve ...`"""
    parser = argparse.ArgumentParser(
        prog="python -m avp_harness.sim.server",
        description="Simulated OpenAI-compatible provider (all models are simulated).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_parser = sub.add_parser("serve", help="run the simulated provider")
    add_serve_arguments(serve_parser)
    args = parser.parse_args(argv)
    try:
        return serve_from_args(args)
    except AvpError as exc:
        print(f"sim: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
