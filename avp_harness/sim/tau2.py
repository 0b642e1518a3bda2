"""τ²-bench on the simulator: a SIMULATED agent and a SIMULATED user, offline.

A chat request is a τ² conversation when its system message is τ²'s agent prompt (`<policy>`
with tools offered) or τ²'s user-simulator prompt (`<scenario>`). The task is known from the
conversation itself: the simulated user finds its task by the hash of its scenario text and opens
with a reference line (`TASK_MARK domain/task id`); the simulated agent reads that line. Only the
simulator speaks this way: it is how two simulated parties agree on the task, nothing of the real
benchmark depends on it.

The agent is skilled on a task when `_unit(model, "tau2", item id, seed) < p_correct(model,
"tau2", domain)` (the same draw as every other benchmark's answers). A skilled agent issues the
task's reference actions in order, one tool call a turn (asking the user, with `USER_STEPS`, to
do the user's own actions when their turn comes: telecom), then says every piece of information
the task says must be communicated. An unskilled agent apologises and does nothing. The user opens
with its reference, performs its own reference actions when asked (one tool call a turn, then
`DONE`), and ends the conversation (`###STOP###`) at the agent's first other message.

Telecom's 114 generated tasks share 15 user scenarios (they differ in the phone's and the
account's initial state). When its scenario is shared, the simulated user first runs read-only
diagnostics on its phone (`DIAGNOSTICS`, one tool call a turn) and names the first task of its
scenario whose initial state gives the same readings (computed on τ²'s own environment). So 101
of the 114 tasks play as themselves; the other 13 differ only on the account (the agent's side)
from an earlier task of their scenario and play as that one, so their reward on the simulator says
nothing of the skill drawn (`identified`). Airline and retail scenarios are unique.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

TASK_MARK = "Hello. My τ² reference is "
USER_STEPS = "Please do the following steps on your side now."
DONE = "Done: I did the steps on my side."
STOP = "###STOP###"
REFUSAL = "I am sorry, I cannot help with that request."
DIAGNOSTICS = ("check_status_bar", "check_network_status", "check_network_mode_preference",
               "check_sim_status", "check_data_restriction_status", "check_apn_settings",
               "check_wifi_status", "check_wifi_calling_status", "check_vpn_status",
               "check_installed_apps", "check_payment_request", "can_send_mms", "run_speed_test")


@dataclass(frozen=True, slots=True)
class Tau2Reply:
    """What the simulated party says: text, or one tool call {"name", "arguments"}."""

    text: str
    tool_call: Mapping[str, Any] | None = None
    correct: bool | None = None  # the agent's draw (None for the user)


def _system(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    if isinstance(first, dict) and first.get("role") == "system":
        return str(first.get("content") or "")
    return ""


def is_tau2(body: Mapping[str, Any]) -> bool:
    system = _system(body)
    return "<scenario>" in system or ("<policy>" in system and "<instructions>" in system)


_LOADING = threading.Lock()


def _tasks() -> dict[str, Any]:
    """Every τ² task of the benchmark's domains, by item id (needs the tau2 extra)."""
    with _LOADING:
        return _load_tasks()


@cache
def _load_tasks() -> dict[str, Any]:
    from benchmarks import tau2

    tasks: dict[str, Any] = {}
    for domain in tau2.DOMAINS:
        for task in tau2._domain(domain)[0]:
            tasks[f"{domain}/{task.id}"] = task
    return tasks


def _by_scenario() -> dict[str, list[str]]:
    """Item ids by the hash of their user scenario, in official order."""
    with _LOADING:
        return _load_by_scenario()


@cache
def _load_by_scenario() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item_id, task in _load_tasks().items():
        found.setdefault(_sha(str(task.user_scenario)), []).append(item_id)
    return found


@cache
def _readings(item_id: str) -> tuple[str, ...]:
    """What DIAGNOSTICS read on the phone in the task's initial state (τ²'s environment)."""
    from tau2.data_model.message import ToolCall

    from benchmarks import tau2

    task = _tasks()[item_id]
    environment = tau2._tau2().get_env_constructor(item_id.split("/", 1)[0])()
    state = task.initial_state
    if state is not None:
        environment.set_state(state.initialization_data, state.initialization_actions, [])
    return tuple(
        str(environment.get_response(ToolCall(id=f"d{n}", name=name, arguments={},
                                              requestor="user")).content)
        for n, name in enumerate(DIAGNOSTICS))


def _sha(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()


def reply(model: Any, body: Mapping[str, Any], nonce: int) -> Tau2Reply | None:
    """The simulated party's next message, or None when `body` is not a τ² conversation (or the
    tau2 extra is not installed)."""
    if not is_tau2(body):
        return None
    from avp_harness.errors import DataError

    try:
        _tasks()
    except DataError:  # the tau2 extra is not installed: the server answers generically
        return None
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    system = _system(body)
    if "<scenario>" in system:
        scenario = system.split("<scenario>", 1)[1].split("</scenario>", 1)[0]
        return _user(_by_scenario().get(_sha(scenario), []), messages[1:])
    return _agent(model, messages[1:], nonce)


async def areply(model: Any, body: Mapping[str, Any], nonce: int) -> Tau2Reply | None:
    """`reply` off the server's loop (the first one loads τ²: seconds)."""
    if not is_tau2(body):
        return None
    return await asyncio.to_thread(reply, model, body, nonce)


def identified(item_id: str) -> str:
    """The task the simulated user names when it plays `item_id` (itself, unless another task
    of the same scenario comes first and reads the same on the phone)."""
    candidates = _by_scenario()[_sha(str(_tasks()[item_id].user_scenario))]
    if len(candidates) == 1:
        return item_id
    return next(c for c in candidates if _readings(c) == _readings(item_id))


def skilled(model: Any, item_id: str, nonce: int) -> bool:
    """Whether `model` solves the τ² task `item_id` with this seed (see the module docstring)."""
    from avp_harness.sim.models import p_correct

    domain = item_id.split("/", 1)[0]
    return _unit(model.id, "tau2", item_id, nonce) < p_correct(model, "tau2", domain)


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its parts (the server's draw, sim/server.py)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56)


def _steps(task: Any) -> list[tuple[str, list[Any]]]:
    """The reference actions as groups of consecutive actions by the same party, in order."""
    groups: list[tuple[str, list[Any]]] = []
    criteria = task.evaluation_criteria
    for action in (criteria.actions or []) if criteria is not None else []:
        if groups and groups[-1][0] == action.requestor:
            groups[-1][1].append(action)
        else:
            groups.append((action.requestor, [action]))
    return groups


def _call(action: Any) -> dict[str, Any]:
    return {"name": action.name, "arguments": dict(action.arguments)}


def _agent(model: Any, messages: Sequence[Mapping[str, Any]], nonce: int) -> Tau2Reply:
    item_id = next((str(m.get("content"))[len(TASK_MARK):].strip().rstrip(".")
                    for m in messages if m.get("role") == "user"
                    and str(m.get("content") or "").startswith(TASK_MARK)), None)
    task = _tasks().get(item_id) if item_id else None
    if task is None or item_id is None:
        return Tau2Reply("How can I help you today?")
    if not skilled(model, item_id, nonce):
        return Tau2Reply(REFUSAL, correct=False)
    calls_made = sum(len(m.get("tool_calls") or []) for m in messages if m.get("role") ==
                     "assistant")
    user_groups_done = sum(1 for m in messages if m.get("role") == "user" and m.get("content")
                           == DONE)
    for party, actions in _steps(task):
        if party == "assistant":
            if calls_made < len(actions):
                return Tau2Reply("", _call(actions[calls_made]), correct=True)
            calls_made -= len(actions)
        elif user_groups_done > 0:
            user_groups_done -= 1
        else:
            return Tau2Reply(USER_STEPS, correct=True)
    info = task.evaluation_criteria.communicate_info if task.evaluation_criteria else None
    said = " ".join(str(x) for x in info or [])
    return Tau2Reply(f"Your request is handled. {said}".strip(), correct=True)


def _user(candidates: Sequence[str], messages: Sequence[Mapping[str, Any]]) -> Tau2Reply:
    """The user sees the roles flipped: its own messages are "assistant", the agent's "user"."""
    if not candidates:
        return Tau2Reply(STOP)
    opening = next((n for n, m in enumerate(messages) if m.get("role") == "assistant"
                    and str(m.get("content") or "").startswith(TASK_MARK)), None)
    if opening is None:
        if len(candidates) == 1:
            return Tau2Reply(f"{TASK_MARK}{candidates[0]}.")
        readings = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
        if len(readings) < len(DIAGNOSTICS):  # look at the phone first
            return Tau2Reply("", {"name": DIAGNOSTICS[len(readings)], "arguments": {}})
        seen = tuple(readings[: len(DIAGNOSTICS)])
        found = next((c for c in candidates if _readings(c) == seen), candidates[0])
        return Tau2Reply(f"{TASK_MARK}{found}.")
    item_id = str(messages[opening].get("content"))[len(TASK_MARK):].strip().rstrip(".")
    task = _tasks()[item_id]
    messages = messages[opening + 1:]
    last = messages[-1] if messages else {}
    asked = last.get("role") == "tool" or (last.get("role") == "user" and last.get("content")
                                           == USER_STEPS)
    if not asked:
        return Tau2Reply(STOP)
    own = [m for m in messages if m.get("role") == "assistant"]
    groups_done = sum(1 for m in own if m.get("content") == DONE)
    since_done = 0
    for m in reversed(own):
        if m.get("content") == DONE:
            break
        since_done += len(m.get("tool_calls") or [])
    user_groups = [actions for party, actions in _steps(task) if party == "user"]
    if groups_done < len(user_groups) and since_done < len(user_groups[groups_done]):
        return Tau2Reply("", _call(user_groups[groups_done][since_done]))
    return Tau2Reply(DONE)


def message(answer: Tau2Reply, call_id: str) -> dict[str, Any]:
    """The OpenAI assistant message of a reply."""
    if answer.tool_call is None:
        return {"role": "assistant", "content": answer.text}
    function = {"name": answer.tool_call["name"],
                "arguments": json.dumps(answer.tool_call["arguments"])}
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": function}]}


def apply(reply_body: dict[str, Any], answer: Tau2Reply, model: Any) -> dict[str, Any]:
    """The server's chat.completion object with the reply's message in place of whatever the
    server made of the request (its generic answer, or the function call it makes when tools are
    offered); the tokens are counted from the text or the tool call's JSON, by the server's rule
    (four characters a token), and the cost, when reported, follows."""
    choice = reply_body["choices"][0]
    choice["message"] = message(answer, f"call_{reply_body['id'][-12:]}_{id(answer) % 10_000}")
    choice["finish_reason"] = "stop" if answer.tool_call is None else "tool_calls"
    said = answer.text if answer.tool_call is None else json.dumps(answer.tool_call)
    usage = reply_body["usage"]
    usage["completion_tokens"] = math.ceil(len(said) / 4)
    usage["completion_tokens_details"] = {"reasoning_tokens": 0}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if "cost" in usage:
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        usage["cost"] = model.cost(usage["prompt_tokens"], usage["completion_tokens"], cached)
    return reply_body
