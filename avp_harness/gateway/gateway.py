"""The model gateway: the one way avp calls a model.

A `Gateway` holds, per provider connection (base URL and key), one `ModelClient` and one
`ProviderLimits` (adaptive concurrency bound, RPM/TPM limiters, timeouts, a provider that is down),
and makes calls through them, retried while `client.classify` says the failure is transient
(one policy, `Gateway.retrying`: a plain loop for `complete`, tenacity for opening streams).
It knows nothing of cells, plans or stores: the collector, the judge, regrade, onboard, the
routing server and agentic benchmarks all call models through it, so they share clients, limits,
retries, classification, usage and dollars.

`complete()` never raises for a failed call: it returns a `CallOutcome` holding either the
completion or the `RetryDecision` that gave it up (an infrastructure failure the caller records,
never a wrong answer). Only cancellation and the `before_call` hook's `CallPrevented` propagate:
`before_call` runs after the limits admitted a call and before it is sent, so a caller that can
no longer keep results (the collector, once its store failed) pays for nothing more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from avp_harness.gateway.client import ModelClient, classify
from avp_harness.gateway.limits import ProviderLimits
from avp_harness.redact import register_secret
from avp_harness.types import Completion, RetryDecision, Status

if TYPE_CHECKING:
    from avp_harness.config import Config, ModelConfig


class GatewayEvents(Protocol):
    """What the gateway tells its owner as calls happen (a collector's `Reporter` is one)."""

    def rate_limited(self, limits: ProviderLimits) -> None: ...
    def message(self, text: str) -> None: ...


class _Quiet:
    def rate_limited(self, limits: ProviderLimits) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One call after its retries: the completion, or the decision that gave it up."""

    completion: Completion | None
    decision: RetryDecision | None
    attempts: int
    rate_limits: int = 0


class CallFailed(Exception):
    """A single attempt failed; carries the client layer's classification."""

    def __init__(self, decision: RetryDecision) -> None:
        super().__init__(decision.message)
        self.decision = decision


class _Retryable(CallFailed):
    pass


class CallPrevented(Exception):
    """Raised by a `before_call` hook to keep a call from being sent (propagates unchanged)."""


class Gateway:
    """Clients, limits and retries for every provider of a config. See the module docstring.

    `http_client_factory` builds the httpx client of each provider (tests, benchmarks);
    `before_call` is called before each attempt is sent and may raise to prevent it.
    """

    def __init__(
        self,
        config: Config,
        *,
        events: GatewayEvents | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        http_client_factory: Callable[[], Any] | None = None,
        before_call: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.events: GatewayEvents = events or _Quiet()
        # exponential back-off with jitter: initial, 2x initial, 4x ... up to the maximum
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial_s, max=backoff_max_s, jitter=backoff_initial_s
        )
        self.http_client_factory = http_client_factory
        self.before_call = before_call
        self.clients: dict[str, ModelClient] = {}
        self.limits: dict[str, ProviderLimits] = {}

    def client_for(self, model: ModelConfig) -> tuple[ModelClient, ProviderLimits]:
        """The client and limits of `model`'s provider, created on first use."""
        provider = self.config.provider_for(model)
        key = provider.connection_key()
        if key not in self.clients:
            register_secret(provider.api_key())  # never stored, never shown (redact.py)
            http_client = self.http_client_factory() if self.http_client_factory else None
            self.clients[key] = ModelClient(provider, http_client=http_client)
            self.limits[key] = ProviderLimits(
                key, provider.max_concurrency, rpm=provider.rpm, tpm=provider.tpm,
                timeout_s=provider.timeout_s, base_url=provider.base_url,
            )
        return self.clients[key], self.limits[key]

    def limits_for(self, model: ModelConfig) -> ProviderLimits:
        return self.client_for(model)[1]

    async def close(self) -> None:
        """Close every client opened so far; the gateway may be used again afterwards."""
        for client in self.clients.values():
            await client.close()
        self.clients.clear()

    async def complete(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        *,
        request: Mapping[str, Any] | None = None,
        max_attempts: int | None = None,
    ) -> CallOutcome:
        """One model call through its provider's limits, retried while the failure is
        transient, at most `max_attempts` times (default: the provider's setting). `request`
        holds further OpenAI body fields passed whole (tools, tool_choice, response_format,
        ...); the answer's full message is then in `completion.raw["message"]`."""
        client, limits = self.client_for(model)
        limit = max_attempts or self.config.provider_for(model).max_attempts
        attempts = rate_limits = 0
        # The policy of `retrying` (at most `limit` attempts, `_Retryable` tried again after
        # `backoff_s`, `CallFailed` ends it) as a plain loop: tenacity's machinery cost ~0.1 ms
        # of CPU a call (perf/serve.py), more than the call's own HTTP request on aiohttp.
        while True:
            attempts += 1
            try:
                self.check_alive(limits)
                completion = await self._attempt(client, limits, model, messages, seed, attempts,
                                                 request)
            except CallFailed as failed:
                rate_limits += failed.decision.kind == "rate_limit"
                if not isinstance(failed, _Retryable) or attempts >= limit:
                    return CallOutcome(None, failed.decision, attempts, rate_limits)
                await asyncio.sleep(self.backoff_s(failed.decision, attempts))
                continue
            return CallOutcome(completion, None, attempts, rate_limits)

    def retrying(self, model: ModelConfig, max_attempts: int | None = None) -> AsyncRetrying:
        """The retry policy of every call: at most `max_attempts` (default: the provider's)
        attempts; an attempt raising `_Retryable` (see `failed`) is tried again after the
        upstream's Retry-After or the gateway's exponential back-off with jitter; `CallFailed`
        ends it. The streaming forwarder opens its streams under the same policy."""

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, CallFailed):
                return self.backoff_s(exc.decision, state.attempt_number)
            return float(self._backoff(state))

        return AsyncRetrying(
            stop=stop_after_attempt(max_attempts or self.config.provider_for(model).max_attempts),
            wait=wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )

    def backoff_s(self, decision: RetryDecision, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (from 1): the upstream's
        Retry-After, else the exponential back-off with jitter."""
        if decision.retry_after is not None:
            return decision.retry_after
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # no Retrying
        state.attempt_number = attempt
        return float(self._backoff(state))

    @staticmethod
    def check_alive(limits: ProviderLimits) -> None:
        """No attempt goes to a provider found down (connection failures in a row)."""
        if limits.dead:
            raise CallFailed(RetryDecision(False, "fatal", Status.ERROR, None,
                                           f"not called: {limits.down_message()}"))

    def failed(
        self, exc: Exception, limits: ProviderLimits, sent: float, attempt: int
    ) -> CallFailed:
        """An attempt's exception, classified (`client.classify`) and told to the provider's
        limits (rate limits, timeouts, a provider down): `_Retryable` when worth trying again."""
        decision = classify(exc)
        if decision.kind == "rate_limit":
            limits.on_rate_limit(decision.retry_after)
            self.events.rate_limited(limits)
        note = limits.on_failure(decision, sent, attempt)
        if note:
            self.events.message(note)
        return (_Retryable if decision.retry else CallFailed)(decision)

    async def _attempt(
        self,
        client: ModelClient,
        limits: ProviderLimits,
        model: ModelConfig,
        messages: Sequence[Mapping[str, Any]],
        seed: int | None,
        attempt: int,
        request: Mapping[str, Any] | None,
    ) -> Completion:
        await limits.acquire(tokens=_approx_tokens(messages))
        sent = time.monotonic()
        try:
            if self.before_call is not None:
                self.before_call()
            completion = await client.complete(model, messages, seed, request=request)
        except (asyncio.CancelledError, CallPrevented):
            raise
        except Exception as exc:
            raise self.failed(exc, limits, sent, attempt) from exc
        finally:
            await limits.release()
        limits.on_success(completion.latency_s)
        return completion


def _approx_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """About four characters a token, for the TPM limiter (tool calls may come without text)."""
    return sum(len(m["content"]) for m in messages if isinstance(m.get("content"), str)) // 4
