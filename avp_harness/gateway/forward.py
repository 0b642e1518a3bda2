"""Streaming forwarder: one chat completion streamed from a model's provider, chunk by chunk.

    async with stream_completion(gw, model, messages, request) as upstream:
        async for chunk in upstream:        # each `chat.completion.chunk` as a dict
            ...
    upstream.outcome                        # usage, dollars, latency, finish reason, status

It calls through the gateway's own client for the model's provider (`gw.client_for`) and holds a
slot of that provider's limits (concurrency, RPM, TPM) for the whole stream, so streamed and
non-streamed calls share the limits, the AIMD back-off and the cost accounting. Opening the
stream (up to the upstream's HTTP status) is the part that may be retried, and only by the
gateway's policy (`Gateway.retrying`, `Gateway.failed`: its attempts, back-off and
classification, the same as `Gateway.complete`'s); once the
upstream has answered 200 nothing is retried, since chunks may have reached the client: a
stream that breaks then raises `StreamBroken`.

Usage is always asked of the upstream (`stream_options.include_usage`) so every streamed call is
priced; the usage-only chunk is passed on only when the caller asked for it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai

from avp_harness.gateway.client import parse_usage, reported_cost
from avp_harness.gateway.gateway import CallFailed, Gateway
from avp_harness.types import CostSource, RetryDecision, Status, Usage

if TYPE_CHECKING:
    from avp_harness.config import ModelConfig
    from avp_harness.gateway.client import ModelClient

# what the forwarder sets itself: the caller's values for these are not passed on
OWN_FIELDS = ("model", "messages", "stream", "stream_options")


class UpstreamFailed(Exception):
    """The stream could not be opened: nothing was sent to the caller."""

    def __init__(self, decision: RetryDecision, upstream_status: int | None) -> None:
        super().__init__(decision.message)
        self.decision = decision
        self.upstream_status = upstream_status


class StreamBroken(Exception):
    """The upstream stream failed after it had started (connection lost, an error event)."""


@dataclass
class StreamOutcome:
    usage: Usage | None = None
    cost: float | None = None
    cost_source: CostSource = CostSource.UNKNOWN
    latency_s: float | None = None
    finish_reason: str | None = None
    status: Status = Status.OK
    error: str | None = None
    attempts: int = 0


def upstream_status(exc: BaseException | None, message: str = "") -> int | None:
    """The HTTP status the upstream answered with, from the exception or its message."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code
    found = re.search(r"Error code: (\d{3})", message)
    return int(found.group(1)) if found else None


def stream_body(
    client: ModelClient, model: ModelConfig, messages: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """`chat.completions.create` keywords: the model's configured body with the caller's fields
    over it (`ModelClient.request_body`), everything in `extra_body` (as the client sends it:
    fields the SDK does not know pass unchanged), streamed, with usage asked for."""
    fields = {k: v for k, v in (request or {}).items() if k not in OWN_FIELDS}
    body = client.request_body(model, messages, None, fields)
    extra = {k: v for k, v in body.items() if k not in ("model", "extra_body")}
    extra.update(body.get("extra_body", {}))
    extra["stream_options"] = {"include_usage": True}
    return {"model": body["model"], "messages": [], "stream": True, "extra_body": extra}


class UpstreamStream:
    """An open upstream stream: iterate it for the chunks (dicts); `outcome` when done."""

    def __init__(self, response: Any, model: ModelConfig, started: float,
                 forward_usage: bool) -> None:
        self._response = response
        self._model = model
        self._started = started
        self._forward_usage = forward_usage
        self.outcome = StreamOutcome()
        self.completed = False

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        outcome = self.outcome
        try:
            async for line in self._response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    self.completed = True
                    break
                chunk = json.loads(payload)
                if not isinstance(chunk, dict):
                    raise ValueError("a chunk is not a JSON object")
                if chunk.get("error"):
                    error = chunk["error"]
                    text = error.get("message") if isinstance(error, dict) else error
                    raise StreamBroken(f"the upstream stream reported an error: {text}")
                choices = chunk.get("choices") or []
                for choice in choices:
                    if isinstance(choice, dict) and choice.get("finish_reason"):
                        outcome.finish_reason = choice["finish_reason"]
                if isinstance(chunk.get("usage"), dict):
                    self._price(chunk["usage"])
                    if not choices and not self._forward_usage:
                        continue
                yield chunk
        except StreamBroken:
            raise
        except Exception as exc:  # the connection dropped, a cut body, a chunk that is not JSON
            raise StreamBroken(f"the upstream stream broke: {type(exc).__name__}: {exc}"
                               [:500]) from exc
        finally:
            outcome.latency_s = time.perf_counter() - self._started
        if not self.completed:  # the body ended without [DONE]
            raise StreamBroken("the upstream stream ended before [DONE]")

    def _price(self, usage: Mapping[str, Any]) -> None:
        """Tokens and dollars the way `ModelClient.complete` counts them."""
        outcome = self.outcome
        outcome.usage = parse_usage(usage)
        reported = reported_cost(usage)
        if reported is not None:
            outcome.cost, outcome.cost_source = reported, CostSource.REPORTED
        elif self._model.price is not None:
            outcome.cost = self._model.price.cost(outcome.usage)
            outcome.cost_source = CostSource.PRICE_TABLE


@asynccontextmanager
async def stream_completion(
    gw: Gateway, model: ModelConfig, messages: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any] | None = None,
) -> AsyncIterator[UpstreamStream]:
    """Open a streamed completion of `model` through the gateway's client and limits.

    Opening is retried by the gateway's policy (the provider's `max_attempts`, the gateway's
    back-off or the upstream's Retry-After, `classify` deciding what is transient), each attempt
    through the provider's limits. Raises `UpstreamFailed` when it cannot be opened (nothing was
    sent to the caller), and the iteration `StreamBroken` when it breaks after that. The limits'
    slot is held until the block exits."""
    client, limits = gw.client_for(model)
    body = stream_body(client, model, messages, request)
    options = (request or {}).get("stream_options")
    forward_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    tokens = sum(len(m["content"]) for m in messages if isinstance(m.get("content"), str)) // 4
    attempts = 0
    failure: BaseException | None = None

    async def attempt() -> tuple[Any, Any, float]:
        """One try at opening the stream; on success the limits' slot stays held."""
        nonlocal failure
        gw.check_alive(limits)
        await limits.acquire(tokens=tokens)
        sent, started = time.monotonic(), time.perf_counter()
        try:
            opened = client.sdk.chat.completions.with_streaming_response.create(**body)
            return opened, await opened.__aenter__(), started
        except asyncio.CancelledError:
            await limits.release()
            raise
        except Exception as exc:
            await limits.release()
            failure = exc
            raise gw.failed(exc, limits, sent, attempts) from exc

    try:
        async for trying in gw.retrying(model):
            with trying:
                attempts += 1
                opened, response, started = await attempt()
    except CallFailed as failed:
        raise UpstreamFailed(failed.decision, upstream_status(failure)) from None
    try:
        limits.on_answer()
        stream = UpstreamStream(response, model, started, forward_usage)
        stream.outcome.attempts = attempts
        try:
            yield stream
        finally:
            await opened.__aexit__(None, None, None)
        if stream.completed:
            limits.on_success(stream.outcome.latency_s)
    finally:
        await limits.release()
