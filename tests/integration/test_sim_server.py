"""The simulated provider as the collector sees it: a real server in a subprocess, called over
loopback by the real `openai.AsyncOpenAI` client with max_retries=0."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import benchmarks
from avp_harness.cli import main as avp_main
from avp_harness.sim.models import SIM_EMBEDDING_MODEL, SIM_MODELS
from avp_harness.sim.server import (
    SimServer,
    SimServerError,
    prompt_sha,
    simulate_answer,
    tokens_of,
)
from avp_harness.types import Completion, CostSource, Item, Usage

pytestmark = pytest.mark.integration

LOG_KEYS = {
    "time",
    "endpoint",
    "model",
    "prompt_sha",
    "benchmark",
    "item_id",
    "seed",
    "fault",
    "status",
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    log_path = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    with SimServer(latency_scale=0, log_path=log_path) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").clear_faults()


@pytest.fixture
async def api(sim: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    """The real client the collector uses, over loopback, with no retries of its own."""
    async with openai.AsyncOpenAI(
        base_url=sim.base_url, api_key="sk-sim", max_retries=0, timeout=30.0
    ) as client:
        yield client


def first_item(name: str) -> Item:
    return next(iter(benchmarks.get(name).items(benchmarks.Selection(limit=1))))


def messages(item: Item) -> list[dict[str, str]]:
    return [m.as_dict() for m in item.messages]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_models_lists_the_catalogue_and_the_embedding_model(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    page = await api.models.list()
    assert {m.id for m in page.data} == {*SIM_MODELS, SIM_EMBEDDING_MODEL}


@pytest.mark.parametrize("model_id", sorted(SIM_MODELS))
@pytest.mark.parametrize("bench", ["arc_agi", "humaneval"])
async def test_recognised_items_are_answered_and_grade_as_simulated(
    sim: SimServer, model_id: str, bench: str, api: openai.AsyncOpenAI
) -> None:
    item = first_item(bench)
    response = await api.chat.completions.create(model=model_id, messages=messages(item))
    text = response.choices[0].message.content or ""
    expected = simulate_answer(SIM_MODELS[model_id], bench, item, prompt_sha(item.prompt_text), 0)
    assert text == expected.text  # recognised, and the same answer as computed in-process
    grade = await benchmarks.get(bench).grader()(
        item, Completion(text, Usage(), None, CostSource.UNKNOWN, 0.0, "stop")
    )
    assert grade.score == (1.0 if expected.correct else 0.0)
    assert response.choices[0].finish_reason == "stop"
    entry = sim.log()[-1]
    assert (entry["benchmark"], entry["item_id"], entry["model"]) == (bench, item.id, model_id)


async def test_same_request_same_answer_and_seed_varies_samples(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    item = first_item("arc_agi")

    async def ask(seed: int | None) -> str:
        extra = {} if seed is None else {"seed": seed}
        r = await api.chat.completions.create(model="sim/mid-pro", messages=messages(item), **extra)
        return r.choices[0].message.content or ""

    assert await ask(None) == await ask(None) == await ask(0)
    assert await ask(7) == await ask(7)
    assert len({await ask(seed) for seed in range(12)}) > 1
    assert [e["seed"] for e in sim.log()[-3:]] == [9, 10, 11]


async def test_unrecognised_prompt_gets_a_generic_answer(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    r = await api.chat.completions.create(model="sim/atlas-xl", messages=user("Hello?"))
    assert r.choices[0].message.content
    entry = sim.log()[-1]
    assert entry["benchmark"] is None and entry["item_id"] is None
    assert entry["prompt_sha"] == prompt_sha("Hello?")


async def test_cost_only_when_asked_and_reported_by_the_model(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    prompt = user("cost probe " + "x" * 400)
    asked = {"usage": {"include": True}}
    r = await api.chat.completions.create(model="sim/mid-pro", messages=prompt, extra_body=asked)
    usage = r.usage
    assert usage is not None
    cost = (usage.model_extra or {}).get("cost")
    model = SIM_MODELS["sim/mid-pro"]
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
    assert cost == pytest.approx(
        model.cost(usage.prompt_tokens, usage.completion_tokens, cached or 0)
    )
    plain = await api.chat.completions.create(model="sim/mid-pro", messages=prompt)
    assert "cost" not in (plain.usage.model_extra or {})  # type: ignore[union-attr]
    silent = await api.chat.completions.create(
        model="sim/flash-mini", messages=prompt, extra_body=asked
    )
    assert "cost" not in (silent.usage.model_extra or {})  # type: ignore[union-attr]


async def test_usage_tokens_reasoning_and_cached_prefix(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    prompt = user("reasoning probe " + "y" * 2000)
    first = await api.chat.completions.create(model="sim/reasoner-r1", messages=prompt)
    second = await api.chat.completions.create(model="sim/reasoner-r1", messages=prompt)
    u1, u2 = first.usage, second.usage
    assert u1 is not None and u2 is not None
    assert u1.prompt_tokens == math.ceil(len(prompt[0]["content"]) / 4)
    reasoning = u1.completion_tokens_details.reasoning_tokens  # type: ignore[union-attr]
    assert reasoning and reasoning > 0
    text = first.choices[0].message.content or ""
    assert u1.completion_tokens == tokens_of(text) + reasoning
    assert u1.prompt_tokens_details.cached_tokens == 0  # type: ignore[union-attr]
    assert u2.prompt_tokens_details.cached_tokens == u2.prompt_tokens // 2  # type: ignore[union-attr]
    plain = await api.chat.completions.create(model="sim/atlas-xl", messages=user("no thinking"))
    assert plain.usage.completion_tokens_details.reasoning_tokens == 0  # type: ignore[union-attr]


async def test_small_max_tokens_truncates_with_finish_reason_length(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    item = first_item("humaneval")
    r = await api.chat.completions.create(
        model="sim/coder-7b", messages=messages(item), max_tokens=5
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 5
    assert len(r.choices[0].message.content or "") <= 20
    thinking = await api.chat.completions.create(
        model="sim/reasoner-r1", messages=messages(item), max_completion_tokens=10
    )
    assert thinking.choices[0].finish_reason == "length"
    assert thinking.choices[0].message.content == ""  # the budget went on reasoning


async def test_streaming_sends_the_same_answer_in_chunks(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    item = first_item("humaneval")
    whole = await api.chat.completions.create(model="sim/mid-pro", messages=messages(item))
    stream = await api.chat.completions.create(
        model="sim/mid-pro", messages=messages(item), stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 3 and text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_tools_get_a_function_call_then_an_answer(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    tools: Any = [{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "required": ["city"],
                                         "properties": {"city": {"type": "string"}}}}}]
    first = await api.chat.completions.create(model="sim/mid-pro", messages=user("weather?"),
                                              tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"city": "sim"}
    follow: Any = [*user("weather?"), choice.message.model_dump(exclude_none=True),
                   {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = await api.chat.completions.create(model="sim/mid-pro", messages=follow, tools=tools)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    none = await api.chat.completions.create(model="sim/mid-pro", messages=user("weather?"),
                                             tools=tools, tool_choice="none")
    assert none.choices[0].message.tool_calls is None


async def test_bad_requests_get_openai_error_bodies(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await api.chat.completions.create(model="gpt-imaginary", messages=user("hi"))
    assert missing.value.code == "model_not_found"
    async with httpx2.AsyncClient() as http:
        for body in (b"{not json", b"[1, 2]", b'{"model": "sim/mid-pro"}'):
            r = await http.post(f"{sim.base_url}/chat/completions", content=body)
            assert r.status_code == 400
            assert set(r.json()["error"]) >= {"message", "type", "code"}


async def fault_outcome(api: openai.AsyncOpenAI, kind: str, timeout: float = 30.0) -> Any:
    """What the openai client sees for one request carrying `X-Sim-Fault: kind`."""
    try:
        return await api.with_options(timeout=timeout).chat.completions.create(
            model="sim/flash-mini",
            messages=user("fault probe"),
            extra_headers={"X-Sim-Fault": kind},
        )
    except Exception as exc:  # noqa: BLE001 - the exception IS the outcome under test
        return exc


async def test_rate_limit_fault_carries_retry_after(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    exc = await fault_outcome(api, "429")
    assert isinstance(exc, openai.RateLimitError)
    assert exc.response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
        ("400", openai.BadRequestError, 400),
        ("401", openai.AuthenticationError, 401),
        ("quota", openai.APIStatusError, 402),
    ],
)
async def test_status_faults(
    sim: SimServer, kind: str, error: type, status: int, api: openai.AsyncOpenAI
) -> None:
    exc = await fault_outcome(api, kind)
    assert isinstance(exc, error) and exc.status_code == status
    if kind == "quota":
        assert exc.code == "insufficient_quota" and "quota" in exc.message


async def test_reset_is_a_connection_error_not_a_timeout(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    exc = await fault_outcome(api, "reset")
    assert isinstance(exc, openai.APIConnectionError)
    assert not isinstance(exc, openai.APITimeoutError)
    assert sim.log()[-1]["status"] is None


async def test_malformed_body_raises_a_json_decode_error(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    exc = await fault_outcome(api, "malformed")
    assert isinstance(exc, json.JSONDecodeError)


async def test_empty_fault_returns_empty_content(sim: SimServer, api: openai.AsyncOpenAI) -> None:
    r = await fault_outcome(api, "empty")
    assert r.choices[0].message.content == ""
    assert r.usage.completion_tokens == 0


async def test_slow_fault_trips_the_client_timeout_or_answers_late(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    sim.add_faults([{"fault": "slow", "delay": 5}])
    with pytest.raises(openai.APITimeoutError):
        await api.with_options(timeout=0.3).chat.completions.create(
            model="sim/mid-pro", messages=user("slow probe")
        )
    sim.add_faults([{"fault": "slow", "delay": 0.05}])
    late = await api.chat.completions.create(model="sim/mid-pro", messages=user("slow"))
    assert late.choices[0].message.content
    assert [e["fault"] for e in sim.log()[-2:]] == ["slow", "slow"]


async def test_scripted_faults_are_consumed_exactly_n_times(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    sim.add_faults([{"fault": "503", "count": 2, "model": "sim/coder-7b"}])
    sim.add_faults([{"fault": "429", "count": 1, "retry_after": 0.25}])
    assert sim.stats()["pending_faults"] == 3
    # a request to another model skips the model-scoped rule and takes the 429
    with pytest.raises(openai.RateLimitError) as limited:
        await api.chat.completions.create(model="sim/atlas-xl", messages=user("a"))
    assert limited.value.response.headers["retry-after"] == "0.25"
    outcomes = []
    for _ in range(3):
        try:
            await api.chat.completions.create(model="sim/coder-7b", messages=user("b"))
            outcomes.append("ok")
        except openai.InternalServerError as exc:
            outcomes.append(str(exc.status_code))
    assert outcomes == ["503", "503", "ok"]
    assert sim.stats()["pending_faults"] == 0
    sim.add_faults([{"fault": "500", "count": 5}])
    sim.clear_faults()
    assert (await api.chat.completions.create(model="sim/coder-7b", messages=user("c"))).choices


def test_invalid_fault_rules_are_refused(sim: SimServer) -> None:
    with pytest.raises(SimServerError, match="unknown fault"):
        sim.add_faults([{"fault": "meltdown"}])


async def test_request_log_file_has_one_line_per_request(
    sim: SimServer, api: openai.AsyncOpenAI
) -> None:
    await api.chat.completions.create(model="sim/mid-pro", messages=user("log probe"))
    assert sim.log_path is not None
    lines = [json.loads(line) for line in Path(sim.log_path).read_text().splitlines()]
    in_memory = sim.log()
    assert lines == in_memory
    assert all(set(line) == LOG_KEYS for line in lines)
    stats = sim.stats()
    assert stats["requests"] == len(lines)
    assert sum(stats["by_model"].values()) == len(lines)
    assert stats["indexed"]["humaneval"] == 164 and stats["indexed"]["arc_agi"] == 400


def test_log_line_is_on_disk_before_a_sigkilled_client_gets_its_answer(
    sim: SimServer, tmp_path: Path
) -> None:
    sim.add_faults([{"fault": "slow", "delay": 5, "model": "sim/atlas-xl"}])
    child = (
        "import openai, sys\n"
        "c = openai.OpenAI(base_url=sys.argv[1], api_key='k', max_retries=0)\n"
        "c.chat.completions.create(model='sim/atlas-xl', "
        "messages=[{'role': 'user', 'content': 'killed client probe'}])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", child, sim.base_url])
    assert sim.log_path is not None
    wanted = prompt_sha("killed client probe")
    deadline = time.monotonic() + 15
    while wanted not in Path(sim.log_path).read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    lines = [json.loads(line) for line in Path(sim.log_path).read_text().splitlines()]
    assert [e["fault"] for e in lines if e["prompt_sha"] == wanted] == ["slow"]


async def test_embeddings_base64_and_float(sim: SimServer, api: openai.AsyncOpenAI) -> None:
    from avp_harness.sim.server import embed_text

    texts = ["a cat on a mat", "gauge theory"]
    r = await api.embeddings.create(model=SIM_EMBEDDING_MODEL, input=texts)  # base64 by default
    assert [d.index for d in r.data] == [0, 1]
    for d, text in zip(r.data, texts, strict=True):
        assert len(d.embedding) == 64
        assert d.embedding == pytest.approx(embed_text(text), abs=1e-6)
        assert math.isclose(sum(x * x for x in d.embedding), 1.0, rel_tol=1e-5)
    as_float = await api.embeddings.create(
        model=SIM_EMBEDDING_MODEL, input="gauge theory", encoding_format="float"
    )
    assert as_float.data[0].embedding == pytest.approx(embed_text("gauge theory"))
    assert r.usage.prompt_tokens > 0
    with pytest.raises(openai.NotFoundError):
        await api.embeddings.create(model="sim/atlas-xl", input="x")


def test_random_faults_are_seeded(tmp_path: Path) -> None:
    def statuses(seed: int) -> list[int]:
        with SimServer(latency_scale=0, faults={"429": 0.5}, seed=seed, index_only=[]) as server:
            out = []
            for _ in range(16):
                r = httpx2.post(
                    f"{server.base_url}/chat/completions",
                    json={"model": "sim/flash-mini", "messages": user("r")},
                    timeout=60,
                )
                out.append(r.status_code)
            return out

    first = statuses(3)
    assert first == statuses(3)
    assert set(first) == {200, 429}
    assert statuses(4) != first


def test_serve_entry_point_writes_ready_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready, log = tmp_path / "port", tmp_path / "stderr"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "avp_harness.sim.server", "serve", "--port", "0",
             "--ready-file", str(ready), "--latency-scale", "0"],
            stderr=stderr,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        port = int(ready.read_text())
        assert httpx2.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"listening on http://127.0.0.1:{port}/v1" in log.read_text()
    assert not Path(f"{ready}.tmp").exists()


def test_a_server_that_cannot_start_reports_its_stderr() -> None:
    server = SimServer(latency_scale=0, faults={"meltdown": 0.5})
    with pytest.raises(SimServerError, match="meltdown"):
        server.start()
    assert server.port is None


def test_cli_models_json_and_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert avp_main(["sim", "models", "--json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in catalogue] == list(SIM_MODELS)
    assert avp_main(["sim", "serve", "--fault", "429=2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RATE must be in [0, 1]" in err
    assert avp_main(["sim", "models"]) == 0
    assert "sim/reasoner-r1" in capsys.readouterr().out
