"""The catalogue of SIMULATED models served by the local provider (`avp sim serve`).

None of these is a real model: every id starts with `sim/` and every description says so. They
exist so that the collector, the store, the routers and the TUI can be exercised offline with
numbers that look like a real evaluation: different skill profiles per benchmark and per topic,
different prices, latencies and verbosity, one reasoning model and one that does not report cost.

`p_correct(model, benchmark, topic)` is the whole skill model: a base skill per benchmark, an
optional override per `benchmark/topic`, and a `*` default for benchmarks it has no entry for.
`topic_of(benchmark, item)` is a cheap deterministic feature of an item (its metadata topic when it
has one, else a size or keyword bucket) so that routers have clusters worth finding.

Judge styles: any model id may carry a suffix `@STYLE` (one of JUDGE_STYLES), e.g.
`sim/mid-pro@echo`: the same model, judging in that style (sim_answers.answer_judge). `sim_model`
resolves such ids; the catalogue itself lists only the plain models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from avp_harness.types import Item


@dataclass(frozen=True, slots=True)
class SimModel:
    """One simulated model: what it costs, how fast and how good it is."""

    id: str
    description: str
    price_in: float  # dollars per 1M input tokens
    price_out: float  # dollars per 1M output tokens (reasoning tokens are output)
    price_cached_in: float  # dollars per 1M cached input tokens
    reports_cost: bool  # returns usage.cost when asked with usage: {include: true}
    reasoning: bool  # spends reasoning tokens (usage.completion_tokens_details.reasoning_tokens)
    latency_mean_s: float  # lognormal latency per call at --latency-scale 1
    latency_sd_s: float
    skills: Mapping[str, float] = field(default_factory=dict)  # "bench", "bench/topic", "*"
    verbosity: int = 1  # how many sentences of preamble it writes before an answer
    context_tokens: int = 131_072  # a longer prompt is rejected with a context-length 400

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """Dollars for one call at this model's prices."""
        fresh = max(prompt_tokens - cached_tokens, 0)
        dollars = (
            fresh * self.price_in
            + cached_tokens * self.price_cached_in
            + completion_tokens * self.price_out
        )
        return dollars / 1_000_000

    def lognormal_params(self) -> tuple[float, float]:
        """(mu, sigma) of the log of the latency, from its mean and standard deviation."""
        sigma2 = math.log1p((self.latency_sd_s / self.latency_mean_s) ** 2)
        return math.log(self.latency_mean_s) - sigma2 / 2, math.sqrt(sigma2)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (what `avp sim models --json` and the demo config use)."""
        return {
            "id": self.id,
            "description": self.description,
            "price_in": self.price_in,
            "price_out": self.price_out,
            "price_cached_in": self.price_cached_in,
            "reports_cost": self.reports_cost,
            "reasoning": self.reasoning,
            "latency_mean_s": self.latency_mean_s,
            "latency_sd_s": self.latency_sd_s,
            "skills": dict(self.skills),
            "context_tokens": self.context_tokens,
        }


def _catalogue(*models: SimModel) -> Mapping[str, SimModel]:
    return MappingProxyType({m.id: m for m in models})


SIM_MODELS: Mapping[str, SimModel] = _catalogue(
    SimModel(
        id="sim/atlas-xl",
        description="SIMULATED large frontier generalist: strongest and dearest",
        price_in=5.0,
        price_out=15.0,
        price_cached_in=1.25,
        reports_cost=True,
        reasoning=False,
        latency_mean_s=2.5,
        latency_sd_s=1.0,
        verbosity=2,
        skills={
            "*": 0.80,
            "arc_agi": 0.30,
            "arc_agi_2": 0.075,
            "arc_agi/small": 0.45,
            "arc_agi/large": 0.15,
            "humaneval": 0.93,
            "gpqa": 0.70,
            "mmlu_pro": 0.82,
            "aime": 0.35,
            "math500": 0.78,
            "simpleqa": 0.45,
            "hle": 0.12,
            "healthbench": 0.75,
        },
    ),
    SimModel(
        id="sim/flash-mini",
        description="SIMULATED small fast model: cheap, weak on hard tasks; reports no cost",
        price_in=0.10,
        price_out=0.40,
        price_cached_in=0.025,
        reports_cost=False,
        reasoning=False,
        latency_mean_s=0.4,
        latency_sd_s=0.15,
        context_tokens=32_768,
        skills={
            "*": 0.50,
            "arc_agi": 0.04,
            "arc_agi_2": 0.01,
            "arc_agi/small": 0.12,
            "humaneval": 0.62,
            "humaneval/strings": 0.75,
            "humaneval/numbers": 0.45,
            "gpqa": 0.35,
            "mmlu_pro": 0.55,
            "aime": 0.05,
            "math500": 0.50,
            "simpleqa": 0.10,
            "hle": 0.03,
            "healthbench": 0.40,
        },
    ),
    SimModel(
        id="sim/coder-7b",
        description="SIMULATED 7B code specialist: cheap, good at code, poor elsewhere",
        price_in=0.20,
        price_out=0.60,
        price_cached_in=0.05,
        reports_cost=True,
        reasoning=False,
        latency_mean_s=0.7,
        latency_sd_s=0.3,
        context_tokens=16_384,
        skills={
            "*": 0.35,
            "arc_agi": 0.06,
            "arc_agi_2": 0.015,
            "humaneval": 0.86,
            "humaneval/lists": 0.92,
            "humaneval/numbers": 0.70,
            "livecodebench": 0.45,
            "gpqa": 0.28,
            "mmlu_pro": 0.40,
            "aime": 0.03,
            "math500": 0.35,
            "simpleqa": 0.05,
            "hle": 0.02,
            "healthbench": 0.25,
        },
    ),
    SimModel(
        id="sim/reasoner-r1",
        description="SIMULATED reasoning model: thinks at length; best at puzzles and maths",
        price_in=1.10,
        price_out=4.40,
        price_cached_in=0.275,
        reports_cost=True,
        reasoning=True,
        latency_mean_s=6.0,
        latency_sd_s=3.0,
        skills={
            "*": 0.75,
            "arc_agi": 0.40,
            "arc_agi_2": 0.1,
            "arc_agi/small": 0.55,
            "arc_agi/large": 0.30,
            "humaneval": 0.90,
            "humaneval/numbers": 0.95,
            "gpqa": 0.72,
            "mmlu_pro": 0.80,
            "aime": 0.70,
            "math500": 0.94,
            "simpleqa": 0.25,
            "hle": 0.18,
            "healthbench": 0.65,
        },
    ),
    SimModel(
        id="sim/mid-pro",
        description="SIMULATED mid-size all-rounder: good value, nothing outstanding",
        price_in=0.80,
        price_out=2.40,
        price_cached_in=0.20,
        reports_cost=True,
        reasoning=False,
        latency_mean_s=1.2,
        latency_sd_s=0.5,
        skills={
            "*": 0.65,
            "arc_agi": 0.12,
            "arc_agi_2": 0.03,
            "arc_agi/small": 0.25,
            "arc_agi/large": 0.05,
            "humaneval": 0.82,
            "gpqa": 0.50,
            "mmlu_pro": 0.70,
            "aime": 0.15,
            "math500": 0.70,
            "simpleqa": 0.30,
            "hle": 0.06,
            "healthbench": 0.55,
        },
    ),
)

# The embedding model served by POST /v1/embeddings (hashed bag of words, not a real model).
SIM_EMBEDDING_MODEL = "sim/embed-64"
SIM_EMBEDDING_DIM = 64

# Other spellings of benchmark names used in the skill tables.
BENCHMARK_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "gpqa_diamond": "gpqa",
        "math_500": "math500",
        "mmlu-pro": "mmlu_pro",
        "aime_2024": "aime",
        "aime_2025": "aime",
        "live_code_bench": "livecodebench",
        "healthbench_hard": "healthbench",
        "healthbench_consensus": "healthbench",
    }
)

# Item metadata keys that carry a topic, in order of preference.
_TOPIC_KEYS = ("topic", "category", "subject", "raw_subject", "subdomain", "domain")

# Fallback topics when an item carries none in its metadata (same buckets as the benchmarks use).
_HUMANEVAL_KEYWORDS = (
    ("strings", ("str", "string", "char")),
    ("lists", ("list", "array", "tuple")),
    ("numbers", ("int", "float", "number")),
)
ARC_LARGE_CELLS = 100


# How a simulated model behaves as an LLM judge (the suffix of its id: "sim/mid-pro@echo").
JUDGE_STYLES: Mapping[str, str] = MappingProxyType(
    {
        "honest": "decides by comparing the answer with the reference (the default)",
        "echo": "repeats the judge prompt verbatim and gives no verdict of its own",
        "ramble": "writes ~1,900 tokens of reasoning before its honest verdict",
    }
)


def judge_style(model_id: str) -> str:
    """The judge style named by `model_id`'s `@STYLE` suffix ("honest" without one)."""
    _base, at, style = model_id.partition("@")
    return style if at and style in JUDGE_STYLES else "honest"


def sim_model(model_id: str | None) -> SimModel | None:
    """The catalogue model `model_id` names, also with a judge-style suffix (then under that id)."""
    if model_id is None:
        return None
    if model_id in SIM_MODELS:
        return SIM_MODELS[model_id]
    base, at, style = model_id.partition("@")
    if not at or style not in JUDGE_STYLES or base not in SIM_MODELS:
        return None
    return replace(SIM_MODELS[base], id=model_id)


def topic_of(benchmark: str, item: Item) -> str:
    """A cheap deterministic topic: metadata first, else a size or keyword bucket."""
    for key in _TOPIC_KEYS:
        value = item.metadata.get(key)
        if isinstance(value, str) and value:
            return value.strip().lower()
    if benchmark in ("arc_agi", "arc_agi_2"):
        return _arc_size_bucket(item.target)
    if benchmark == "humaneval":
        text = str(item.metadata.get("prompt", item.prompt_text)).lower()
        for topic, words in _HUMANEVAL_KEYWORDS:
            if any(word in text for word in words):
                return topic
        return "other"
    return "general"


def _arc_size_bucket(target: Any) -> str:
    """ARC: "large" when the largest expected output grid has more than ARC_LARGE_CELLS cells."""
    try:
        cells = max(len(grid) * len(grid[0]) for grid in target)
    except (TypeError, IndexError, KeyError, ValueError):
        return "unknown"
    return "large" if cells > ARC_LARGE_CELLS else "small"


def p_correct(model: SimModel, benchmark: str, topic: str) -> float:
    """Probability that `model` answers an item of `benchmark` / `topic` correctly."""
    skills = model.skills
    benchmark = BENCHMARK_ALIASES.get(benchmark, benchmark)
    for key in (f"{benchmark}/{topic}", benchmark, "*"):
        if key in skills:
            return skills[key]
    return 0.5


# -- Repeated samples: how an answer at temperature T relates to the greedy (T = 0) one ----------
#
# Each (model, item) has a latent u in [0, 1) (the nonce-0 draw `simulate_answer` always used):
# the greedy answer is right when u < p (the model's skill there), so T = 0 keeps every earlier
# figure. A sample at T > 0 repeats the greedy answer word for word with probability
# 1 − drift(T), else it is drawn afresh: right with the item's own probability `item_p(p, u)`
# (1 on items the model knows, u < p − SPREAD; 0 on items beyond it, u ≥ p + SPREAD; a ramp
# between, so the mean over items stays p and the greedy answer is the likelier one), wrong in a
# freshly drawn form. Wrong answers scatter while right ones agree, so a majority vote over
# samples gains a few points on the items a model is unsure about, as Self-Consistency does.
SAMPLE_SPREAD = 0.3
FULL_DRIFT_T = 0.8  # at or above it every sample is drawn afresh (T = 0.7 -> 7 in 8)


def drift(temperature: float) -> float:
    """The probability that a sample at `temperature` is drawn afresh (0 at T = 0)."""
    return min(1.0, max(0.0, temperature) / FULL_DRIFT_T)


def item_p(p: float, u: float, spread: float = SAMPLE_SPREAD) -> float:
    """The probability that a fresh sample is right on an item of latent `u` (skill `p`)."""
    low, high = p - spread, p + spread
    if u < low:
        return 1.0
    if u >= high:
        return 0.0
    return (high - u) / (high - low)
