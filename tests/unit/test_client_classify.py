"""The provider layer's classification of failures as real servers word them."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import openai
import pytest

from avp_harness.gateway.client import classify
from avp_harness.types import Status

URL = "http://127.0.0.1:8080/v1/chat/completions"


def status_error(code: int, body: Any) -> openai.APIStatusError:
    response = httpx.Response(code, request=httpx.Request("POST", URL), json=body)
    error = body.get("error", body) if isinstance(body, dict) else {}
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    cls = {400: openai.BadRequestError, 422: openai.UnprocessableEntityError}.get(
        code, openai.APIStatusError
    )
    return cls(message, response=response, body=body)


CONTEXT_REPLIES = [
    # OpenAI
    (400, {"error": {"message": "This model's maximum context length is 8192 tokens. However, "
                     "your messages resulted in 9000 tokens. Please reduce the length of the "
                     "messages.", "type": "invalid_request_error",
                     "code": "context_length_exceeded"}}),
    # llama.cpp server
    (400, {"error": {"code": 400, "message": "request (4476 tokens) exceeds the available "
                     "context size (4096 tokens), try increasing it",
                     "type": "exceed_context_size_error", "n_prompt_tokens": 4476,
                     "n_ctx": 4096}}),
    # vLLM (top-level body, as it answers)
    (400, {"object": "error", "message": "This model's maximum context length is 6048 tokens. "
           "However, you requested 6616 tokens (568 in the messages, 6048 in the completion). "
           "Please reduce the length of the messages or completion.",
           "type": "BadRequestError", "param": None, "code": 400}),
    # vLLM V1
    (400, {"object": "error", "message": "The decoder prompt (length 9000) is longer than the "
           "maximum model length of 8192. Make sure that `max_model_len` is no smaller than the "
           "number of text tokens.", "type": "BadRequestError", "code": 400}),
    # OpenRouter
    (400, {"error": {"message": "This endpoint's maximum context length is 131072 tokens. "
                     "However, you requested about 140000 tokens (139000 of text input, 1000 in "
                     "the output). Please reduce the length of either one.", "code": 400}}),
    # llama-cpp-python
    (400, {"error": {"message": "Requested tokens (5000) exceed context window of 4096",
                     "type": "internal_server_error"}}),
    # text-generation-inference
    (422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
           "4096. Given: 4000 `inputs` tokens and 500 `max_new_tokens`",
           "error_type": "validation"}),
]


@pytest.mark.parametrize(("code", "body"), CONTEXT_REPLIES)
def test_context_length_rejections_are_final_and_named(code: int, body: Any) -> None:
    decision = classify(status_error(code, body))
    assert decision.status is Status.CONTEXT_EXCEEDED
    assert not decision.retry and decision.kind == "fatal"
    assert "context window" in decision.message


@pytest.mark.parametrize(("code", "body"), [
    (400, {"error": {"message": "Invalid value for 'temperature'", "code": "invalid_value"}}),
    (500, {"error": {"message": "maximum context length is 4096 tokens (server bug)"}}),
    (401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}),
])
def test_other_failures_are_not_context_rejections(code: int, body: Any) -> None:
    assert classify(status_error(code, body)).status is not Status.CONTEXT_EXCEEDED


def test_a_refused_connection_names_the_url_and_counts_as_a_connection_failure() -> None:
    request = httpx.Request("POST", URL)
    try:
        try:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        except httpx.ConnectError as cause:
            raise openai.APIConnectionError(request=request) from cause
    except openai.APIConnectionError as exc:
        decision = classify(exc)
    assert decision.kind == "connection" and decision.retry
    assert decision.message == f"cannot reach {URL}: [Errno 111] Connection refused"
