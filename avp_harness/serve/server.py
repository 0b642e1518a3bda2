"""`avp serve`: a fitted router as an OpenAI-compatible endpoint (aiohttp).

    POST /v1/chat/completions   model `avp/<router>` (its α), `avp/<router>@<alpha>`, or a
                                configured model id (sent to it as is); streaming or not
    GET  /v1/models             the router and the configured models
    GET  /health                {"status": "ok", ...} (no token needed)

A routed request is embedded the router's own way (`app.serving.routing_text`: the last user
message), routed with the same code as `avp route` (`app.routing.decide`), and forwarded whole
(tools, tool_choice, response_format, ...) through the gateway: the same client, limits, retries
and dollars as the collector. The reply is the upstream's, with `model` set to the chosen model's
id; the decision is in `x-avp-*` headers and an `avp` field of the body (of the first chunk when
streaming). Errors are OpenAI's JSON shape: 400 bad body, 401 missing token, 404 unknown model,
502 upstream failure (its status in `error.upstream_status` and `x-avp-upstream-status`, with
`x-should-retry: false`, the gateway having retried already), 503 when the store stopped taking
records. Every request is recorded in the store (`served` table) off the event loop (`ServedLog`).

A router that chooses several models (kinds `avengers`, `jisi`) is served by `ensemble.py` (its
several calls, the vote or JiSi's decision); here only `ensemble_completion` turns its answer
into a reply. `n` > 1 is forwarded and every choice returned; a non-streamed reply keeps the
upstream's `id`, `created` and `system_fingerprint`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from avp_harness.app.routing import Decision, LoadedRouter, decide
from avp_harness.app.serving import ROUTER_PREFIX, parse_model_name, routing_text
from avp_harness.config import Config, ModelConfig
from avp_harness.errors import AvpError, RouterError
from avp_harness.gateway.forward import (
    OWN_FIELDS,
    StreamBroken,
    UpstreamFailed,
    stream_completion,
    upstream_status,
)
from avp_harness.redact import redact
from avp_harness.serve.ensemble import (
    Ensemble,
    EnsembleAnswer,
    EnsembleFailed,
    EnsembleOptions,
    EnsembleRequestError,
    Tally,
    decision_headers,
    message_chunks,
    message_of,
    requested_benchmark,
)
from avp_harness.store import Store
from avp_harness.store.served import ServedRequest, record_served

MAX_BODY_BYTES = 32 * 1024 * 1024


class ServeError(AvpError):
    """`avp serve` cannot start (bad options, a router it cannot serve, a port in use)."""


def error_response(status: int, message: str, err_type: str, code: str | None = None,
                   headers: Mapping[str, str] | None = None,
                   **extra: Any) -> web.Response:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code", ...}}."""
    body = {"error": {"message": redact(message), "type": err_type, "param": None, "code": code,
                      **extra}}
    return web.json_response(body, status=status, headers=headers)


# -- the record of served requests --------------------------------------------------------------


class ServedLog:
    """Served requests written to the store by a background task, in a thread (a write never
    blocks the event loop). A write starts as soon as the previous one is done, with every row
    that arrived meanwhile (a group commit): under load the rows share transactions, and a crash
    loses only the requests answered during the one write in progress, not a timer's worth of
    paid calls. A failed write sets `failure`: new requests are refused from then on, since what
    they cost could not be kept."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[ServedRequest] = []
        self.failure: str | None = None
        self.written = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def add(self, row: ServedRequest) -> None:
        self.pending.append(row)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows or self.failure is not None:
            return
        try:
            await asyncio.to_thread(record_served, self.store, rows)
            self.written += len(rows)
        except Exception as exc:  # StoreWriteError, a lost database: stop taking requests
            self.failure = redact(str(exc)) or type(exc).__name__
            print(f"avp serve: error: {self.failure}: new requests are refused",
                  file=sys.stderr, flush=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Served:
    """One request's record as it is built."""

    requested: str
    at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    router: str | None = None
    alpha: float | None = None
    model: str | None = None
    stream: bool = False

    def row(self, status: str, http_status: int, *, usage: Any = None, cost: float | None = None,
            cost_source: str = "unknown", upstream: int | None = None,
            error: str | None = None, calls: int = 1) -> ServedRequest:
        return ServedRequest(
            at=self.at, router=self.router, alpha=self.alpha, requested=self.requested,
            model=self.model, stream=self.stream, status=status, http_status=http_status,
            upstream_status=upstream,
            prompt_tokens=usage.prompt_tokens if usage is not None else 0,
            completion_tokens=usage.completion_tokens if usage is not None else 0,
            cost=cost, cost_source=cost_source,
            latency_s=time.perf_counter() - self.started, error=error, calls=calls,
        )


class BadRequest(Exception):
    def __init__(self, status: int, message: str, err_type: str, code: str | None) -> None:
        super().__init__(message)
        self.status, self.err_type, self.code = status, err_type, code


class ServeApp:
    """The HTTP handlers around one loaded router, the config's models and a gateway."""

    def __init__(self, config: Config, loaded: LoadedRouter, alpha: float, gateway: Any,
                 log: ServedLog, token: str | None = None,
                 ensemble: EnsembleOptions | None = None) -> None:
        self.config = config
        self.loaded = loaded
        self.alpha = alpha
        self.gateway = gateway
        self.log = log
        self.token = token
        self.models = {m.id: m for m in config.models}
        missing = [m for m in loaded.models if m not in self.models]
        if missing:
            raise ServeError(
                f"router {loaded.name!r} chooses among models not configured in "
                f"{config.file_label()}: {', '.join(missing)} (add them under [[models]] so "
                "requests can be sent to them)")
        self.ensemble = (None if loaded.kind.chooses == "one" else  # serve/ensemble.py
                         Ensemble(config, loaded, gateway, ensemble or EnsembleOptions()))
        self.embeds_inline = loaded.embedding.spec == "tfidf"  # fast: no thread hop
        self._pending: list[tuple[str, float, asyncio.Future[tuple[Decision, float]]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES,
                              middlewares=[self.errors_middleware])
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_get("/health", self.health)
        return app

    @web.middleware
    async def errors_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every answer is OpenAI-shaped JSON, never a traceback; the token is checked here."""
        if self.token is not None and request.path.startswith("/v1/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return error_response(401, "missing or wrong API key (Authorization: Bearer ...)",
                                      "invalid_request_error", "invalid_api_key")
        try:
            return await handler(request)
        except web.HTTPException as exc:  # unknown paths, wrong methods, a body too large
            return error_response(exc.status, exc.reason, "invalid_request_error", None)
        except asyncio.CancelledError:
            raise
        except AvpError as exc:  # e.g. an embedding API that failed: its one line
            return error_response(500, str(exc), "server_error")
        except Exception as exc:  # a bug: one line, no traceback to the client
            print(f"avp serve: error: {type(exc).__name__}: {redact(str(exc))}",
                  file=sys.stderr, flush=True)
            return error_response(500, f"internal error: {type(exc).__name__}", "server_error")

    async def health(self, request: web.Request) -> web.Response:
        status = "ok" if self.log.failure is None else "store_failed"
        return web.json_response({"status": status, "router": self.loaded.name,
                                  "alpha": self.alpha, "recorded": self.log.written,
                                  **({"error": self.log.failure} if self.log.failure else {})},
                                 status=200 if self.log.failure is None else 503)

    async def list_models(self, request: web.Request) -> web.Response:
        ids = [f"{ROUTER_PREFIX}{self.loaded.name}", *self.models]
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "avp"} for i in ids]
        return web.json_response({"object": "list", "data": data})

    # -- chat completions --------------------------------------------------------------------

    async def read_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            raise BadRequest(413, f"request body larger than {MAX_BODY_BYTES} bytes",
                             "invalid_request_error", None) from None
        except ValueError:
            raise BadRequest(400, "request body is not JSON", "invalid_request_error",
                             None) from None
        if not isinstance(body, dict):
            raise BadRequest(400, "request body must be a JSON object", "invalid_request_error",
                             None)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise BadRequest(400, "`model` must be a string", "invalid_request_error", None)
        messages = body.get("messages")
        if (not isinstance(messages, list) or not messages
                or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                           for m in messages)):
            raise BadRequest(400, "`messages` must be a non-empty list of message objects",
                             "invalid_request_error", None)
        if not isinstance(body.get("stream", False), bool):
            raise BadRequest(400, "`stream` must be true or false", "invalid_request_error", None)
        return body

    async def resolve(self, body: dict[str, Any],
                      served: Served) -> tuple[ModelConfig, Decision | None, float]:
        """The model to send to (and the routing decision with its time in seconds)."""
        try:
            name = parse_model_name(body["model"], self.loaded.name)
        except RouterError as exc:
            raise BadRequest(400, str(exc), "invalid_request_error", "invalid_model") from None
        if name is None or (name.model is not None and name.model not in self.models):
            known = ", ".join([f"{ROUTER_PREFIX}{self.loaded.name}", *self.models])
            raise BadRequest(404, f"the model {body['model']!r} does not exist here (served: "
                             f"{known})", "invalid_request_error", "model_not_found")
        if name.model is not None:
            served.model = name.model
            return self.models[name.model], None, 0.0
        text = routing_text(body["messages"])
        if text is None:
            raise BadRequest(400, "a routed request needs a user message with text content",
                             "invalid_request_error", None)
        served.router = self.loaded.name
        served.alpha = self.alpha if name.alpha is None else name.alpha
        decision, seconds = await self.route(text, served.alpha)
        served.model = decision.chosen
        return self.models[decision.chosen], decision, seconds

    async def route(self, text: str, alpha: float) -> tuple[Decision, float]:
        """Route one query. The queries of the requests that arrive together are embedded and
        routed in one `decide` call per α (the same code and vectors as `avp route`, row by row;
        one call per batch instead of per request is what keeps TF-IDF cheap under load).
        Returns the decision and the seconds its batch took."""
        future: asyncio.Future[tuple[Decision, float]] = asyncio.get_running_loop().create_future()
        self._pending.append((text, alpha, future))
        if len(self._pending) == 1:
            task = asyncio.create_task(self._route_pending())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _route_pending(self) -> None:
        await asyncio.sleep(0)  # the handlers ready in this turn of the loop join the batch
        batch, self._pending = self._pending, []
        try:
            if self.embeds_inline:
                results = self._decide(batch)
            else:  # an embedding that may block (ONNX, an API): off the event loop
                results = await asyncio.to_thread(self._decide, batch)
        except Exception as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _decide(self, batch: list[Any]) -> list[tuple[Decision, float]]:
        started = time.perf_counter()
        by_alpha: dict[float, list[int]] = {}
        for i, (_, alpha, _) in enumerate(batch):
            by_alpha.setdefault(alpha, []).append(i)
        decisions: list[Decision | None] = [None] * len(batch)
        for alpha, rows in by_alpha.items():
            for i, decision in zip(rows, decide(self.loaded, [batch[i][0] for i in rows], alpha),
                                   strict=True):
                decisions[i] = decision
        seconds = time.perf_counter() - started
        return [(d, seconds) for d in decisions if d is not None]

    def avp_info(self, served: Served, decision: Decision | None,
                 route_s: float) -> tuple[dict[str, Any], dict[str, str]]:
        """The decision as the body's `avp` field and as `x-avp-*` headers."""
        assert served.model is not None
        info: dict[str, Any] = {"model": served.model}
        headers = {"x-avp-model": served.model}
        if decision is not None:
            scores = {m: (round(s, 6) if math.isfinite(s) else None) for m, s in decision.scores}
            info.update(router=served.router, alpha=served.alpha, scores=scores,
                        route_ms=round(route_s * 1000, 3))
            headers.update({
                "x-avp-router": str(served.router),
                "x-avp-alpha": f"{served.alpha:g}",
                "x-avp-scores": json.dumps(scores, separators=(",", ":")),
                "x-avp-route-ms": f"{route_s * 1000:.3f}",
            })
        return info, headers

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        served = Served(requested="")
        try:
            if self.log.failure is not None:
                raise BadRequest(503, f"the store stopped taking records ({self.log.failure}): "
                                 "requests are refused", "server_error", "store_failed")
            body = await self.read_body(request)
            served.requested = body["model"]
            served.stream = bool(body.get("stream"))
            if self.ensemble is not None and body["model"].partition("@")[0] == (
                    f"{ROUTER_PREFIX}{self.loaded.name}"):
                return await self.ensemble_completion(request, body, served)
            model, decision, route_s = await self.resolve(body, served)
        except BadRequest as exc:
            self.log.add(served.row("rejected", exc.status, error=str(exc), calls=0))
            return error_response(exc.status, str(exc), exc.err_type, exc.code)
        info, headers = self.avp_info(served, decision, route_s)
        rest = {k: v for k, v in body.items() if k not in OWN_FIELDS and k != "avp"}
        if served.stream:
            if isinstance(body.get("stream_options"), dict):
                rest["stream_options"] = body["stream_options"]
            return await self.stream(request, served, model, body["messages"], rest, info,
                                     headers)
        return await self.complete(served, model, body["messages"], rest, info, headers)

    async def complete(self, served: Served, model: ModelConfig, messages: list[Any],
                       rest: dict[str, Any], info: dict[str, Any],
                       headers: dict[str, str]) -> web.Response:
        try:
            outcome = await self.gateway.complete(model, messages, request=rest)
        except asyncio.CancelledError:
            self.log.add(served.row("cancelled", 499, error="the client went away"))
            raise
        completion = outcome.completion
        if completion is None:
            decision = outcome.decision
            message = decision.message if decision is not None else "no answer"
            status = upstream_status(None, message)
            self.log.add(served.row(decision.status.value if decision else "error", 502,
                                    upstream=status, error=message))
            return self.upstream_error(model, status, message, headers)
        self.log.add(served.row("ok", 200, usage=completion.usage, cost=completion.cost,
                                cost_source=str(completion.cost_source)))
        return web.json_response(self.reply_body(served, model, completion,
                                                 {**info, "cost": completion.cost}),
                                 headers=headers)

    @staticmethod
    def reply_body(served: Served, model: ModelConfig, completion: Any,
                   info: dict[str, Any]) -> dict[str, Any]:
        """A chat.completion: the upstream's choices (all of them with n > 1), id, created and
        system_fingerprint (made up only when the upstream sent none), `model` the chosen one."""
        raw = completion.raw or {}
        choices = raw.get("choices") or [
            {"index": 0, "message": message_of(completion),
             "finish_reason": completion.finish_reason, "logprobs": None}]
        usage = completion.usage
        return {
            "id": raw.get("id") or f"chatcmpl-avp-{int(served.at * 1e6):x}",
            "object": "chat.completion",
            "created": raw.get("created") or int(served.at),
            "model": model.id,
            **({"system_fingerprint": raw["system_fingerprint"]}
               if raw.get("system_fingerprint") else {}),
            "choices": choices,
            "usage": {"prompt_tokens": usage.prompt_tokens,
                      "completion_tokens": usage.completion_tokens,
                      "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
                      "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}},
            "avp": info,
        }

    def upstream_error(self, model: ModelConfig, status: int | None, message: str,
                       headers: dict[str, str], **extra_body: Any) -> web.Response:
        extra = {**headers, "x-should-retry": "false"}
        if status is not None:
            extra["x-avp-upstream-status"] = str(status)
        return error_response(502, f"upstream {model.id} failed: {message}", "upstream_error",
                              f"upstream_{status}" if status else "upstream_unreachable",
                              headers=extra, upstream_status=status, **extra_body)

    async def stream(self, request: web.Request, served: Served, model: ModelConfig,
                     messages: list[Any], rest: dict[str, Any], info: dict[str, Any],
                     headers: dict[str, str]) -> web.StreamResponse:
        response: web.StreamResponse | None = None
        outcome = None
        try:
            async with stream_completion(self.gateway, model, messages, rest) as upstream:
                outcome = upstream.outcome
                response = web.StreamResponse(headers={
                    **headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
                await response.prepare(request)
                first = True
                async for chunk in upstream:
                    chunk["model"] = model.id
                    if first:
                        chunk["avp"], first = info, False
                    await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                await response.write(b"data: [DONE]\n\n")
        except UpstreamFailed as exc:
            message = exc.decision.message
            self.log.add(served.row(exc.decision.status.value, 502, upstream=exc.upstream_status,
                                    error=message))
            return self.upstream_error(model, exc.upstream_status, message, headers)
        except StreamBroken as exc:  # headers and some chunks are out: an error event, then end
            assert response is not None
            self.log.add(self._stream_row(served, outcome, "broken", str(exc)))
            event = {"error": {"message": redact(f"upstream {model.id}: {exc}"),
                               "type": "upstream_error", "code": "upstream_stream_broken",
                               "param": None}}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            return response
        except (asyncio.CancelledError, ConnectionError):
            self.log.add(self._stream_row(served, outcome, "cancelled", "the client went away"))
            raise
        self.log.add(self._stream_row(served, outcome, "ok", None))
        await response.write_eof()
        return response

    async def ensemble_completion(self, request: web.Request, body: dict[str, Any],
                                  served: Served) -> web.StreamResponse:
        """A request to an ensemble router (serve/ensemble.py): its several calls, the reply the
        chosen message with `usage` summed over every call; streamed as that message's chunks
        once decided. A call that failed: 502 with its upstream status and the `avp` field."""
        assert self.ensemble is not None
        served.router, tally = self.loaded.name, Tally()
        try:
            if "@" in body["model"]:
                raise EnsembleRequestError(f"an ensemble router has no alpha: ask for "
                                           f"{ROUTER_PREFIX}{self.loaded.name}")
            if body.get("n", 1) != 1:
                raise EnsembleRequestError("`n` other than 1 is not served by an ensemble router")
            rest = {k: v for k, v in body.items() if k not in OWN_FIELDS}
            answer = await self.ensemble.answer(
                body["messages"], rest, requested_benchmark(body, request.headers), tally)
        except EnsembleRequestError as exc:
            self.log.add(served.row("rejected", 400, error=str(exc), calls=0))
            return error_response(400, str(exc), "invalid_request_error", None)
        except EnsembleFailed as exc:
            served.model = exc.model
            self.log.add(self._ensemble_row(served, tally, exc.decision.status.value, 502,
                                            exc.decision.message, exc.status))
            return self.upstream_error(self.models[exc.model], exc.status, exc.decision.message,
                                       decision_headers(exc.info), avp=exc.info)
        except asyncio.CancelledError:
            self.log.add(self._ensemble_row(served, tally, "cancelled", 499,
                                            "the client went away"))
            raise
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return await self.ensemble_reply(request, served, answer, include_usage)

    async def ensemble_reply(self, request: web.Request, served: Served,
                             answer: EnsembleAnswer, include_usage: bool) -> web.StreamResponse:
        served.model = answer.model.id
        info = {"model": answer.model.id, **answer.info}
        reply = self.reply_body(served, answer.model, answer.completion, info)
        usage = answer.tally.usage
        reply["usage"] = {"prompt_tokens": usage.prompt_tokens,
                          "completion_tokens": usage.completion_tokens,
                          "total_tokens": usage.prompt_tokens + usage.completion_tokens}
        headers = decision_headers(info)
        if not served.stream:
            self.log.add(self._ensemble_row(served, answer.tally, "ok", 200))
            return web.json_response(reply, headers=headers)
        response = web.StreamResponse(headers={
            **headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await response.prepare(request)
            for chunk in message_chunks(reply, include_usage):
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
        except (asyncio.CancelledError, ConnectionError):
            self.log.add(self._ensemble_row(served, answer.tally, "cancelled", 499,
                                            "the client went away"))
            raise
        self.log.add(self._ensemble_row(served, answer.tally, "ok", 200))
        await response.write_eof()
        return response

    @staticmethod
    def _ensemble_row(served: Served, tally: Tally, status: str, http: int,
                      error: str | None = None, upstream: int | None = None) -> ServedRequest:
        return served.row(status, http, usage=tally.usage, cost=tally.cost,
                          cost_source=tally.cost_source, upstream=upstream, error=error,
                          calls=tally.calls)

    @staticmethod
    def _stream_row(served: Served, outcome: Any, status: str, error: str | None) -> ServedRequest:
        http = 200 if status == "ok" else 499 if status == "cancelled" else 502
        if outcome is None:
            return served.row(status, http, error=error)
        return served.row(status, http, usage=outcome.usage, cost=outcome.cost,
                          cost_source=str(outcome.cost_source), error=error)


async def run(app: ServeApp, host: str, port: int, stop: asyncio.Event,
              ready: Callable[[int], None] | None = None) -> None:
    """Serve until `stop` is set; the served log is flushed and the gateway closed at the end."""
    runner = web.AppRunner(app.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    app.log.start()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=2.0)
        try:
            await site.start()
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0][1]
        # What start-up built (the router, sklearn, the SDK, ~250k objects) lives as long as the
        # server: out of the collector's sight, a full collection no longer walks it (it cost
        # ~0.1 s each, a pause of every request in flight, several times a minute under load).
        gc.collect()
        gc.freeze()
        if ready is not None:
            ready(bound)
        await stop.wait()
    finally:
        await runner.cleanup()
        await app.log.close()
        await app.gateway.close()
