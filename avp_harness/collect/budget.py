"""The run-wide budget: what a call may cost is reserved before it is made.

A call is made only when spent + reserved + its reservation <= budget. A call whose reservation
does not fit waits while other calls are in flight (their settling frees room); when nothing is in
flight and it still does not fit, scheduling stops. A settled call counts what it really cost.

The reservation of a call (`reserve_for`):

* bounded: its model sets `max_tokens` and has a price, and a cell is one call (no judge, not
  τ²-bench's conversation). It
  reserves the price-table cost of the prompt's UTF-8 bytes (no tokenizer makes more tokens than
  bytes; plus a margin per message for the chat template) and `max_tokens` of output: an upper
  bound, so the budget is never exceeded (as long as the price table is right and the provider
  honours max_tokens).
* otherwise (no max_tokens, or other calls add to the cell), from what was observed for
  its (model, benchmark), in the store's earlier cells and this run's: once MIN_OBSERVED answers
  are known, the larger of the p95 of their output tokens priced with this prompt's bound (as
  above) and the p95 of their dollars; before that, the price-table cost at `max_tokens` or
  DEFAULT_OUTPUT_TOKENS (or, when that does not fit, all the budget left: the call runs alone).
  A model with no price reserves the p95 of its observed dollars (twice the largest before
  MIN_OBSERVED), and before its first known cost, all the budget left (its first call runs
  alone); one whose cost is never known (no price, not reported) reserves nothing and is named
  at the end.

  The guarantee is weaker there, as no call has a bound: a call may cost more than it reserved
  (about 1 in 20), and is settled at its real cost, which leaves less room for the next
  reservation. So spending passes the budget only if the calls in flight at that moment together
  overrun the room left; as the room shrinks to a few reservations, fewer calls are in flight,
  down to one. Set `max_tokens` for the hard guarantee.

Projections to finish (`estimate`) use the mean of the observed dollars per (model, benchmark);
for a pair with none yet, the model's mean output tokens on its other benchmarks (or every
model's) priced at the prompt; the price table at max_tokens only when nothing was observed.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from avp_harness.collect.plan import PlannedCell
from avp_harness.types import Usage

if TYPE_CHECKING:
    from avp_harness.collect.plan import Plan

# Output tokens assumed for a model without max_tokens before its answers are observed.
DEFAULT_OUTPUT_TOKENS = 4096
# Answers of a (model, benchmark) before its p95 is trusted for reservations.
MIN_OBSERVED = 5
QUANTILE = 0.95
# Tokens a chat template may add per message, and per request, beyond the text (bounds only).
TEMPLATE_TOKENS_PER_MESSAGE = 16
TEMPLATE_TOKENS = 32


@dataclass
class _Observed:
    """What the answers of one (model, benchmark) cost: sorted, for quantiles."""

    outputs: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)

    def add(self, output_tokens: int | None, cost: float | None) -> None:
        if output_tokens is not None:
            bisect.insort(self.outputs, output_tokens)
        if cost is not None:
            bisect.insort(self.costs, cost)


def quantile(values: Sequence[float], q: float = QUANTILE) -> float:
    """The nearest-rank quantile of sorted values."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def prompt_estimate(cell: PlannedCell) -> int:
    """Prompt tokens, about 4 characters a token (estimates, not bounds)."""
    return sum(len(m.content) for m in cell.item.messages) // 4 + 16


def prompt_bound(cell: PlannedCell) -> int:
    """At least the prompt's tokens: its UTF-8 bytes plus the chat template's."""
    return TEMPLATE_TOKENS + sum(len(m.content.encode()) + TEMPLATE_TOKENS_PER_MESSAGE
                                 for m in cell.item.messages)


@dataclass
class BudgetGuard:
    budget: float | None
    spent: float = 0.0
    reserved: float = 0.0
    unpriced_models: set[str] = field(default_factory=set)  # calls with no known dollars
    judged: set[str] = field(default_factory=set)  # benchmarks whose cells add other calls' cost
    _seen: dict[tuple[str, str], _Observed] = field(default_factory=dict)
    _settled: asyncio.Event | None = field(default=None, repr=False)
    _version: int = 0  # observations so far, for the cache of means
    _cache_version: int = -1
    _cache: dict[str | None, tuple[float | None, float | None]] = field(default_factory=dict)

    # ------------------------------------------------------------------ observations
    def start(self, plan: Plan, observed: Mapping[str, Sequence[tuple[int, float | None]]]) -> str:
        """Seed from the store's earlier cells (per config hash) and say how reservations are
        made for this plan, in one line."""
        self.judged = {b.name for b in plan.benchmarks if b.more_calls}
        for pair, chash in plan.hashes.items():
            rows = observed.get(chash, ())
            if rows:
                seen = self._seen.setdefault(pair, _Observed())
                seen.outputs = sorted([*seen.outputs, *(tokens for tokens, _ in rows)])
                seen.costs = sorted([*seen.costs, *(c for _, c in rows if c is not None)])
                self._version += 1
        return self.describe(plan)

    def observe(self, cell: PlannedCell, output_tokens: int | None, cost: float | None) -> None:
        self._version += 1
        self._seen.setdefault((cell.key.model, cell.key.benchmark), _Observed()).add(
            output_tokens, cost)

    def describe(self, plan: Plan) -> str:
        if self.budget is None:
            return ""
        bounded = [m.id for m in plan.models if m.max_tokens is not None and m.price is not None]
        pairs = [(m.id, b.name) for m in plan.models for b in plan.benchmarks]
        known = sum(len(self._seen.get(p, _Observed()).costs) >= MIN_OBSERVED for p in pairs)
        if bounded and len(bounded) == len(plan.models) and not self.judged:
            how = ("each call reserves its price-table cost at max_tokens, an upper bound: "
                   "the budget is never exceeded")
        else:
            how = (f"each call reserves the p95 cost of its model's answers on its benchmark "
                   f"({known} of {len(pairs)} pairs have {MIN_OBSERVED}+ yet; until then the "
                   f"price table at max_tokens or {DEFAULT_OUTPUT_TOKENS} output tokens, or the "
                   "call runs alone)")
            if bounded:
                how += "; models with max_tokens and a price reserve that upper bound"
            how += ("; a call costing more is settled at its cost, and none starts whose "
                    "reservation would pass the budget")
        return f"budget ${self.budget:.2f}: {how}"

    # ------------------------------------------------------------------ reservations
    def bound(self, cell: PlannedCell) -> float | None:
        """The most the call can cost, when its model sets max_tokens and has a price and no
        judge adds to it; None otherwise."""
        model = cell.model
        if model.price is None or model.max_tokens is None or cell.key.benchmark in self.judged:
            return None
        return model.price.cost(Usage(prompt_tokens=prompt_bound(cell),
                                      completion_tokens=model.max_tokens))

    def reserve_for(self, cell: PlannedCell) -> float:
        """What the call reserves (see the module docstring)."""
        bound = self.bound(cell)
        if bound is not None:
            return bound
        seen = self._seen.get((cell.key.model, cell.key.benchmark), _Observed())
        price = cell.model.price
        if price is None:
            if cell.key.model in self.unpriced_models:
                return 0.0  # its cost is never known: the budget cannot count it
            if len(seen.costs) >= MIN_OBSERVED:
                return quantile(seen.costs)
            if seen.costs:
                return 2.0 * seen.costs[-1]
            return self._alone()
        prompt = prompt_bound(cell)  # the prompt is known: bounded; only the output is guessed
        if len(seen.outputs) >= MIN_OBSERVED:
            tokens = price.cost(Usage(prompt_tokens=prompt, completion_tokens=int(
                quantile(seen.outputs))))
            return max(tokens, quantile(seen.costs) if seen.costs else 0.0)
        output = cell.model.max_tokens or DEFAULT_OUTPUT_TOKENS
        first = price.cost(Usage(prompt_tokens=prompt, completion_tokens=output))
        return min(max(first, seen.costs[-1] if seen.costs else 0.0), self._alone())

    def _alone(self) -> float:
        """A reservation that fits only with nothing else in flight: all the budget left."""
        return math.inf if self.budget is None else self.budget - self.spent

    def try_reserve(self, cell: PlannedCell) -> float | None:
        """Reserve the call's cost; None when it does not fit now."""
        amount = self.reserve_for(cell)
        if self.budget is None:
            amount = 0.0 if math.isinf(amount) else amount
        else:
            room = self.budget - self.spent - self.reserved
            # (a call alone reserves exactly the room: no rounding may refuse it)
            if self.spent >= self.budget or amount > room + 1e-12 * max(1.0, self.budget):
                return None
        self.reserved += amount
        return amount

    async def reserve(self, cell: PlannedCell) -> float | None:
        """Reserve the call's cost, waiting while calls in flight may free room; None when it
        does not fit with nothing in flight (scheduling stops)."""
        while (amount := self.try_reserve(cell)) is None:
            if not self.reserved:  # nothing in flight holds room that could free up
                return None
            if self._settled is None:
                self._settled = asyncio.Event()
            self._settled.clear()
            await self._settled.wait()
        return amount

    def _means(self, model: str | None) -> tuple[float | None, float | None]:
        """Mean output tokens and mean dollars of a model's answers (None: everyone's), cached
        until the next observation."""
        if self._cache_version != self._version:
            self._cache, self._cache_version = {}, self._version
        if model not in self._cache:
            groups = [s for (m, _), s in self._seen.items() if model is None or m == model]
            outputs = [o for s in groups for o in s.outputs]
            costs = [c for s in groups for c in s.costs]
            self._cache[model] = (_mean(outputs) if outputs else None,
                                  _mean(costs) if costs else None)
        return self._cache[model]

    def settle(
        self, cell: PlannedCell, reserved: float, cost: float | None, answered: bool = True,
        output_tokens: int | None = None,
    ) -> None:
        """Replace a reservation by what the call cost (None: neither reported nor priced, or
        no answer came back)."""
        self.reserved -= reserved
        if self.reserved < 1e-12 * max(1.0, self.budget or 0.0):  # rounding left by the sums
            self.reserved = 0.0
        if self._settled is not None:
            self._settled.set()
        if cost is None:
            if answered:
                self.unpriced_models.add(cell.key.model)
            return
        self.spent += cost
        if answered:
            self.observe(cell, output_tokens, cost)

    # ------------------------------------------------------------------ projections
    def estimate(self, cell: PlannedCell) -> float:
        """Expected dollars of a cell, from what was observed (see the module docstring)."""
        seen = self._seen.get((cell.key.model, cell.key.benchmark))
        if seen and seen.costs:
            return _mean(seen.costs)
        price = cell.model.price
        for model in (cell.key.model, None):  # its model's answers elsewhere, then anyone's
            outputs, costs = self._means(model)
            if price is not None and outputs is not None:
                return price.cost(Usage(prompt_tokens=prompt_estimate(cell),
                                        completion_tokens=round(outputs)))
            if price is None and costs is not None and model is not None:
                return costs
        if price is None:
            return 0.0
        output = cell.model.max_tokens or DEFAULT_OUTPUT_TOKENS
        return price.cost(Usage(prompt_tokens=prompt_estimate(cell), completion_tokens=output))
