"""Serving use cases: which model a request names, what text a router reads, which α to serve.

    target = choose_alpha(result, target_accuracy=0.95)    # from the router's held-out sweep
    text = routing_text(body["messages"])                  # what the router embeds
    served = served_report(store, since, bucket_s)         # `avp served`

How a conversation is embedded: the text of its **last user message** (the text parts of a
content list joined). That is what every router was fitted on (`Item.prompt_text`, the last user
message of each benchmark item, is what `avp fit` embeds), so a served query lands in the same
space as the training queries; the latest user turn is also what the next answer must address.
Joining all turns would drift the embedding towards earlier topics and, with a tail cut
(`max_chars` keeps the last N characters), push the current question out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from avp_harness.errors import RouterError
from avp_harness.routing.sweep import SweepResult
from avp_harness.types import last_user_text

ROUTER_PREFIX = "avp/"


def routing_text(messages: Any) -> str | None:
    """What a served request is routed on: its last user message's text (see the module)."""
    return last_user_text(messages)


@dataclass(frozen=True)
class ModelName:
    """What a request's `model` names: the served router (at an α, None = the default) or a
    configured model by its id."""

    router: str | None
    alpha: float | None
    model: str | None


def parse_model_name(name: str, router: str) -> ModelName | None:
    """`avp/<router>`, `avp/<router>@<alpha>` -> the router; anything else -> a model id to look
    up (None when it names another router). A bad α is a RouterError (one line)."""
    if not name.startswith(ROUTER_PREFIX):
        return ModelName(None, None, name)
    rest = name[len(ROUTER_PREFIX):]
    base, sep, alpha_text = rest.partition("@")
    if base != router:
        return None
    if not sep:
        return ModelName(router, None, None)
    try:
        alpha = float(alpha_text)
    except ValueError:
        raise RouterError(f"{name}: the alpha after @ must be a number in [0, 1]") from None
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise RouterError(f"{name}: the alpha after @ must be in [0, 1]")
    return ModelName(router, alpha, None)


# -- α from a target ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlphaChoice:
    alpha: float
    accuracy: float
    cost: float
    best_model: str
    best_accuracy: float
    best_cost: float
    why: str


def choose_alpha(
    result: SweepResult, *, target_accuracy: float | None = None, target_cost: float | None = None
) -> AlphaChoice:
    """The α the router is served at, read off its held-out sweep (the stored router on its own
    test split, α in 0:1:0.01), relative to the best single model on that split:

    - `target_accuracy` s: the cheapest α whose accuracy is at least s x the best model's
      (ties: the higher accuracy, then the higher α);
    - `target_cost` s: the most accurate α whose dollars are at most s x the best model's
      (ties: the cheaper, then the higher α).
    A target no α meets is a RouterError saying what the router reaches."""
    if (target_accuracy is None) == (target_cost is None):
        raise RouterError("give one of --target-accuracy or --target-cost")
    best = result.best_model
    b_acc, b_cost = result.single[best]
    acc, cost, alphas = result.accuracy, result.cost, result.alphas
    if target_accuracy is not None:
        share = _share(target_accuracy, "--target-accuracy", upper=1.0)
        ok = np.flatnonzero(acc >= share * b_acc - 1e-12)
        if not len(ok):
            raise RouterError(
                f"no alpha keeps {share:.0%} of {best}'s held-out accuracy {b_acc:.4f}: the router "
                f"reaches {float(acc.max()):.4f} at most ({float(acc.max()) / b_acc:.1%} of it)")
        i = min(ok, key=lambda k: (cost[k], -acc[k], -alphas[k]))
        why = (f"the cheapest alpha keeping {share:.0%} of the best model's held-out accuracy")
    else:
        share = _share(target_cost, "--target-cost")
        ok = np.flatnonzero(cost <= share * b_cost + 1e-12)
        if not len(ok):
            raise RouterError(
                f"no alpha costs at most {share:.0%} of {best}'s held-out ${b_cost:.4f}: the "
                f"cheapest alpha costs ${float(cost.min()):.4f}")
        i = max(ok, key=lambda k: (acc[k], -cost[k], alphas[k]))
        why = f"the most accurate alpha costing at most {share:.0%} of the best model's dollars"
    return AlphaChoice(float(alphas[i]), float(acc[i]), float(cost[i]), best, float(b_acc),
                       float(b_cost), why)


def _share(value: float | None, flag: str, upper: float | None = None) -> float:
    if value is None or not math.isfinite(value) or value <= 0 or (upper and value > upper):
        bound = f"in (0, {upper:g}]" if upper else "> 0"
        raise RouterError(f"{flag} must be a share {bound} (0.95 = 95% of the best model's)")
    return float(value)


def describe_choice(choice: AlphaChoice, n_test: int) -> str:
    """One line: the α chosen, its held-out figures against the best model, and why."""
    acc_share = choice.accuracy / choice.best_accuracy if choice.best_accuracy else math.nan
    cost_share = choice.cost / choice.best_cost if choice.best_cost else math.nan
    return (f"alpha {choice.alpha:.2f}: held-out accuracy {choice.accuracy:.4f} "
            f"({acc_share:.1%} of {choice.best_model}'s {choice.best_accuracy:.4f}) for "
            f"${choice.cost:.4f} ({cost_share:.1%} of its ${choice.best_cost:.4f}) on "
            f"{n_test} held-out queries: {choice.why}")


# -- `avp served` -------------------------------------------------------------------------------


def served_report(buckets: Sequence[Any]) -> dict[str, Any]:
    """Totals and per-bucket spend and model mix, as JSON-ready data."""
    total: dict[str, Any] = {"requests": 0, "failed": 0, "dollars": 0.0, "unpriced": 0,
                             "prompt_tokens": 0, "completion_tokens": 0, "calls": 0,
                             "models": {}}
    rows = []
    for b in buckets:
        for key in ("requests", "failed", "dollars", "unpriced", "prompt_tokens",
                    "completion_tokens", "calls"):
            total[key] += getattr(b, key)
        for m, n in b.models.items():
            total["models"][m] = total["models"].get(m, 0) + n
        rows.append({"start": b.start, "requests": b.requests, "failed": b.failed,
                     "dollars": b.dollars, "unpriced": b.unpriced,
                     "prompt_tokens": b.prompt_tokens, "completion_tokens": b.completion_tokens,
                     "calls": b.calls, "models": dict(sorted(b.models.items())),
                     "routers": dict(sorted(b.routers.items()))})
    total["models"] = dict(sorted(total["models"].items()))
    return {"total": total, "buckets": rows}


def model_mix(models: dict[str, int]) -> str:
    """`{"a": 3, "b": 1}` -> "a 75%, b 25%" (most used first); "-" when there is none."""
    n = sum(models.values())
    if not n:
        return "-"
    ranked = sorted(models.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{m} {k / n:.0%}" for m, k in ranked)
