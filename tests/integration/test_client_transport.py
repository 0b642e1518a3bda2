"""`ModelClient` posts chat completions on aiohttp (`gateway.client.HttpPost`), not through the
SDK's httpx transport: what goes on the wire and what a failure is classified as must be what the
SDK would have sent and raised. Checked against a capturing HTTP server and the real simulator
with each of its faults, side by side with the SDK's own client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from aiohttp import web

from avp_harness.config import config_from_dict
from avp_harness.gateway.client import HttpPost, ModelClient, classify
from avp_harness.sim.server import SimServer

ANSWER = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
          "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": "[[1]]"}}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
# set by each transport itself, not by the SDK's request building
TRANSPORT_HEADERS = {"host", "content-length", "accept-encoding", "connection"}


def provider_config(base_url: str, **provider: Any) -> Any:
    return config_from_dict({
        "providers": {"p": {"base_url": base_url, "request_cost": True, **provider}},
        "models": [{"id": "m", "provider": "p", "model": "sim/flash-mini", "max_tokens": 50,
                    "extra_body": {"top_k": 5}}],
        "benchmarks": [{"name": "arc_agi", "limit": 1}],
    }, None)


def test_the_aiohttp_post_sends_the_sdks_json_and_headers() -> None:
    sent: list[tuple[dict[str, str], bytes, str]] = []

    async def handler(request: web.Request) -> web.Response:
        sent.append(({k.lower(): v for k, v in request.headers.items()}, await request.read(),
                     request.path_qs))
        return web.json_response(ANSWER)

    async def both() -> Any:
        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}/v1"
        config = provider_config(base, headers={"X-Title": "avp-test"})
        model = config.models[0]
        messages = [{"role": "system", "content": "be brief"},
                    {"role": "user", "content": "ünï [1]"}]
        try:
            client = ModelClient(config.provider_for(model))
            completion = await client.complete(model, messages, seed=3)
            await client.close()
            sdk = openai.AsyncOpenAI(base_url=base, api_key="no-key", max_retries=0,
                                     timeout=config.provider_for(model).timeout_s,
                                     default_headers={"X-Title": "avp-test"})
            await sdk.chat.completions.create(**client.request_body(model, messages, seed=3))
            await sdk.close()
        finally:
            await runner.cleanup()
        return completion

    completion = asyncio.run(both())
    assert completion.text == "[[1]]" and completion.usage.prompt_tokens == 3
    assert len(sent) == 2
    (ours, our_body, our_path), (sdks, sdk_body, sdk_path) = sent
    assert our_path == sdk_path == "/v1/chat/completions"
    assert json.loads(our_body) == json.loads(sdk_body)
    assert len(our_body) == len(sdk_body)  # the same encoding (compact, UTF-8), any key order
    assert json.loads(our_body)["top_k"] == 5 and ours["x-title"] == "avp-test"
    sdk_own = {k: v for k, v in sdks.items() if k not in TRANSPORT_HEADERS}
    assert {k: ours.get(k) for k in sdk_own} == sdk_own
    assert ours["authorization"] == "Bearer no-key"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(latency_scale=0, index_only=[]) as server:
        yield server


def outcome(base_url: str, fault: str, sdk: bool) -> tuple[str, Any]:
    """One call with the simulator's `fault` through the aiohttp post or (sdk) the SDK's httpx
    transport: the exception's type name and its classification, or the answer's text."""
    timeout = 0.5 if fault == "slow" else 30.0  # the slow fault sleeps 30 s before answering
    config = provider_config(base_url, headers={"X-Sim-Fault": fault}, timeout_s=timeout)
    model = config.models[0]

    async def call() -> tuple[str, Any]:
        http = httpx2.AsyncClient(timeout=timeout) if sdk else None
        client = ModelClient(config.provider_for(model), http_client=http)
        try:
            completion = await client.complete(model, [{"role": "user", "content": "hi"}])
            return "ok", completion.text
        except Exception as exc:
            return type(exc).__name__, classify(exc)
        finally:
            await client.close()
            if http is not None:
                await http.aclose()

    return asyncio.run(call())


@pytest.mark.parametrize("fault", ["429", "500", "503", "400", "401", "401-echo", "quota",
                                   "malformed", "empty", "reset", "slow", "none"])
def test_each_failure_is_raised_and_classified_as_the_sdk_would(sim: SimServer,
                                                                 fault: str) -> None:
    ours = outcome(sim.base_url, fault, sdk=False)
    theirs = outcome(sim.base_url, fault, sdk=True)
    assert ours[0] == theirs[0]
    if fault == "none":
        assert ours == theirs and ours[0] == "ok"
        return
    assert ours[0] != "ok"
    mine, sdk = ours[1], theirs[1]
    assert (mine.retry, mine.kind, mine.status, mine.retry_after) == \
        (sdk.retry, sdk.kind, sdk.status, sdk.retry_after)
    if fault not in ("reset", "slow", "malformed"):  # those quote the transport's own words
        assert mine.message == sdk.message
    else:
        assert mine.message.split(":")[0] == sdk.message.split(":")[0]


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/",
                                      "https://openrouter.ai/api/v1", "http://host:1",
                                      "https://h/openai/deployments/d?api-version=1"])
def test_the_url_is_the_sdks(base_url: str) -> None:
    sdk = openai.AsyncOpenAI(base_url=base_url, api_key="k")
    assert str(HttpPost(sdk, "/chat/completions").url) == \
        str(sdk._prepare_url("/chat/completions"))
