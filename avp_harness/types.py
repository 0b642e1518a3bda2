"""Frozen value types shared across the seams of the harness.

Nothing here does I/O. Benchmarks produce `Item`s, providers produce `Completion`s,
graders produce `Grade`s, the collector turns them into `CellResult`s for the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the basis of every hash we store."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message as sent to an OpenAI-compatible endpoint."""

    role: Literal["system", "user", "assistant"]
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class Item:
    """One benchmark question, rendered exactly as it is sent to a model.

    `target` is JSON-serialisable (a letter, a number string, a grid list, test cases...).
    Everything random about the rendering (choice permutation, subset) is fixed when the item
    is built, so the same seed always yields byte-identical messages.
    """

    id: str
    dataset: str
    messages: tuple[Message, ...]
    target: Any
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt_text(self) -> str:
        """What a router embeds: the text of the last user message, or `metadata["route_text"]`
        when the benchmark names one (an agentic benchmark whose conversation is made during the
        run, such as τ²-bench: see benchmarks/tau2.py)."""
        route = self.metadata.get("route_text") if self.metadata else None
        if isinstance(route, str):
            return route
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return self.messages[-1].content if self.messages else ""

    def content_hash(self) -> str:
        """Hash of what the model sees and what it is graded against."""
        payload = {"messages": [m.as_dict() for m in self.messages], "target": self.target}
        return sha256_hex(canonical_json(payload))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as reported by the provider. Reasoning tokens are billed as output."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0


class CostSource(StrEnum):
    REPORTED = "reported"  # the provider said what the call cost (OpenRouter usage.cost)
    PRICE_TABLE = "price_table"  # tokens x the configured, dated price table
    UNKNOWN = "unknown"  # neither: no dollars are invented


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful model call.

    `latency_s` is the request latency: wall time of the one HTTP request that answered, as the
    client saw it, including any time the request waited in the server's queue (not our own
    limiter's wait). `server_time_s` is the server's own time for it (prompt + generation, no
    queueing) when the response says (llama.cpp's `timings`), else None.
    """

    text: str
    usage: Usage
    cost: float | None
    cost_source: CostSource
    latency_s: float
    finish_reason: str | None
    price_version: str | None = None
    raw: Mapping[str, Any] | None = None
    server_time_s: float | None = None
    # τ²-bench's simulated user (a model of its own, paid apart, like a judge): its calls during
    # the simulation that this completion is the trajectory of; None for a plain call.
    user_model: str | None = None
    user_usage: Usage | None = None
    user_cost: float | None = None


@dataclass(frozen=True, slots=True)
class Grade:
    """A grader's verdict on one completion. `parsed` is False when no answer could be extracted."""

    score: float
    extracted: str | None
    explanation: str
    grader: str
    grader_version: str
    parsed: bool = True
    judge_model: str | None = None
    judge_output: str | None = None
    judge_usage: Usage | None = None
    judge_cost: float | None = None


class Status(StrEnum):
    """What happened to a cell. Only OK cells carry a grade; CONTEXT_EXCEEDED is final too
    (not retried, not re-sent, left out of accuracy and counted); the others are retried next run.

    A truncated answer (finish_reason "length": it hit max_tokens) is still OK: it is graded and
    its grade counts, and the stored finish reason marks it, so `avp status`, `avp report` and the
    TUI count truncations apart from answers that did not follow the format.
    """

    OK = "ok"
    ANSWERED = "answered"  # the answer is stored (and paid for), its grade is not yet: no new call
    CONTEXT_EXCEEDED = "context_exceeded"  # the prompt is longer than the model's context window
    ERROR = "error"  # non-retryable provider error (400/401/403/404, quota) or retries exhausted
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    REFUSED = "refused"  # content filter / refusal finish reason
    MALFORMED = "malformed"  # the provider answered with a body we could not read
    CANCELLED = "cancelled"  # the run was interrupted while the call was in flight


# Finished cells: never requested again. A context-length rejection is permanent for its
# fingerprint (same prompt, same model and parameters), so it is done, and left out of accuracy.
DONE_STATUSES = (Status.OK.value, Status.CONTEXT_EXCEEDED.value)


# "connection": no HTTP answer at all (refused, reset, DNS): transient, and counted per provider
RetryKind = Literal["rate_limit", "transient", "connection", "fatal"]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """How the engine should treat a failed call, as classified by the provider layer."""

    retry: bool
    kind: RetryKind
    status: Status
    retry_after: float | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class CellKey:
    """Identity of one cell of the evaluation matrix."""

    model: str
    benchmark: str
    item_id: str
    sample: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class CellResult:
    """Everything the store records about one attempted cell."""

    key: CellKey
    benchmark_version: str
    config_hash: str  # the fingerprint without the item: one (model config x benchmark) column
    item_hash: str  # Item.content_hash()
    status: Status
    attempts: int
    started_at: float
    finished_at: float
    run_id: int | None = None
    error: str | None = None
    completion: Completion | None = None
    grade: Grade | None = None
    rate_limits: int = 0  # 429 answers met on the way (each one retried)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model as the store records it: how it was called and priced when last run."""

    id: str
    provider: str
    model_name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    price: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """One judge call as the judge cache keeps it: the raw reply, its tokens and dollars."""

    key: str
    judge_model: str
    prompt_version: str
    output: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    cost_source: str = "unknown"


def last_user_text(messages: Any) -> str | None:
    """The last user message's text (its text parts joined) in OpenAI chat messages, or None
    when there is none: what the routing server routes on and the simulator answers."""
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content
                               if isinstance(p, dict) and p.get("type", "text") == "text")
            return None
    return None
