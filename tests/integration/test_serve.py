"""`avp serve` end to end: the official `openai` client against `avp serve` (a subprocess) in front
of `avp sim serve` (a subprocess), both real servers on 127.0.0.1, with a real SQLite store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from avp_harness.cli import main
from avp_harness.sim.server import ServerModes, SimServer
from tests.integration.test_router_cli import records

pytestmark = pytest.mark.integration

TOKEN = "serve-test-token-123"
PROVIDER_KEY = "sk-sim-provider-secret-4242"  # the simulator's key: it must never reach a client
SIM_IDS = {"small": "sim/flash-mini", "medium": "sim/mid-pro", "large": "sim/atlas-xl"}
PRICES = {"small": (0.1, 0.4), "medium": (0.8, 3.2), "large": (5.0, 15.0)}
QUERIES = [
    "solve the equation for x and simplify the polynomial expression about trains",
    "write a short poem about the sea and the moon in rhyming verse",
    "write a python function that sorts a list and returns the result",
    "how many rivers cross the numbers of stones",
]
TOOLS: Any = [{"type": "function", "function": {
    "name": "lookup", "description": "look a city's weather up",
    "parameters": {"type": "object", "required": ["city"],
                   "properties": {"city": {"type": "string"}}}}}]


def write_config(path: Path, base_url: str, db: str) -> Path:
    lines = [f'db = "{db}"', "[providers.sim]", f'base_url = "{base_url}"', "max_attempts = 2",
             "timeout_s = 30", 'api_key_env = "AVP_SERVE_TEST_PROVIDER_KEY"']
    for model_id, sim_id in SIM_IDS.items():
        price_in, price_out = PRICES[model_id]
        lines += ["[[models]]", f'id = "{model_id}"', 'provider = "sim"', f'model = "{sim_id}"',
                  f"price = {{ input_per_m = {price_in}, output_per_m = {price_out}, "
                  'date = "2026-11-01" }']
    path.write_text("\n".join(lines) + "\n")
    return path


def avp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


class Serve:
    """`avp serve` in a subprocess; `base_url`, `stderr()`, `stop()`."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="avp-serve-"))
        ready = self.dir / "port"
        self.out = (self.dir / "stdout").open("wb")
        self.err = (self.dir / "stderr").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "avp_harness.cli", "serve", *args, "--port", "0",
             "--ready-file", str(ready)],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err,
            env={**os.environ, "AVP_SERVE_TEST_PROVIDER_KEY": PROVIDER_KEY, **(env or {})},
        )
        deadline = time.monotonic() + 120
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"avp serve did not start: {self.stderr()}")
            time.sleep(0.05)
        self.port = int(ready.read_text())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stdout(self) -> str:
        return (self.dir / "stdout").read_text()

    def stderr(self) -> str:
        return (self.dir / "stderr").read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.err.close()
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store with a fitted TF-IDF router over three models, the simulator, a config sending
    the three models to it, and `avp serve main` (token required)."""
    tmp = tmp_path_factory.mktemp("serve")
    db = str(tmp / "runs.db")
    (tmp / "records.jsonl").write_text(records())
    assert main(["import", "avengers-pro", str(tmp / "records.jsonl"), "--db", db]) == 0
    assert main(["fit", "--name", "main", "--embedding", "tfidf", "--clusters", "6",
                 "--db", db]) == 0
    with SimServer(latency_scale=0, index_only=[]) as sim:
        config = write_config(tmp / "avp.toml", sim.base_url, db)
        server = Serve("main", "--config", str(config), "--api-key-env", "AVP_SERVE_TEST_KEY",
                       env={"AVP_SERVE_TEST_KEY": TOKEN})
        try:
            yield {"db": db, "config": config, "sim": sim, "serve": server, "tmp": tmp}
        finally:
            assert server.stop() == 0
            assert "Traceback" not in server.stderr()


@pytest.fixture
def client(setup: dict[str, Any]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=setup["serve"].base_url, api_key=TOKEN, max_retries=0,
                       timeout=60) as c:
        yield c


def routed(capsys: pytest.CaptureFixture[str], db: str, query: str,
           alpha: float | None) -> dict[str, Any]:
    extra = [] if alpha is None else ["--alpha", str(alpha)]
    code, out, _ = avp(capsys, "route", "main", query, "--json", "--db", db, *extra)
    assert code == 0
    return dict(json.loads(out))


def test_routed_decisions_equal_avp_route(setup, client, capsys) -> None:
    chosen = set()
    for alpha in (None, 0.0, 0.3, 0.7, 1.0):
        name = "avp/main" if alpha is None else f"avp/main@{alpha}"
        for query in QUERIES:
            raw = client.chat.completions.with_raw_response.create(
                model=name, messages=[{"role": "user", "content": query}])
            reply = raw.parse()
            expected = routed(capsys, setup["db"], query, alpha)
            assert reply.model == expected["model"] == raw.headers["x-avp-model"]
            assert float(raw.headers["x-avp-alpha"]) == expected["alpha"]
            assert json.loads(raw.headers["x-avp-scores"]) == expected["scores"]
            assert reply.model_extra and reply.model_extra["avp"]["model"] == reply.model
            assert reply.choices[0].message.content
            chosen.add(reply.model)
    assert len(chosen) >= 2  # the router really chooses (α 0: the cheapest; α 1: others)


async def test_requests_arriving_together_are_routed_as_avp_route_routes_them(
        setup, capsys) -> None:
    """Concurrent requests share one embedding and routing batch: each decision is still the
    one `avp route` makes for its own query and α."""
    import asyncio

    asks = [(q, a) for q in QUERIES for a in (0.0, 0.4, 1.0)] * 2
    async with openai.AsyncOpenAI(base_url=setup["serve"].base_url, api_key=TOKEN,
                                  max_retries=0, timeout=60) as c:
        replies = await asyncio.gather(*(c.chat.completions.create(
            model=f"avp/main@{a}", messages=[{"role": "user", "content": q}]) for q, a in asks))
    expected = {(q, a): routed(capsys, setup["db"], q, a)["model"] for q, a in set(asks)}
    assert [r.model for r in replies] == [expected[ask] for ask in asks]


def test_a_conversation_is_routed_on_its_last_user_message(setup, client, capsys) -> None:
    conversation: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": QUERIES[1]},
        {"role": "assistant", "content": "the sea, the moon"},
        {"role": "user", "content": [{"type": "text", "text": QUERIES[0]}]},
    ]
    for alpha in (0.3, 1.0):
        reply = client.chat.completions.create(model=f"avp/main@{alpha}", messages=conversation)
        assert reply.model == routed(capsys, setup["db"], QUERIES[0], alpha)["model"]


def test_a_configured_model_is_passed_through(client) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="medium", messages=[{"role": "user", "content": "hello"}])
    assert raw.parse().model == "medium" and "x-avp-router" not in raw.headers
    ids = {m.id for m in client.models.list()}
    assert ids == {"avp/main", "small", "medium", "large"}


def test_streaming_forwards_the_chunks_with_the_chosen_model(setup, client, capsys) -> None:
    query = QUERIES[2]
    whole = client.chat.completions.create(model="avp/main@1",
                                           messages=[{"role": "user", "content": query}])
    with client.chat.completions.with_streaming_response.create(
        model="avp/main@1", messages=[{"role": "user", "content": query}], stream=True,
    ) as raw:
        assert raw.headers["x-avp-model"] == whole.model
        chunks = list(raw.parse())
    assert {c.model for c in chunks} == {whole.model}
    assert chunks[0].model_extra and chunks[0].model_extra["avp"]["alpha"] == 1.0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert all(c.usage is None for c in chunks)  # not asked for: not passed on
    with_usage = list(client.chat.completions.create(
        model="avp/main@1", messages=[{"role": "user", "content": query}], stream=True,
        stream_options={"include_usage": True}))
    assert with_usage[-1].usage is not None
    assert with_usage[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True])
def test_a_tools_request_round_trips(client, stream: bool) -> None:
    messages: Any = [{"role": "user", "content": "what is the weather in Paris?"}]
    if stream:
        chunks = list(client.chat.completions.create(model="avp/main@0.5", messages=messages,
                                                     tools=TOOLS, stream=True))
        calls = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
        call_id, name, arguments = calls[0].id, calls[0].function.name, calls[0].function.arguments
    else:
        first = client.chat.completions.create(model="avp/main@0.5", messages=messages,
                                               tools=TOOLS, tool_choice="auto")
        assert first.choices[0].finish_reason == "tool_calls"
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    assert name == "lookup" and json.loads(arguments or "") == {"city": "sim"}
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21 C"},
    ]
    second = client.chat.completions.create(model="avp/main@0.5", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content


def test_errors_are_openai_shaped(setup, client) -> None:
    user: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-imaginary", messages=user)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="avp/other-router", messages=user)
    with pytest.raises(openai.BadRequestError) as alpha:
        client.chat.completions.create(model="avp/main@1.5", messages=user)
    assert "alpha" in alpha.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="avp/main", messages=[
            {"role": "system", "content": "no user message to route on"}])
    url = setup["serve"].base_url
    auth = {"Authorization": f"Bearer {TOKEN}"}
    one: Any = [{"role": "user", "content": "hi"}]
    for body in (b"{not json", b"[1, 2]", b'{"model": "avp/main"}',
                 b'{"model": "avp/main", "messages": [], "stream": "yes"}',
                 json.dumps({"model": "avp/main", "messages": one, "stream": 1}).encode()):
        r = httpx.post(f"{url}/chat/completions", content=body, headers=auth, timeout=30)
        assert r.status_code == 400 and set(r.json()["error"]) >= {"message", "type", "code"}
    r = httpx.get(f"{url}/nowhere", headers=auth, timeout=30)
    assert r.status_code == 404 and "error" in r.json()
    with openai.OpenAI(base_url=url, api_key="wrong", max_retries=0) as stranger, \
            pytest.raises(openai.AuthenticationError):
        stranger.chat.completions.create(model="avp/main", messages=user)
    health = httpx.get(url.removesuffix("/v1") + "/health", timeout=30)  # no token needed
    assert health.status_code == 200 and health.json()["router"] == "main"


def test_an_upstream_failure_is_a_502_with_its_status(setup, client) -> None:
    sim: SimServer = setup["sim"]
    user: Any = [{"role": "user", "content": "hi"}]
    sim.add_faults([{"fault": "400", "count": 1, "model": "sim/mid-pro"}])
    with pytest.raises(openai.APIStatusError) as bad:
        client.chat.completions.create(model="medium", messages=user)
    assert bad.value.status_code == 502 and bad.value.response.headers["x-should-retry"] == "false"
    assert bad.value.response.json()["error"]["upstream_status"] == 400
    assert bad.value.response.headers["x-avp-upstream-status"] == "400"
    sim.add_faults([{"fault": "503", "count": 2, "model": "sim/mid-pro"}])  # every attempt
    with pytest.raises(openai.APIStatusError) as down:
        client.chat.completions.create(model="medium", messages=user, stream=True)
    assert down.value.status_code == 502
    assert down.value.response.json()["error"]["upstream_status"] == 503
    sim.add_faults([{"fault": "401-echo", "count": 1, "model": "sim/mid-pro"}])
    with pytest.raises(openai.APIStatusError) as echoed:  # the upstream quotes the key it got
        client.chat.completions.create(model="medium", messages=user)
    assert echoed.value.status_code == 502 and "Incorrect API key provided: ***" in str(
        echoed.value.response.json())
    assert PROVIDER_KEY not in echoed.value.response.text
    for stream in (False, True):  # one transient failure: retried by the gateway's policy
        sim.add_faults([{"fault": "503", "count": 1, "model": "sim/mid-pro"}])
        reply = client.chat.completions.create(model="medium", messages=user, stream=stream)
        chunks = list(reply) if stream else []
        assert (chunks[0].model if stream else reply.model) == "medium"  # type: ignore[union-attr]
    assert sim.stats()["pending_faults"] == 0
    sim.clear_faults()


def test_served_requests_are_in_the_store(setup, client, capsys) -> None:
    user: Any = [{"role": "user", "content": QUERIES[0]}]
    client.chat.completions.create(model="avp/main@1", messages=user)
    list(client.chat.completions.create(model="avp/main@0", messages=user, stream=True))
    deadline = time.monotonic() + 60
    while True:  # the server writes its records in batches
        code, out, _ = avp(capsys, "served", "--json", "--db", setup["db"])
        report = json.loads(out)
        if report["total"]["requests"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    total = report["total"]
    assert code == 0 and total["requests"] >= 2
    assert total["dollars"] > 0 and total["prompt_tokens"] > 0 and total["completion_tokens"] > 0
    assert set(total["models"]) <= set(SIM_IDS) and total["models"]
    assert report["buckets"][-1]["routers"].get("main", 0) >= 2
    code, out, _ = avp(capsys, "served", "--db", setup["db"])
    assert code == 0 and "requests served in the last 24 hours" in out and "models:" in out


@contextlib.contextmanager
def slow_stream(setup: dict[str, Any], model: str,
                query: str) -> Iterator[tuple[SimServer, Serve, Iterator[Any]]]:
    """`avp serve main` in front of a simulator whose answers take 600 s, and a stream started
    through it whose first chunk is in (the upstream has started answering)."""
    tmp: Path = setup["tmp"]
    with SimServer(latency_scale=0, index_only=[], modes=ServerModes(generation_s=600)) as slow:
        config = write_config(tmp / "slow.toml", slow.base_url, setup["db"])
        server = Serve("main", "--config", str(config))
        try:
            with openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0,
                               timeout=60) as c:
                chunks = iter(c.chat.completions.create(
                    model=model, stream=True, messages=[{"role": "user", "content": query}]))
                assert next(chunks).model in SIM_IDS
                yield slow, server, chunks
        finally:
            server.stop()
            assert "Traceback" not in server.stderr()


def test_killing_the_upstream_mid_stream_gives_the_client_a_clean_error(setup, capsys) -> None:
    with slow_stream(setup, "avp/main@1", QUERIES[1]) as (slow, server, chunks):
        assert slow.pid is not None
        os.kill(slow.pid, signal.SIGKILL)
        with pytest.raises(openai.APIError) as broken:
            for _ in chunks:
                pass
        assert "upstream" in str(broken.value.message)
    assert server.proc.returncode == 0
    deadline = time.monotonic() + 60
    rows: list[Any] = []
    while time.monotonic() < deadline:
        code, out, _ = avp(capsys, "served", "--json", "--db", setup["db"], "--bucket", "day")
        rows = json.loads(out)["buckets"]
        if sum(b["failed"] for b in rows) >= 1:
            break
        time.sleep(0.2)
    assert sum(b["failed"] for b in rows) >= 1


def test_target_accuracy_picks_the_cheapest_alpha_keeping_the_share(setup, capsys) -> None:
    code, out, _ = avp(capsys, "sweep", "main", "--json", "--db", setup["db"])
    sweep = json.loads(out)
    best = sweep["summary"]["best_model_accuracy"]
    meeting = [p for p in sweep["curve"] if p["accuracy"] >= 0.9 * best - 1e-12]
    expected = min(meeting, key=lambda p: (p["cost"], -p["accuracy"], -p["alpha"]))["alpha"]
    server = Serve("main", "--config", str(setup["config"]), "--target-accuracy", "0.9")
    try:
        assert f"alpha {expected:.2f}: held-out accuracy" in server.stdout()
        assert "the cheapest alpha keeping 90% of the best model's" in server.stdout()
        with openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0) as c:
            raw = c.chat.completions.with_raw_response.create(
                model="avp/main", messages=[{"role": "user", "content": QUERIES[0]}])
        assert float(raw.headers["x-avp-alpha"]) == pytest.approx(expected)
    finally:
        assert server.stop() == 0


def test_bad_options_are_one_line_errors(setup, capsys, monkeypatch) -> None:
    config = str(setup["config"])
    code, _, err = avp(capsys, "serve", "main", "--config", config)
    assert code == 2 and err.count("\n") == 1 and "AVP_SERVE_TEST_PROVIDER_KEY" in err
    monkeypatch.setenv("AVP_SERVE_TEST_PROVIDER_KEY", PROVIDER_KEY)
    code, _, err = avp(capsys, "serve", "nope", "--config", config)
    assert code == 2 and err.count("\n") == 1 and "nope" in err
    code, _, err = avp(capsys, "serve", "main", "--config", config, "--alpha", "3")
    assert code == 2 and "alpha" in err
    code, _, err = avp(capsys, "serve", "main", "--config", config, "--target-accuracy", "1.5")
    assert code == 2 and "--target-accuracy" in err
    code, _, err = avp(capsys, "serve", "main", "--config", config, "--api-key-env",
                       "AVP_SURELY_UNSET_VARIABLE")
    assert code == 2 and "AVP_SURELY_UNSET_VARIABLE" in err


def test_a_store_that_stops_taking_records_stops_the_serving(setup, tmp_path) -> None:
    """Once a record cannot be written, /health says so and new requests get a 503: no call
    is paid for whose record could not be kept."""
    import sqlite3

    db = str(tmp_path / "runs.db")
    source, copy = sqlite3.connect(setup["db"]), sqlite3.connect(db)
    source.backup(copy)  # the router and everything in the write-ahead log
    source.close()
    copy.close()
    config = write_config(tmp_path / "avp.toml", setup["sim"].base_url, db)
    server = Serve("main", "--config", str(config))
    try:
        connection = sqlite3.connect(db)  # the store breaks under the server
        connection.execute("DROP TABLE served")
        connection.commit()
        connection.close()
        health = server.base_url.removesuffix("/v1") + "/health"
        with openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0) as c:
            c.chat.completions.create(model="small", messages=[{"role": "user", "content": "x"}])
            deadline = time.monotonic() + 60
            while httpx.get(health, timeout=30).status_code == 200:
                assert time.monotonic() < deadline, "the failed write was never noticed"
                time.sleep(0.1)
            assert "served" in httpx.get(health, timeout=30).json()["error"]
            with pytest.raises(openai.APIStatusError) as refused:
                c.chat.completions.create(model="small",
                                          messages=[{"role": "user", "content": "x"}])
        assert refused.value.status_code == 503 and refused.value.code == "store_failed"
    finally:
        assert server.stop() == 0
    assert "new requests are refused" in server.stderr() and "Traceback" not in server.stderr()


def test_killing_avp_serve_mid_stream_ends_the_clients_read_with_an_error(setup) -> None:
    """SIGKILL of `avp serve` mid-stream: the client's read ends with an error at once, not at
    its own timeout (no half-open connection left behind); a restart on the same store serves."""
    with slow_stream(setup, "avp/main", QUERIES[0]) as (_, server, chunks):
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=60)
        # The upstream would go on for 600 s: the read must end because the server died.
        with pytest.raises((openai.APIError, httpx.HTTPError)) as ended:
            for _ in chunks:
                pass
        assert not isinstance(ended.value, (openai.APITimeoutError, httpx.TimeoutException))
    again = Serve("main", "--config", str(setup["config"]))
    try:
        with openai.OpenAI(base_url=again.base_url, api_key="none", max_retries=0,
                           timeout=60) as c:
            assert "avp/main" in [m.id for m in c.models.list()]
    finally:
        assert again.stop() == 0
