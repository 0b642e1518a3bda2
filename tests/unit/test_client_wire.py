"""`ModelClient.complete` posts a plain JSON body through the SDK's transport, around its
TypedDict transform and response models (a CPU saving): the request on the wire must carry
exactly what `chat.completions.create(**request_body)` sends (the same JSON object; key order
is not part of JSON's meaning)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import openai

from avp_harness.config import config_from_dict
from avp_harness.gateway.client import ModelClient

ANSWER = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
          "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": "[[1]]"}}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def test_complete_sends_the_same_json_as_create_with_the_request_body() -> None:
    sent: list[bytes] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.content)
        return httpx2.Response(200, json=ANSWER)

    config = config_from_dict({
        "providers": {"p": {"base_url": "http://127.0.0.1:9/v1", "request_cost": True}},
        "models": [{"id": "m", "provider": "p", "max_tokens": 50,
                    "extra_body": {"top_k": 5}}],
        "benchmarks": [{"name": "arc_agi", "limit": 1}],
    }, None)
    model = config.models[0]
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ünï [1]"}]

    async def both() -> Any:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        client = ModelClient(config.provider_for(model), http_client=http)
        completion = await client.complete(model, messages, seed=3)
        sdk = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0,
                                 http_client=http)
        await sdk.chat.completions.create(**client.request_body(model, messages, seed=3))
        await http.aclose()
        return completion

    completion = asyncio.run(both())
    assert completion.text == "[[1]]" and completion.usage.prompt_tokens == 3
    assert len(sent) == 2 and json.loads(sent[0]) == json.loads(sent[1])
    assert b'"messages":[{"role":"system"' in sent[0].replace(b" ", b"")
