"""The model gateway on its own: retries, classification, request pass-through and the hook that
keeps a call from being paid for. HTTP answers come from an in-process transport so each test
fixes the exact sequence of provider answers; the collector's tests run it against the real
simulated server."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from avp_harness.config import config_from_dict
from avp_harness.gateway import CallPrevented, Gateway
from avp_harness.gateway.gateway import CallFailed
from avp_harness.types import Status

ROOT = Path(__file__).resolve().parents[2]
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def answer(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "usage": USAGE,
            "choices": [{"index": 0, "finish_reason": finish, "message": message}]}


TEXT = answer({"role": "assistant", "content": "The answer is (B)"})
TOOL_CALL = answer({"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function",
     "function": {"name": "get_order", "arguments": '{"order_id": "7"}'}}]}, "tool_calls")


def run(responses: list[tuple[int, dict[str, Any]]], **call: Any) -> tuple[Any, list[Any]]:
    """One `Gateway.complete` against `responses`, served in order; returns its outcome and
    the JSON bodies sent."""
    sent: list[Any] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(json.loads(request.content))
        status, body = responses[min(len(sent), len(responses)) - 1]
        return httpx2.Response(status, json=body)

    config = config_from_dict({
        "providers": {"p": {"base_url": "http://127.0.0.1:9/v1", "max_attempts": 3}},
        "models": [{"id": "m", "provider": "p", "temperature": 0.0,
                    "price": {"input_per_m": 1.0, "output_per_m": 2.0}}],
        "benchmarks": [{"name": "arc_agi", "limit": 1}],
    }, None)
    gateway = Gateway(config, backoff_initial_s=0.0, backoff_max_s=0.0,
                      http_client_factory=lambda: httpx2.AsyncClient(
                          transport=httpx2.MockTransport(handler)),
                      before_call=call.pop("before_call", None))

    async def go() -> Any:
        try:
            return await gateway.complete(config.models[0],
                                          [{"role": "user", "content": "q"}], **call)
        finally:
            await gateway.close()

    return asyncio.run(go()), sent


def test_a_transient_failure_is_retried_and_the_answer_priced() -> None:
    outcome, sent = run([(500, {"error": {"message": "boom"}}), (200, TEXT)])
    assert outcome.attempts == 2 and len(sent) == 2 and outcome.decision is None
    assert outcome.completion.text == "The answer is (B)"
    assert outcome.completion.cost == pytest.approx((10 * 1.0 + 5 * 2.0) / 1e6)


def test_a_fatal_failure_is_not_retried_and_is_returned_not_raised() -> None:
    outcome, sent = run([(401, {"error": {"message": "bad key"}}), (200, TEXT)])
    assert outcome.completion is None and len(sent) == 1 and outcome.attempts == 1
    assert outcome.decision.status is Status.ERROR and not outcome.decision.retry


def test_rate_limits_are_counted_and_given_up_after_max_attempts() -> None:
    outcome, sent = run([(429, {"error": {"message": "slow down"}})])
    assert len(sent) == 3 and outcome.rate_limits == 3
    assert outcome.decision.status is Status.RATE_LIMITED


def test_request_fields_travel_whole_and_a_tool_call_answer_is_kept() -> None:
    tools = [{"type": "function", "function": {
        "name": "get_order", "parameters": {"type": "object", "properties": {
            "order_id": {"type": "string"}}}}}]
    outcome, sent = run([(200, TOOL_CALL)],
                        request={"tools": tools, "tool_choice": "auto", "temperature": 0.7})
    assert sent[0]["tools"] == tools and sent[0]["tool_choice"] == "auto"
    assert sent[0]["temperature"] == 0.7  # the request's own value wins over the model's
    message = outcome.completion.raw["message"]
    assert message["tool_calls"][0]["function"]["name"] == "get_order"
    assert outcome.completion.text == "" and outcome.attempts == 1


def test_an_answer_without_text_or_tool_calls_is_retried_as_empty() -> None:
    empty = answer({"role": "assistant", "content": ""})
    outcome, sent = run([(200, empty), (200, TEXT)])
    assert len(sent) == 2 and outcome.completion.text == "The answer is (B)"


def test_before_call_can_keep_a_call_from_being_sent() -> None:
    def refuse() -> None:
        raise CallPrevented

    with pytest.raises(CallPrevented):
        run([(200, TEXT)], before_call=refuse)


def test_no_module_but_the_gateway_retries_or_builds_a_model_client() -> None:
    """The one model-call layer: tenacity and `ModelClient` appear nowhere else."""
    offenders = []
    for folder in ("avp_harness", "benchmarks", "graders"):
        for path in (ROOT / folder).rglob("*.py"):
            if "gateway" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""] + [a.name for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                if any(n == "tenacity" or n == "ModelClient" or n.startswith("tenacity.")
                       for n in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_wait_between_attempts_is_retry_after_or_the_exponential_back_off() -> None:
    """`complete`'s loop and the streams' tenacity policy wait the same (`backoff_s`)."""
    from tenacity import RetryCallState

    from avp_harness.types import RetryDecision

    config = config_from_dict({
        "providers": {"p": {"base_url": "http://127.0.0.1:9/v1", "max_attempts": 8}},
        "models": [{"id": "m", "provider": "p"}],
        "benchmarks": [{"name": "arc_agi", "limit": 1}],
    }, None)
    gateway = Gateway(config, backoff_initial_s=1.0, backoff_max_s=10.0)
    transient = RetryDecision(True, "transient", Status.ERROR, None, "500")
    limited = RetryDecision(True, "rate_limit", Status.RATE_LIMITED, 7.5, "429")
    for attempt in range(1, 8):
        assert gateway.backoff_s(limited, attempt) == 7.5
        wait = gateway.backoff_s(transient, attempt)
        assert min(2.0 ** (attempt - 1), 10.0) <= wait <= min(2.0 ** (attempt - 1) + 1.0, 10.0)
    policy = gateway.retrying(config.models[0])
    state = RetryCallState(policy, None, (), {})
    state.attempt_number = 3
    state.set_exception((CallFailed, CallFailed(limited), None))
    assert policy.wait(state) == 7.5
