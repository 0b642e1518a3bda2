"""`avp serve` for ensemble routers end to end: the official `openai` client against `avp serve`
(a subprocess) in front of the simulator, for an Avengers router (Self-Consistency, Model-Switch)
and a JiSi router fitted on a simulator store. Each served decision is checked against the
offline method re-run by the test on the same samples / responses (fetched from the simulator by
the test itself, which answers deterministically), the calls against the simulator's own request
count, the dollars against the price table; plus a failed call, streaming, n > 1 and the
upstream's id on the plain path."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from avp_harness.aggregation import aggregation_prompt, kept_responses
from avp_harness.app.responses import approx_tokens, embed_responses
from avp_harness.app.routing import load_router
from avp_harness.cli import main
from avp_harness.sim.models import SIM_MODELS
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from benchmarks import get
from graders.choice import extract_choice
from graders.math import last_boxed, math_equal
from tests.integration.test_serve import Serve

pytestmark = pytest.mark.integration
MODELS = ("sim/atlas-xl", "sim/coder-7b", "sim/mid-pro", "sim/flash-mini")
PRICE = {m: (SIM_MODELS[m].price_in, SIM_MODELS[m].price_out) for m in MODELS}


def write_config(folder: Path, base_url: str) -> Path:
    models = "\n".join(
        f'[[models]]\nid = "{m}"\nprovider = "sim"\nprice = {{ input_per_m = {PRICE[m][0]}, '
        f'output_per_m = {PRICE[m][1]}, date = "2026-11-01" }}\n' for m in MODELS)
    path = folder / "avp.toml"
    path.write_text(
        f'db = "{folder / "runs.db"}"\n[providers.sim]\nbase_url = "{base_url}"\n'
        f"max_concurrency = 16\nmax_attempts = 2\n\n{models}\n"
        '[[benchmarks]]\nname = "math500"\nlimit = 24\ntemperature = 0.2\n'
        '[[benchmarks]]\nname = "mmlu_pro"\nlimit = 24\ntemperature = 0.2\n')
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A simulator store (two benchmarks, four models), an Avengers router `av` and a JiSi
    router `js` fitted on it, and `avp serve` for each (SC, MS, JiSi)."""
    folder = tmp_path_factory.mktemp("serve-ens")
    with SimServer(latency_scale=0.0, index_only=["math500", "mmlu_pro"]) as sim:
        config = write_config(folder, sim.base_url)
        db = str(folder / "runs.db")
        assert main(["run", "--progress", "none", "--config", str(config)]) == 0
        for args in (["--name", "av", "--kind", "avengers", "--clusters", "4"],
                     ["--name", "js", "--kind", "jisi"]):
            assert main(["fit", *args, "--embedding", "tfidf", "--db", db]) == 0
        with Store.open(db) as store:
            math = [store.item("math500", c.item_id) for c in store.cells(limit=100_000)
                    if c.benchmark == "math500"]
            mmlu = [store.item("mmlu_pro", c.item_id) for c in store.cells(limit=100_000)
                    if c.benchmark == "mmlu_pro"]
        questions = {"math500": sorted({i.prompt_text for i in math if i is not None}),
                     "mmlu_pro": sorted({i.prompt_text for i in mmlu if i is not None})}
        servers = {
            "sc": Serve("av", "--config", str(config), "--samples", "5"),
            "ms": Serve("av", "--config", str(config), "--strategy", "model_switch",
                        "--samples", "3", "--temperature", "0.7"),
            "js": Serve("js", "--config", str(config)),
        }
        try:
            yield {"sim": sim, "db": db, "config": config, "servers": servers,
                   "questions": questions, "asked": 0}
        finally:
            for server in servers.values():
                assert server.stop() == 0
                assert "Traceback" not in server.stderr()


def client(env: dict[str, Any], which: str, requests: int = 1) -> openai.OpenAI:
    """A client of one of the servers; `requests`: how many requests it will make (every one is
    recorded in the store: `served_totals` waits for them all)."""
    env["asked"] += requests
    return openai.OpenAI(base_url=env["servers"][which].base_url, api_key="none",
                         max_retries=0, timeout=120)


def direct(env: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(base_url=env["sim"].base_url, api_key="none", max_retries=0,
                         timeout=120)


def ask_sim(env: dict[str, Any], model: str, messages: Any, temperature: float,
            seed: int | None = None) -> Any:
    extra = {} if seed is None else {"seed": seed}
    with direct(env) as c:
        return c.chat.completions.create(model=model, messages=messages,
                                         temperature=temperature, **extra)


def dollars(model: str, usage: Any) -> float:
    price_in, price_out = PRICE[model]
    return (usage.prompt_tokens * price_in + usage.completion_tokens * price_out) / 1e6


def literal_vote(answers: list[str | None], same: Any) -> tuple[int, int]:
    """Majority vote as SEED-METHODS.md says it, read literally: groups in order of first
    appearance, an unparsed answer casts no vote, the largest group wins, the first-seen on ties.
    (position of the winning group's first answer, its votes); (0, 0) when none answered."""
    firsts: list[int] = []
    counts: list[int] = []
    for k, answer in enumerate(answers):
        if answer is None:
            continue
        for g, first in enumerate(firsts):
            if answers[first] == answer or same(answers[first], answer):
                counts[g] += 1
                break
        else:
            firsts.append(k)
            counts.append(1)
    if not firsts:
        return 0, 0
    best = 0
    for g in range(1, len(firsts)):
        if counts[g] > counts[best]:
            best = g
    return firsts[best], counts[best]


def math_same(a: str, b: str) -> bool:
    try:
        return bool(math_equal(a, b))
    except Exception:
        return False


def served_totals(env: dict[str, Any], capsys: Any) -> dict[str, Any]:
    """`avp served`'s totals once every request made so far is recorded (written in batches)."""
    deadline = time.monotonic() + 60
    while True:
        capsys.readouterr()
        assert main(["served", "--json", "--hours", "0", "--db", env["db"]]) == 0
        total = json.loads(capsys.readouterr().out)["total"]
        if total["requests"] >= env["asked"]:
            assert total["requests"] == env["asked"]
            return dict(total)
        assert time.monotonic() < deadline, "served requests were not recorded"
        time.sleep(0.2)


def test_self_consistency_votes_like_the_offline_rule(env, capsys) -> None:
    sim: SimServer = env["sim"]
    before = served_totals(env, capsys)
    asked, spent = 0, 0.0
    for question in env["questions"]["math500"][:8]:
        messages: Any = [{"role": "user", "content": question}]
        requests_before = sim.stats()["requests"]
        with client(env, "sc") as c:
            raw = c.chat.completions.with_raw_response.create(
                model="avp/av", messages=messages, extra_body={"avp": {"benchmark": "math500"}})
        asked += 1
        reply = raw.parse()
        info = reply.model_extra["avp"]  # type: ignore[index]
        made = sim.stats()["requests"] - requests_before
        top = info["models"][0]
        assert info["strategy"] == "self_consistency" and info["samples"] == 5
        assert info["temperature"] == 0.2  # math500's configured temperature in avp.toml
        # the offline method on the same samples: sample i = seed i (none for 0), as collected
        samples = [ask_sim(env, top, messages, 0.2, i or None) for i in range(5)]
        answers = [last_boxed(s.choices[0].message.content or "") for s in samples]
        pos, votes = literal_vote(answers, math_same)
        assert info["answers"] == [answers]
        assert info["chosen"] == {"model": top, "sample": pos} and info["votes"] == votes
        assert reply.choices[0].message.content == samples[pos].choices[0].message.content
        assert reply.model == top == raw.headers["x-avp-model"]
        assert made == info["calls"] == 5 == int(raw.headers["x-avp-calls"])
        expected = sum(dollars(top, s.usage) for s in samples)
        assert info["cost"] == pytest.approx(expected, rel=1e-9)
        spent += expected
        assert reply.usage is not None
        assert reply.usage.completion_tokens == sum(s.usage.completion_tokens for s in samples)
    after = served_totals(env, capsys)
    assert after["calls"] - before["calls"] == 5 * asked
    assert after["dollars"] - before["dollars"] == pytest.approx(spent, rel=1e-9)


def test_the_generic_rule_votes_on_whitespace_normalised_text(env) -> None:
    question = env["questions"]["mmlu_pro"][0]
    messages: Any = [{"role": "user", "content": question}]
    with client(env, "sc") as c:
        reply = c.chat.completions.create(model="avp/av", messages=messages)
    info = reply.model_extra["avp"]  # type: ignore[index]
    assert info["extraction"].startswith("generic") and info["temperature"] == 0.7
    top = info["models"][0]
    samples = [ask_sim(env, top, messages, 0.7, i or None) for i in range(5)]
    texts = [" ".join((s.choices[0].message.content or "").split()) or None for s in samples]
    pos, _ = literal_vote(texts, lambda a, b: a == b)
    assert info["answers"] == [texts] and info["chosen"]["sample"] == pos
    assert reply.choices[0].message.content == samples[pos].choices[0].message.content


def test_model_switch_keeps_or_switches_by_the_offline_rule(env) -> None:
    branches = set()
    for question in env["questions"]["mmlu_pro"][:6]:
        messages: Any = [{"role": "user", "content": question}]
        with client(env, "ms") as c:
            reply = c.chat.completions.create(model="avp/av", messages=messages,
                                              extra_headers={"x-avp-benchmark": "mmlu_pro"})
        info = reply.model_extra["avp"]  # type: ignore[index]
        m1, m2 = info["models"]
        assert info["strategy"] == "model_switch" and info["temperature"] == 0.7
        rule = get("mmlu_pro").grader(None).rule  # type: ignore[attr-defined]
        got = {m: [ask_sim(env, m, messages, 0.7, i or None) for i in range(3)] for m in (m1, m2)}
        answers = {m: [extract_choice(s.choices[0].message.content or "", rule) for s in got[m]]
                   for m in got}
        pos1, votes1 = literal_vote(answers[m1], lambda a, b: a == b)
        if votes1 / 3 >= 0.8:
            model, pos = m1, pos1
        else:
            pos, _ = literal_vote(answers[m1] + answers[m2], lambda a, b: a == b)
            model, pos = (m1, pos) if pos < 3 else (m2, pos - 3)
        assert info["chosen"] == {"model": model, "sample": pos}
        assert reply.model == model and info["calls"] == 6
        branches.add(votes1 / 3 >= 0.8)
        assert reply.choices[0].message.content == got[model][pos].choices[0].message.content
    assert branches == {True, False}, "model 1 kept and the vote over both, each seen"


def offline_jisi(env: dict[str, Any], question: str) -> tuple[Any, dict[str, Any], Any]:
    """JiSi's offline decision for `question` given every model's response at T = 0.2."""
    with Store.open(env["db"]) as store:
        loaded = load_router(store, "js")
    messages: Any = [{"role": "user", "content": question}]
    replies = {m: ask_sim(env, m, messages, 0.2) for m in loaded.models}
    texts = np.array([[replies[m].choices[0].message.content for m in loaded.models]],
                     dtype=object)
    tokens = np.array([[replies[m].usage.completion_tokens or approx_tokens(texts[0, j])
                        for j, m in enumerate(loaded.models)]], dtype=np.float64)
    X = loaded.embedding.embed([question])
    d = loaded.router.decide(X, embed_responses(loaded.embedding.embed, texts),  # type: ignore[attr-defined]
                             tokens)
    return loaded, replies, d


def test_jisi_decides_as_the_offline_method_and_aggregates_with_its_prompt(env, capsys) -> None:
    sim: SimServer = env["sim"]
    before = served_totals(env, capsys)
    kinds, spent, calls = set(), 0.0, 0
    questions = env["questions"]["math500"][:6] + env["questions"]["mmlu_pro"][:6]
    for question in questions:
        messages: Any = [{"role": "user", "content": question}]
        requests_before = sim.stats()["requests"]
        with client(env, "js") as c:
            reply = c.chat.completions.create(model="avp/js", messages=messages)
        made = sim.stats()["requests"] - requests_before
        info = reply.model_extra["avp"]  # type: ignore[index]
        loaded, replies, d = offline_jisi(env, question)
        names = loaded.models
        members = np.flatnonzero(d.adaptive[0])
        order = [names[j] for j in members[np.argsort(-d.refined[0, members], kind="stable")]]
        assert info["candidates"] == [names[j] for j in d.candidates[0]]
        assert info["adaptive"] == order and info["chosen"] == names[d.chosen[0]]
        assert info["aggregator"] == names[d.aggregator[0]]
        called = set(info["candidates"]) | set(order)
        cost = sum(dollars(m, replies[m].usage) for m in called)
        if len(order) == 1:
            assert not info["aggregated"] and reply.model == order[0]
            assert reply.choices[0].message.content == replies[order[0]].choices[0].message.content
            assert made == info["calls"] == len(called)
        else:
            responses = kept_responses([replies[m].choices[0].message.content for m in order])
            prompt: Any = [{"role": "user", "content": aggregation_prompt(question, responses)}]
            agg = ask_sim(env, info["aggregator"], prompt, SIM_DEFAULT_T)
            assert info["aggregated"] and reply.model == info["aggregator"]
            assert reply.choices[0].message.content == agg.choices[0].message.content
            assert made == info["calls"] == len(called) + 1
            cost += dollars(info["aggregator"], agg.usage)
        assert info["cost"] == pytest.approx(cost, rel=1e-9)
        spent, calls = spent + cost, calls + made
        kinds.add(bool(info["aggregated"]))
    assert kinds == {True, False}, "both branches of the adaptive switch are exercised"
    after = served_totals(env, capsys)
    assert after["calls"] - before["calls"] == calls > len(questions)
    assert after["dollars"] - before["dollars"] == pytest.approx(spent, rel=1e-9)


SIM_DEFAULT_T = 0.0  # a model's own temperature in avp.toml (none set: 0)


def test_a_failed_candidate_is_a_502_with_the_calls_paid(env, capsys) -> None:
    sim: SimServer = env["sim"]
    question = env["questions"]["math500"][0]
    with client(env, "js") as c:
        first = c.chat.completions.create(model="avp/js",
                                          messages=[{"role": "user", "content": question}])
    victim = first.model_extra["avp"]["candidates"][1]  # type: ignore[index]
    before = served_totals(env, capsys)
    sim.add_faults([{"fault": "400", "count": 1, "model": victim}])
    with client(env, "js") as c, pytest.raises(openai.APIStatusError) as failed:
        c.chat.completions.create(model="avp/js", messages=[{"role": "user", "content": question}])
    error = failed.value.response.json()["error"]
    assert failed.value.status_code == 502 and error["upstream_status"] == 400
    assert error["avp"]["failed"]["model"] == victim and error["avp"]["calls"] == 3
    assert failed.value.response.headers["x-avp-upstream-status"] == "400"
    after = served_totals(env, capsys)
    assert after["failed"] - before["failed"] == 1 and after["calls"] - before["calls"] == 3
    assert sim.stats()["pending_faults"] == 0


def test_an_ensemble_streams_its_decided_message(env) -> None:
    question = env["questions"]["math500"][1]
    messages: Any = [{"role": "user", "content": question}]
    with client(env, "sc", 2) as c:
        whole = c.chat.completions.create(model="avp/av", messages=messages)
        chunks = list(c.chat.completions.create(model="avp/av", messages=messages, stream=True,
                                                stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].model_extra["avp"]["chosen"] == whole.model_extra["avp"]["chosen"]  # type: ignore[index]
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    with client(env, "sc") as c, pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="avp/av", messages=messages,
                                  extra_body={"avp": {"benchmark": "no-such-bench"}})


def test_plain_requests_keep_n_choices_and_the_upstream_id(env) -> None:
    messages: Any = [{"role": "user", "content": env["questions"]["math500"][2]}]
    with client(env, "sc") as c:
        reply = c.chat.completions.create(model="sim/mid-pro", messages=messages, n=3,
                                          temperature=0.7)
    upstream = ask_sim(env, "sim/mid-pro", messages, 0.7)
    assert [ch.index for ch in reply.choices] == [0, 1, 2]
    assert reply.id == upstream.id and reply.system_fingerprint == upstream.system_fingerprint
    assert reply.choices[0].message.content == upstream.choices[0].message.content
    assert reply.choices[1].message.content == ask_sim(
        env, "sim/mid-pro", messages, 0.7, 1).choices[0].message.content


def test_bad_ensemble_options_are_one_line_errors(env, capsys) -> None:
    config = str(env["config"])
    for argv, said in ((["av", "--alpha", "0.3"], "no alpha"),
                       (["js", "--target-accuracy", "0.9"], "no alpha"),
                       (["av", "--samples", "0"], "--samples"),
                       (["js", "--temperature", "3"], "--temperature")):
        capsys.readouterr()
        code = main(["serve", *argv, "--config", config, "--port", "0"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and said in err, (argv, err)
    with client(env, "sc", 2) as c:
        for name in ("avp/av@0.5", "avp/av"):
            with pytest.raises(openai.BadRequestError):
                c.chat.completions.create(model=name, n=2 if name == "avp/av" else 1,
                                          messages=[{"role": "user", "content": "hi"}])
