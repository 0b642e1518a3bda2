"""`avp serve` for routers that choose several models: the Avengers' votes and full JiSi.

    ens = Ensemble(config, loaded, gateway, EnsembleOptions(strategy="self_consistency"))
    answer = await ens.answer(messages, fields, benchmark="math500")   # or benchmark=None
    answer.model, answer.completion, answer.info, answer.tally.calls, answer.tally.cost

No HTTP here (server.py turns an `EnsembleAnswer` into a reply). Every call goes through
`Gateway.complete` (the provider's limits, retries, classification and dollars), all of a step's
calls at once. The decision is made by the offline code itself: `routing.ensemble.choose` (the
votes `avp compare` scores) and `JiSiRouter.decide` (which refines with `JiSiRouter.refine`),
and the aggregator's prompt is `aggregation.aggregation_prompt`, the one `avp aggregate`'s cells
send.

**The Avengers** (`avengers` routers): the query's top models by `AvengersRouter.select`, then the
strategy (`--strategy`, as `avp compare` names them; its samples `--samples`, default 10 for
Self-Consistency and 5 per model for Model-Switch):
- `self_consistency`: the top model, samples 0..n-1; majority vote, first-seen wins ties;
- `model_switch`: the top 2 models, s samples each; model 1's majority if its share >= 0.8, else
  the vote over all 2s answers; `model_switch_ablation`: model 2's majority iff model 1's share
  < 1.0 and model 2's is higher;
- `direct`: the top model, one call.
Sample i is requested with `seed` i (none for sample 0: the collector's rule, so a simulator or a
seeded provider gives the samples the store holds) at the sampling temperature: `--temperature`,
else the `temperature` of the named benchmark in avp.toml, else 0.7. The client's own
`temperature`, `seed` and `n` are replaced; its other fields (tools, max_tokens, ...) are sent.

How a vote reads answers. A request may name a benchmark: `"avp": {"benchmark": NAME}` in the
body (the openai client's `extra_body`) or the `x-avp-benchmark` header. Then each sample's answer
is what that benchmark's grader extracts (`app.voting.answer_reader`: math500's last \\boxed{},
MMLU-Pro's letter, ...) compared by its equivalence (math by `math_equal`, others as strings), as
`avp compare` votes on stored samples; a code benchmark takes sample 0 unvoted, as offline. Without
a benchmark, or for one whose grader extracts nothing without a judge or a sandbox (judged, grid,
agentic), the **generic rule**: a sample's answer is its message text with every run of
whitespace made one space and the ends stripped (case kept), a message with tool calls votes with
its calls' names and arguments as JSON, and an empty text casts no vote. An unknown benchmark is a
400. The reply is the winning sample's own message. A math vote runs in the math grader's
process pool (`graders.math.in_pool`), off the event loop and with math-verify's timeouts, which
need a main thread: a comparison that times out counts as not equal.

**Full JiSi** (`jisi` routers): the K candidates of the query's support set (`decide` on the query
alone gives them) are called at once at the method's temperature (0.2; `--temperature` overrides);
their responses are embedded with the router's embedding (`app.responses.embed_responses`, the
offline code) with their completion tokens (the usage's, else `approx_tokens`), and `decide` makes
the decision offline evaluation makes. |A^f| = 1: the reply is that model's response (called too
when g^f picks a model outside the candidates). |A^f| > 1: every A^f model's response (models
outside the candidates called too), best first by g^f, cut by `kept_responses`, goes into
`aggregation_prompt(question, responses)`, the question being the last user message; the
aggregator (argmax g) gets that prompt as its one user message, with the client's other fields,
and its message is the reply.

Failures: a call the gateway gave up on means the method cannot finish: `EnsembleFailed` (502
with that upstream's status); the calls that did answer are paid and recorded, never a smaller
vote. System cost = every call: the dollars of all of them are summed (`Tally`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avp_harness.aggregation import aggregation_prompt, kept_responses
from avp_harness.app.responses import approx_tokens, embed_responses
from avp_harness.app.routing import LoadedRouter
from avp_harness.app.serving import routing_text
from avp_harness.app.voting import answer_reader, choose_math, is_code, same_for
from avp_harness.config import Config, ModelConfig
from avp_harness.errors import AvpError
from avp_harness.gateway.forward import upstream_status
from avp_harness.routing import ensemble
from avp_harness.routing.ensemble import MS_SAMPLES, SC_SAMPLES
from avp_harness.types import Completion, CostSource, RetryDecision, Usage
from graders.math import in_pool

AVENGERS_TEMPERATURE = 0.7  # the paper's sampling temperature
JISI_TEMPERATURE = 0.2  # the paper's response temperature
KINDS = ("avengers", "jisi")
# the client's fields an ensemble sets itself for each call
REPLACED = ("temperature", "seed", "n", "avp")


class EnsembleError(AvpError):
    """An ensemble router cannot be served with these options."""


class EnsembleRequestError(Exception):
    """A request an ensemble cannot answer (a 400)."""


@dataclass(frozen=True)
class EnsembleOptions:
    strategy: str = "self_consistency"  # Avengers only: routing.ensemble.STRATEGIES
    samples: int | None = None  # Avengers: per model (None: SC 10, MS 5)
    temperature: float | None = None  # None: the benchmark's, else the method's default


@dataclass
class Call:
    """One model call of a request, after the gateway's retries."""

    model: str
    role: str  # sample | candidate | extra | aggregator
    sample: int = 0
    completion: Completion | None = None
    decision: RetryDecision | None = None


@dataclass
class Tally:
    """Every call a request made so far (filled as calls return, so a cancelled request still
    records what it paid)."""

    done: list[Call] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.done)

    @property
    def usage(self) -> Usage:
        done = [c.completion.usage for c in self.done if c.completion is not None]
        return Usage(prompt_tokens=sum(u.prompt_tokens for u in done),
                     completion_tokens=sum(u.completion_tokens for u in done),
                     reasoning_tokens=sum(u.reasoning_tokens for u in done),
                     cached_tokens=sum(u.cached_tokens for u in done))

    @property
    def cost(self) -> float | None:
        """The dollars of every answered call whose dollars are known (None: none known)."""
        known = [c.completion.cost for c in self.done
                 if c.completion is not None and c.completion.cost is not None]
        return float(sum(known)) if known else None

    @property
    def cost_source(self) -> str:
        sources = {str(c.completion.cost_source) for c in self.done if c.completion is not None}
        if not sources or str(CostSource.UNKNOWN) in sources:
            return str(CostSource.UNKNOWN)  # some dollars unknown: the sum is a lower bound
        return sources.pop() if len(sources) == 1 else "mixed"


@dataclass
class EnsembleAnswer:
    model: ModelConfig  # whose message is the reply
    completion: Completion
    info: dict[str, Any]
    tally: Tally


class EnsembleFailed(Exception):
    """A call the method needs failed after the gateway's retries: no answer."""

    def __init__(self, model: str, decision: RetryDecision, info: dict[str, Any]) -> None:
        super().__init__(decision.message)
        self.model = model
        self.decision = decision
        self.status = upstream_status(None, decision.message)
        self.info = info


def generic_answer(message: Mapping[str, Any]) -> str | None:
    """The generic rule (module docstring): whitespace-normalised text, or the tool calls as
    JSON; None (no vote) for an empty text."""
    calls = message.get("tool_calls")
    if calls:
        return json.dumps([[c.get("function", {}).get("name"), c.get("function", {}).get(
            "arguments")] for c in calls if isinstance(c, dict)])
    text = message.get("content")
    text = re.sub(r"\s+", " ", text).strip() if isinstance(text, str) else ""
    return text or None


def message_of(completion: Completion) -> dict[str, Any]:
    raw = completion.raw or {}
    return dict(raw.get("message") or {"role": "assistant", "content": completion.text})


class Ensemble:
    """The served method of one loaded `avengers` or `jisi` router (see the module)."""

    def __init__(self, config: Config, loaded: LoadedRouter, gateway: Any,
                 options: EnsembleOptions) -> None:
        if loaded.kind.name not in KINDS:
            raise EnsembleError(f"router {loaded.name!r} is a {loaded.kind.name} router, which "
                                "chooses several models; avp serve serves those of kinds "
                                f"{', '.join(KINDS)} and routers choosing one")
        self.config, self.loaded, self.gateway, self.options = config, loaded, gateway, options
        self.kind = loaded.kind.name
        self.models = {m.id: m for m in config.models}
        self.benchmarks = {b.name: b for b in config.benchmarks}
        if options.temperature is not None and not 0.0 <= options.temperature <= 2.0:
            raise EnsembleError("--temperature must be in [0, 2]")
        if self.kind == "avengers":
            if options.strategy not in ensemble.STRATEGIES:
                raise EnsembleError(f"unknown --strategy {options.strategy!r}: choose from "
                                    f"{', '.join(ensemble.STRATEGIES)}")
            if options.samples is not None and options.samples < 1:
                raise EnsembleError("--samples must be at least 1")
            self.width, self.k = ensemble.needed(options.strategy, **self._counts())
            top_n = int(getattr(loaded.router, "top_n", 1))
            if self.width > top_n:
                raise EnsembleError(f"--strategy {options.strategy} needs the top {self.width} "
                                    f"models; router {loaded.name!r} picks {top_n} (top_n)")
        self.inline = loaded.embedding.spec == "tfidf"

    def _counts(self) -> dict[str, int]:
        n = self.options.samples
        return {"n": n or SC_SAMPLES, "s": n or MS_SAMPLES}

    def describe(self) -> str:
        if self.kind == "jisi":
            return f"full JiSi at temperature {self._temperature(None, JISI_TEMPERATURE):g}"
        return (f"{self.options.strategy}, {self.k} sample(s) of the top {self.width} model(s)")

    def check_benchmark(self, benchmark: str | None) -> None:
        if benchmark is None:
            return
        try:
            answer_reader(benchmark)
        except KeyError:
            raise EnsembleRequestError(f"unknown benchmark {benchmark!r} (avp.benchmark or "
                                       "x-avp-benchmark names the benchmark whose answer "
                                       "extraction votes)") from None

    def _temperature(self, benchmark: str | None, default: float) -> float:
        if self.options.temperature is not None:
            return self.options.temperature
        configured = self.benchmarks.get(benchmark) if benchmark else None
        if configured is not None and configured.temperature is not None:
            return float(configured.temperature)
        return default

    async def _embed(self, texts: list[str]) -> Any:
        if self.inline:
            return self.loaded.embedding.embed(texts)
        return await asyncio.to_thread(self.loaded.embedding.embed, texts)

    async def _calls(self, tally: Tally, asks: Sequence[tuple[ModelConfig, str, int, Any, Any]],
                     info: dict[str, Any]) -> list[Completion]:
        """Make `asks` (model, role, sample, messages, fields) at once; every call returned is
        in `tally`; one that failed raises EnsembleFailed once all have returned."""

        async def one(model: ModelConfig, role: str, sample: int, messages: Any,
                      fields: Any) -> Call:
            outcome = await self.gateway.complete(model, messages, sample or None,
                                                  request=fields)
            call = Call(model.id, role, sample, outcome.completion, outcome.decision)
            tally.done.append(call)
            return call

        calls = await asyncio.gather(*(one(*ask) for ask in asks))
        for call in calls:
            if call.completion is None:
                assert call.decision is not None
                info.update(calls=tally.calls, cost=tally.cost,
                            failed={"model": call.model, "role": call.role,
                                    "sample": call.sample, "error": call.decision.message})
                raise EnsembleFailed(call.model, call.decision, info)
        return [c.completion for c in calls if c.completion is not None]

    async def answer(self, messages: list[Any], fields: Mapping[str, Any],
                     benchmark: str | None, tally: Tally) -> EnsembleAnswer:
        text = routing_text(messages)
        if text is None:
            raise EnsembleRequestError("a routed request needs a user message with text content")
        self.check_benchmark(benchmark)
        own = {k: v for k, v in fields.items() if k not in REPLACED}
        X = await self._embed([text])
        if self.kind == "avengers":
            return await self._avengers(X, messages, own, benchmark, tally)
        if isinstance(fields.get("temperature"), int | float):  # the aggregator's: the client's
            own_agg = {**own, "temperature": fields["temperature"]}
        else:
            own_agg = own
        return await self._jisi(X, text, messages, own, own_agg, benchmark, tally)

    # -- the Avengers ----------------------------------------------------------------------

    async def _avengers(self, X: Any, messages: list[Any], fields: dict[str, Any],
                        benchmark: str | None, tally: Tally) -> EnsembleAnswer:
        strategy, width, k = self.options.strategy, self.width, self.k
        order = self.loaded.router.select(X).models[0, 0]
        picks = [self.models[self.loaded.models[int(j)]] for j in order[:width]]
        temperature = self._temperature(benchmark, AVENGERS_TEMPERATURE)
        info: dict[str, Any] = {"router": self.loaded.name, "method": "avengers",
                                "strategy": strategy, "models": [m.id for m in picks],
                                "samples": k, "temperature": temperature}
        sampled = {**fields, "temperature": temperature}
        done = await self._calls(tally, [(m, "sample", i, messages, sampled)
                                         for m in picks for i in range(k)], info)
        per_model = [done[w * k:(w + 1) * k] for w in range(width)]
        grader, read = answer_reader(benchmark) if benchmark else ("", None)
        answers: list[list[str | None]]
        if benchmark and is_code(benchmark, grader):
            rule, slot, pos, votes = f"{benchmark}: code, sample 0 unvoted", 0, 0, None
            answers = [[None] * k for _ in picks]
        else:
            if read is not None:
                rule = f"{benchmark}: its grader's extracted answer ({grader})"
                answers = [[read(c.text) for c in row] for row in per_model]
            else:
                rule = "generic: whitespace-normalised text" + (
                    f" ({benchmark}'s grader extracts nothing without a judge or sandbox)"
                    if benchmark else "")
                answers = [[generic_answer(message_of(c)) for c in row] for row in per_model]
            same = same_for(grader) if read is not None else ensemble.string_equal
            if strategy == "direct":
                slot, pos, votes = 0, 0, None
            elif grader == "math":  # math_equal may take a while, and needs its timeouts
                slot, pos, votes = await in_pool(choose_math, strategy, answers)
            else:
                slot, pos, votes = ensemble.choose(strategy, answers, same)
        info.update(extraction=rule, answers=answers, votes=votes,
                    chosen={"model": picks[slot].id, "sample": pos},
                    calls=tally.calls, cost=tally.cost)
        return EnsembleAnswer(picks[slot], per_model[slot][pos], info, tally)

    # -- JiSi ------------------------------------------------------------------------------

    async def _jisi(self, X: Any, question: str, messages: list[Any], fields: dict[str, Any],
                    agg_fields: dict[str, Any], benchmark: str | None,
                    tally: Tally) -> EnsembleAnswer:
        router: Any = self.loaded.router
        names = self.loaded.models
        M, dim = len(names), int(router.R_.shape[-1])
        # decisions read every training row: off the event loop
        first = await asyncio.to_thread(router.decide, X, np.zeros((1, M, dim)), np.zeros((1, M)))
        candidates = [int(j) for j in first.candidates[0]]
        temperature = self._temperature(benchmark, JISI_TEMPERATURE)
        info: dict[str, Any] = {"router": self.loaded.name, "method": "jisi",
                                "candidates": [names[j] for j in candidates],
                                "temperature": temperature}
        asked = {**fields, "temperature": temperature}
        got: dict[int, Completion] = dict(zip(candidates, await self._calls(
            tally, [(self.models[names[j]], "candidate", 0, messages, asked)
                    for j in candidates], info), strict=True))
        texts = np.full((1, M), None, dtype=object)
        tokens = np.zeros((1, M))
        for j, c in got.items():
            texts[0, j] = c.text
            tokens[0, j] = c.usage.completion_tokens or approx_tokens(c.text)
        R = (await asyncio.to_thread(embed_responses, self.loaded.embedding.embed, texts)
             if any(c.text for c in got.values()) else np.zeros((1, M, dim)))
        d = await asyncio.to_thread(router.decide, X, R, tokens)
        assert d.refined is not None
        members = np.flatnonzero(d.adaptive[0])
        order = [int(j) for j in members[np.argsort(-d.refined[0, members], kind="stable")]]
        info.update(chosen=names[int(d.chosen[0])], aggregator=names[int(d.aggregator[0])],
                    adaptive=[names[j] for j in order], support=int(d.support[0]),
                    scores={names[j]: float(d.refined[0, j]) for j in range(M)})
        extra = [j for j in order if j not in got]  # g^f ranks a model outside the candidates
        if extra:
            more = await self._calls(tally, [(self.models[names[j]], "extra", 0, messages, asked)
                                             for j in extra], info)
            got.update(zip(extra, more, strict=True))
        if len(order) == 1:
            info.update(aggregated=False, answered_by=names[order[0]], calls=tally.calls,
                        cost=tally.cost)
            return EnsembleAnswer(self.models[names[order[0]]], got[order[0]], info, tally)
        responses = kept_responses([got[j].text for j in order])
        aggregator = self.models[names[int(d.aggregator[0])]]
        prompt = [{"role": "user", "content": aggregation_prompt(question, responses)}]
        (final,) = await self._calls(tally, [(aggregator, "aggregator", 0, prompt, agg_fields)],
                                     info)
        info.update(aggregated=True, answered_by=aggregator.id,
                    responses=[names[j] for j in order[:len(responses)]],
                    calls=tally.calls, cost=tally.cost)
        return EnsembleAnswer(aggregator, final, info, tally)


def requested_benchmark(body: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """The benchmark a request names (`avp.benchmark` in the body, else `x-avp-benchmark`)."""
    meta = body.get("avp")
    if meta is not None and not isinstance(meta, dict):
        raise EnsembleRequestError("`avp` must be an object, e.g. {\"benchmark\": \"math500\"}")
    name = (meta or {}).get("benchmark") or headers.get("x-avp-benchmark")
    if name is not None and not isinstance(name, str):
        raise EnsembleRequestError("`avp.benchmark` must be a benchmark name")
    return name or None



def decision_headers(info: Mapping[str, Any]) -> dict[str, str]:
    """The decision as `x-avp-*` headers (the whole of it is the body's `avp` field)."""
    headers = {"x-avp-router": str(info["router"]), "x-avp-method": str(info["method"]),
               "x-avp-calls": str(info.get("calls", 0))}
    if info.get("cost") is not None:
        headers["x-avp-cost"] = f"{info['cost']:.10g}"
    if "model" in info:
        headers["x-avp-model"] = str(info["model"])
    keys = (("strategy", "chosen", "votes") if info["method"] == "avengers"
            else ("candidates", "adaptive", "aggregator", "aggregated"))
    decision = {k: info[k] for k in keys if k in info}
    headers["x-avp-decision"] = json.dumps(decision, separators=(",", ":"))
    return headers


def message_chunks(reply: Mapping[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A decided chat.completion as the `chat.completion.chunk`s a stream of it would send: the
    role (with the `avp` field), the content, the tool calls, the finish reason, and the usage
    when the client asked for it (`stream_options.include_usage`)."""
    base = {k: reply[k] for k in ("id", "created", "model", "system_fingerprint") if k in reply}
    base["object"] = "chat.completion.chunk"
    choice = reply["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                     "logprobs": None}]}

    chunks = [{**chunk({"role": "assistant", "content": ""}), "avp": reply.get("avp")}]
    if message.get("content"):
        chunks.append(chunk({"content": message["content"]}))
    for k, call in enumerate(message.get("tool_calls") or []):
        chunks.append(chunk({"tool_calls": [{**call, "index": k}]}))
    chunks.append(chunk({}, choice.get("finish_reason") or "stop"))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": reply["usage"]})
    return chunks
