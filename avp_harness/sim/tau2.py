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

Limit: telecom's 114 generated tasks share 15 user scenarios, and the simulated user knows its task
only by its scenario, so a telecom task plays as the first task (in official order) with the same
scenario; its reward on the simulator then says nothing of the skill drawn. Airline and retail
scenarios are unique.
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


def _by_scenario() -> dict[str, str]:
    """Item id by the hash of its user scenario; a scenario several tasks share (telecom's
    generated tasks: 114 tasks, 15 scenarios) names the first of them in official order."""
    with _LOADING:
        return _load_by_scenario()


@cache
def _load_by_scenario() -> dict[str, str]:
    found: dict[str, str] = {}
    for item_id, task in _load_tasks().items():
        found.setdefault(_sha(str(task.user_scenario)), item_id)
    return found


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
        return _user(_by_scenario().get(_sha(scenario)), messages[1:])
    return _agent(model, messages[1:], nonce)


async def areply(model: Any, body: Mapping[str, Any], nonce: int) -> Tau2Reply | None:
    """`reply` off the server's loop (the first one loads τ²: seconds)."""
    if not is_tau2(body):
        return None
    return await asyncio.to_thread(reply, model, body, nonce)


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


def _user(item_id: str | None, messages: Sequence[Mapping[str, Any]]) -> Tau2Reply:
    """The user sees the roles flipped: its own messages are "assistant", the agent's "user"."""
    task = _tasks().get(item_id) if item_id else None
    if task is None or item_id is None:
        return Tau2Reply(STOP)
    if not any(m.get("role") == "assistant" for m in messages):
        return Tau2Reply(f"{TASK_MARK}{item_id}.")
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
    """The server's chat.completion object with the reply's message; a tool call's tokens are
    counted from its JSON (and its cost, when reported, follows)."""
    choice = reply_body["choices"][0]
    if answer.tool_call is None or choice["finish_reason"] == "length":
        return reply_body
    choice["message"] = message(answer, f"call_{reply_body['id'][-12:]}_{id(answer) % 10_000}")
    choice["finish_reason"] = "tool_calls"
    usage = reply_body["usage"]
    usage["completion_tokens"] = math.ceil(len(json.dumps(answer.tool_call)) / 4)  # server's rule
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if "cost" in usage:
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        usage["cost"] = model.cost(usage["prompt_tokens"], usage["completion_tokens"], cached)
    return reply_body
