"""OpenAI-compatible model client: one call, its usage and dollars, and error classification.

The SDK is created with `max_retries=0`: retries and limits belong to `avp_harness.gateway`.
This module only makes single calls and says, for a failure, whether and when to retry
(`classify`), in the manner of inspect_ai's `should_retry`.

A chat completion is posted by `HttpPost`, on aiohttp, with the SDK's URL, headers and timeouts,
its failures raised as the SDK's own exceptions (`APIStatusError` built by the SDK from the
answer, `APITimeoutError`, `APIConnectionError`), so `classify` and everything above it see what
the SDK would have raised. Why not the SDK's httpx transport: at zero latency it cost ~1.2 ms of
CPU a call against ~0.2 ms for aiohttp (perf/serve.py, the largest cost of `avp serve` and of the
collector's own process). Streams (gateway/forward.py) still go through the SDK; a client given
an httpx `http_client` (tests) sends everything through the SDK as before.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx2
import openai
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from avp_harness.errors import ProviderError
from avp_harness.types import Completion, CostSource, RetryDecision, Status, Usage

if TYPE_CHECKING:
    from avp_harness.config import ModelConfig, ProviderConfig

# HTTP statuses that are the request's fault (or the account's): record, never retry.
FATAL_STATUSES = {400, 401, 402, 403, 404, 405, 413, 422}


class EmptyResponse(Exception):
    """The provider answered 200 with no usable content (retried as a transient failure)."""


class HttpPost:
    """POST a JSON body the way the SDK's `post(path, body=..., cast_to=object)` does, on an
    aiohttp session: the same URL, headers and timeouts (connect and each read: the client's
    timeout), redirects followed, the proxy environment honoured, connections kept alive; the
    answer decoded as the SDK decodes it (JSON when the content type says so, else the text);
    failures raised as the SDK raises them. One session per event loop (opened on first use)."""

    def __init__(self, sdk: openai.AsyncOpenAI, path: str) -> None:
        self.sdk = sdk
        base = sdk.base_url  # the SDK's own merge of a relative path (`_prepare_url`)
        self.url = base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode())
        self._headers: dict[str, str] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None

    def headers(self) -> dict[str, str]:
        """The SDK's headers for a first attempt (`_build_headers` with no per-call options)."""
        if self._headers is None:
            sdk = self.sdk
            merged = {**sdk.auth_headers, **sdk.default_headers,
                      "x-stainless-retry-count": "0"}
            timeout = sdk.timeout
            read = timeout.read if isinstance(timeout, httpx2.Timeout) else timeout
            if read is not None:
                merged["x-stainless-read-timeout"] = str(read)
            self._headers = {k: v for k, v in merged.items() if isinstance(v, str)}
        return self._headers

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            timeout = self.sdk.timeout
            if isinstance(timeout, httpx2.Timeout):
                connect, read = timeout.connect, timeout.read
            else:
                connect = read = timeout
            context: ssl.SSLContext | bool = True
            if self.url.scheme == "https":  # httpx's trust store, so both trust the same servers
                context = httpx2.create_ssl_context()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=5.0, ssl=context),
                timeout=aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read),
                auto_decompress=True, skip_auto_headers=("User-Agent",))
            self._loop = loop
            # The proxy environment (HTTP(S)_PROXY, NO_PROXY) read once, as httpx does; aiohttp's
            # trust_env would read it, and ~/.netrc, in a thread on every request.
            try:
                self._proxy, self._proxy_auth = get_env_proxy_for_url(URL(str(self.url)))
            except LookupError:
                self._proxy = self._proxy_auth = None
        return self._session

    async def post(self, body: Mapping[str, Any]) -> Any:
        url = str(self.url)
        # the SDK's encoding (`openapi_dumps`, httpx's defaults): compact UTF-8, NaN refused
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                             allow_nan=False).encode()
        try:
            session = self.session()
            async with session.post(url, data=payload, headers=self.headers(),
                                    proxy=self._proxy, proxy_auth=self._proxy_auth) as response:
                content = await response.read()
                status, headers = response.status, response.headers
        except TimeoutError as exc:  # aiohttp's connect and read timeouts (before OSError)
            raise openai.APITimeoutError(request=self._request(url, payload)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise openai.APIConnectionError(request=self._request(url, payload)) from exc
        if status >= 400:
            answer = httpx2.Response(status, headers=list(headers.items()), content=content,
                                     request=self._request(url, payload))
            raise self.sdk._make_status_error_from_response(answer)
        content_type = headers.get("content-type", "*").split(";")[0]
        if not content_type.endswith("json"):
            return httpx2.Response(status, headers=list(headers.items()), content=content).text
        return json.loads(content)

    @staticmethod
    def _request(url: str, payload: bytes) -> httpx2.Request:
        return httpx2.Request("POST", url, content=payload)

    async def close(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None


class ModelClient:
    """One `openai.AsyncOpenAI` per provider; `complete` makes exactly one HTTP request."""

    def __init__(self, provider: ProviderConfig, *, http_client: Any | None = None) -> None:
        self.provider = provider
        self._client = openai.AsyncOpenAI(
            base_url=provider.base_url,
            api_key=provider.api_key() or "no-key",
            max_retries=0,
            timeout=provider.timeout_s,
            default_headers=dict(provider.headers) or None,
            http_client=http_client,
        )
        # an httpx client given (tests' in-process transports): every call through the SDK
        self._post = None if http_client is not None else HttpPost(self._client,
                                                                  "/chat/completions")

    @property
    def sdk(self) -> openai.AsyncOpenAI:
        """The provider's SDK client (the streaming forwarder opens its streams with it)."""
        return self._client

    def connection_key(self) -> str:
        """The scope of this client's concurrency and rate limits."""
        return self.provider.connection_key()

    async def close(self) -> None:
        if self._post is not None:
            await self._post.close()
        await self._client.close()

    def request_body(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` for this model and prompt;
        `request`'s fields (tools, tool_choice, response_format, ...) are sent as given, over
        the model's own parameters."""
        body: dict[str, Any] = {
            "model": model.model,
            "messages": list(messages),
            "temperature": model.temperature,
        }
        if model.max_tokens is not None:
            body["max_tokens"] = model.max_tokens
        if model.reasoning_effort is not None:
            body["reasoning_effort"] = model.reasoning_effort
        if seed is not None:
            body["seed"] = seed
        extra = dict(model.extra_body)
        if self.provider.request_cost:
            extra.setdefault("usage", {"include": True})
        for name, value in (request or {}).items():
            if name not in ("model", "messages", "stream"):
                extra[name] = value
        if extra:
            body["extra_body"] = extra
        return body

    async def complete(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> Completion:
        """One chat completion. Raises the SDK's exceptions or `EmptyResponse`. With `request`,
        the answer's whole message (tool calls included) is kept in `raw["message"]`, the
        upstream's `id`, `created` and `system_fingerprint` beside it, and with n > 1 every
        choice in `raw["choices"]`."""
        kwargs = self.request_body(model, messages, seed, request)
        body = {k: v for k, v in kwargs.items() if k != "extra_body"} | kwargs.get("extra_body", {})
        # The SDK's URL, headers and status errors, without its per-call walk of the body
        # against the parameter TypedDicts and its pydantic response models (together ~0.5 ms
        # of CPU a call) nor its httpx transport (~0.7 ms more, see `HttpPost`): the body is
        # already plain JSON and the answer is read as JSON (the decoded body, unchanged).
        started = time.perf_counter()
        if self._post is not None:
            data = await self._post.post(body)
        else:
            data = await self._client.post("/chat/completions", body=body, cast_to=object)
        latency = time.perf_counter() - started
        if not isinstance(data, dict):
            raise EmptyResponse("response is not a JSON object")
        choices = data.get("choices")
        if not choices or not isinstance(choices[0], dict):
            raise EmptyResponse("response has no choices")
        choice = choices[0]
        message = choice.get("message")
        message = message if isinstance(message, dict) else {}
        text = message.get("content")
        if text is not None and not isinstance(text, str):
            raise EmptyResponse("response content is not text")
        finish_reason = choice.get("finish_reason")
        tool_calls = message.get("tool_calls")
        if not text and not tool_calls and finish_reason not in ("length", "content_filter"):
            raise EmptyResponse("response has empty content")
        raw = None
        if request is not None:  # served whole: every choice, the upstream's id and fingerprint
            raw = {"message": {k: v for k, v in message.items() if v is not None},
                   **{k: data[k] for k in ("id", "created", "system_fingerprint") if k in data}}
            if len(choices) > 1:
                raw["choices"] = [c for c in choices if isinstance(c, dict)]
        usage_data = data.get("usage")
        usage = parse_usage(usage_data)
        cost, source, version = None, CostSource.UNKNOWN, None
        reported = reported_cost(usage_data)
        if reported is not None:
            cost, source = reported, CostSource.REPORTED
        elif model.price is not None:
            cost, source = model.price.cost(usage), CostSource.PRICE_TABLE
            version = model.price.version
        return Completion(
            text=text or "",
            usage=usage,
            cost=cost,
            cost_source=source,
            latency_s=latency,
            finish_reason=finish_reason,
            price_version=version,
            raw=raw,
            server_time_s=server_time(data),
        )


def server_time(response: Mapping[str, Any]) -> float | None:
    """The server's own seconds for a call, from llama.cpp's `timings` (prompt_ms +
    predicted_ms: queueing excluded); None when the response has no such field (vLLM, OpenAI;
    OpenRouter reports its generation time only through GET /generation, a second call per
    answer, which is not made)."""
    timings = response.get("timings")
    if not isinstance(timings, dict):
        return None
    try:
        millis = float(timings.get("prompt_ms") or 0.0) + float(timings.get("predicted_ms") or 0.0)
    except (TypeError, ValueError):
        return None
    return millis / 1000.0 if millis > 0 else None


def server_root(base_url: str) -> str:
    """`http://host:8080/v1` -> `http://host:8080` (llama.cpp serves /props at the root)."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")


def fetch_props(base_url: str, timeout_s: float = 10.0) -> dict[str, Any] | None:
    """llama.cpp's `GET /props` (chat_template, total_slots, n_ctx...), or None when the server
    has no such endpoint or does not answer it with a JSON object. Blocking: run it in a thread."""
    url = f"{server_root(base_url)}/props"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data = json.loads(response.read())
    except (OSError, ValueError):  # URLError, HTTPError, timeouts, non-JSON bodies
        return None
    return data if isinstance(data, dict) else None


def parse_usage(usage: Any) -> Usage:
    """Token counts from an OpenAI-style usage object (missing or malformed fields are 0)."""
    if not isinstance(usage, dict):
        return Usage()
    completion_details = usage.get("completion_tokens_details")
    prompt_details = usage.get("prompt_tokens_details")
    return Usage(
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        reasoning_tokens=_count(completion_details.get("reasoning_tokens")
                                if isinstance(completion_details, dict) else None),
        cached_tokens=_count(prompt_details.get("cached_tokens")
                             if isinstance(prompt_details, dict) else None),
    )


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def reported_cost(usage: Any) -> float | None:
    """OpenRouter's `usage.cost` (dollars), when the provider reported it."""
    cost = usage.get("cost") if isinstance(usage, dict) else None
    try:
        return None if cost is None else float(cost)
    except (TypeError, ValueError):
        return None


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """`retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def _is_quota(exc: openai.APIStatusError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    code = str(error.get("code", "") if isinstance(error, dict) else "")
    text = f"{code} {exc.message}".lower()
    return "insufficient_quota" in text or "quota" in text or "credits" in text


# How servers say "the prompt does not fit the context window" (HTTP 400/413/422):
# OpenAI's code, llama.cpp's error type and message, vLLM's and OpenRouter's "maximum context
# length is N tokens", vLLM V1's "longer than the maximum model length", llama-cpp-python's
# "exceed context window", TGI's "must be <= N" input validation.
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "exceed_context_size_error",
    "exceeds the available context size",
    "maximum context length",
    "longer than the maximum model length",
    "exceed context window",
    "context window exceeded",
    "prompt is too long",
    "input is too long",
    "inputs` tokens + `max_new_tokens` must be",
)


def is_context_exceeded(exc: openai.APIStatusError) -> bool:
    """A 400/413/422 whose code, type or message says the prompt exceeds the context window."""
    if exc.status_code not in (400, 413, 422):
        return False
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    parts = [exc.message]
    if isinstance(error, dict):
        parts += [str(error.get(k, "")) for k in ("code", "type", "message")]
    elif isinstance(error, str):  # text-generation-inference: {"error": "...", "error_type"}
        parts.append(error)
    text = " ".join(parts).lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def _connection_message(exc: openai.APIConnectionError) -> str:
    """'cannot reach URL: reason' (the SDK's own message is only "Connection error.")."""
    cause = exc.__cause__ or exc.__context__
    reason = str(cause) if cause is not None and str(cause) else str(exc)
    try:
        url = str(exc.request.url)
    except (AttributeError, RuntimeError):
        url = "the provider"
    return f"cannot reach {url}: {reason}"[:500]


def classify(exc: BaseException) -> RetryDecision:
    """Whether to retry a failed call, and what status to record if it is given up."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, openai.APITimeoutError):
        return RetryDecision(True, "transient", Status.TIMEOUT, None, message)
    if isinstance(exc, openai.APIConnectionError):
        return RetryDecision(True, "connection", Status.ERROR, None, _connection_message(exc))
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code == 402 or (code == 429 and _is_quota(exc)):
            return RetryDecision(False, "fatal", Status.ERROR, None, f"quota exhausted: {message}")
        if code == 429:
            after = retry_after_seconds(exc.response.headers)
            return RetryDecision(True, "rate_limit", Status.RATE_LIMITED, after, message)
        if is_context_exceeded(exc):
            return RetryDecision(False, "fatal", Status.CONTEXT_EXCEEDED, None,
                                 f"prompt longer than the context window: {message}")
        if code in FATAL_STATUSES:
            return RetryDecision(False, "fatal", Status.ERROR, None, message)
        if code >= 500 or code in (408, 409):
            after = retry_after_seconds(exc.response.headers)
            return RetryDecision(True, "transient", Status.ERROR, after, message)
        return RetryDecision(False, "fatal", Status.ERROR, None, message)
    if isinstance(exc, EmptyResponse | ValueError | openai.APIResponseValidationError):
        return RetryDecision(True, "transient", Status.MALFORMED, None, message)
    if isinstance(exc, ProviderError) and exc.decision is not None:
        return exc.decision
    return RetryDecision(False, "fatal", Status.ERROR, None, message)
