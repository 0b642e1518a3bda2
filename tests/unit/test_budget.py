"""The budget guard: reservations from what was observed, upper bounds with max_tokens, waiting
for room instead of stopping, projections from observed costs."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from avp_harness.collect.budget import DEFAULT_OUTPUT_TOKENS, BudgetGuard, prompt_bound
from avp_harness.config import Price
from avp_harness.types import Message, Usage

PRICE = Price(input_per_m=1.0, output_per_m=10.0)


def cell(model: str = "m", bench: str = "b", *, max_tokens: int | None = None,
         price: Price | None = PRICE, prompt: str = "x" * 400) -> Any:
    return SimpleNamespace(
        key=SimpleNamespace(model=model, benchmark=bench),
        item=SimpleNamespace(messages=[Message("user", prompt)]),
        model=SimpleNamespace(id=model, price=price, max_tokens=max_tokens),
    )


def cost(output: int, prompt: int = 116) -> float:
    """Dollars at a prompt of 116 tokens (what 400 characters are estimated at)."""
    return PRICE.cost(Usage(prompt_tokens=prompt, completion_tokens=output))


def reserved(output: int) -> float:
    """A reservation: the output guessed, the prompt bounded (400 bytes + the template's)."""
    return cost(output, prompt_bound(cell()))


def test_with_max_tokens_and_a_price_a_call_reserves_an_upper_bound() -> None:
    guard = BudgetGuard(1.0)
    c = cell(max_tokens=1000, prompt="é" * 100)  # 200 UTF-8 bytes: at most that many tokens
    assert prompt_bound(c) >= 200
    bound = PRICE.cost(Usage(prompt_tokens=prompt_bound(c), completion_tokens=1000))
    for _ in range(50):  # small answers observed do not lower an upper bound
        guard.settle(c, 0.0, cost(10), output_tokens=10)
    assert guard.reserve_for(c) == pytest.approx(bound)


def test_without_max_tokens_the_p95_of_observed_output_tokens_is_reserved() -> None:
    guard = BudgetGuard(100.0)
    c = cell()
    assert guard.reserve_for(c) == pytest.approx(reserved(DEFAULT_OUTPUT_TOKENS))  # none seen
    for tokens in [100] * 19 + [10_000]:  # one outlier among 20 answers
        guard.settle(c, 0.0, cost(tokens), output_tokens=tokens)
    assert guard.reserve_for(c) == pytest.approx(reserved(100))
    assert guard.estimate(c) == pytest.approx((19 * cost(100) + cost(10_000)) / 20)
    other = cell(bench="other")  # another benchmark keeps its own observations
    assert guard.reserve_for(other) == pytest.approx(reserved(DEFAULT_OUTPUT_TOKENS))


def test_a_first_call_that_does_not_fit_with_others_runs_alone() -> None:
    """`--budget 0.05` with 4096 output tokens costing more: calls are still made, one at a
    time, until the answers say what a call costs."""
    guard = BudgetGuard(0.03)  # 4096 tokens at $10/M: $0.041
    c = cell()
    first = guard.try_reserve(c)
    assert first == pytest.approx(0.03)  # all that is left: nothing else may run with it
    assert guard.try_reserve(cell(model="other")) is None
    guard.settle(c, first, cost(50), output_tokens=50)
    assert guard.try_reserve(c) == pytest.approx(0.03 - cost(50))


async def test_a_reservation_waits_for_calls_in_flight_and_stops_when_none_are() -> None:
    guard = BudgetGuard(0.06)
    c = cell(max_tokens=DEFAULT_OUTPUT_TOKENS)  # bound ~$0.041
    first = await guard.reserve(c)
    assert first is not None
    waiting = asyncio.ensure_future(guard.reserve(c))
    await asyncio.sleep(0)
    assert not waiting.done()  # no room while the first call is in flight: it waits
    guard.settle(c, first, 0.001, output_tokens=10)
    second = await asyncio.wait_for(waiting, 10)
    assert second is not None
    guard.settle(c, second, 0.03, output_tokens=3000)  # now $0.031 spent: the bound cannot fit
    assert await asyncio.wait_for(guard.reserve(c), 10) is None
    assert guard.spent <= guard.budget  # type: ignore[operator]


def test_unpriced_models_reserve_from_observed_dollars() -> None:
    guard = BudgetGuard(1.0)
    c = cell(price=None)
    assert guard.try_reserve(c) == pytest.approx(1.0)  # before its first cost: runs alone
    guard.settle(c, 1.0, 0.01, output_tokens=5)
    assert guard.reserve_for(c) == pytest.approx(0.02)  # twice the largest, before 5 answers
    for _ in range(10):
        guard.settle(c, 0.0, 0.01, output_tokens=5)
    assert guard.reserve_for(c) == pytest.approx(0.01)
    never = cell(model="n", price=None)
    guard.settle(never, 0.0, None)  # answered, cost never known: counted as unpriced
    assert guard.unpriced_models == {"n"} and guard.reserve_for(never) == 0.0


def test_projections_come_from_observed_costs() -> None:
    """A pair with no answers yet is projected from its model's answers elsewhere, not from
    4096 tokens (which projected $9.59 for a real $0.82)."""
    guard = BudgetGuard(None)
    seen = cell(bench="arc")
    for _ in range(5):
        guard.settle(seen, 0.0, cost(200), output_tokens=200)
    assert guard.estimate(seen) == pytest.approx(cost(200))
    assert guard.estimate(cell(bench="aime")) == pytest.approx(cost(200))
    assert guard.estimate(cell(model="new", bench="aime")) == pytest.approx(cost(200))
    assert BudgetGuard(None).estimate(cell()) == pytest.approx(cost(DEFAULT_OUTPUT_TOKENS))


def test_the_store_s_earlier_answers_seed_the_reservations_and_the_start_line() -> None:
    guard = BudgetGuard(5.0)
    plan = SimpleNamespace(
        benchmarks=[SimpleNamespace(name="arc_agi", more_calls=False)],
        hashes={("m", "arc_agi"): "h"},
        models=[SimpleNamespace(id="m", max_tokens=None, price=PRICE)])
    line = guard.start(plan, {"h": [(100, cost(100))] * 19 + [(300, None)]})  # type: ignore[arg-type]
    assert guard.reserve_for(cell(bench="arc_agi")) == pytest.approx(reserved(100))
    assert line.startswith("budget $5.00: each call reserves the p95 cost")
    assert "1 of 1 pairs have 5+" in line
    bounded = BudgetGuard(5.0)
    plan.models[0].max_tokens = 100
    assert "never exceeded" in bounded.start(plan, {})  # type: ignore[arg-type]
    assert BudgetGuard(None).start(plan, {}) == ""  # type: ignore[arg-type]


def test_a_call_alone_always_fits_the_room_left_whatever_the_rounding() -> None:
    """Reservations added and settled in another order leave a rounding residue (3e-18 here):
    it must neither refuse the call that reserves exactly the room left nor count as a call in
    flight (a run stopped at $0.0052 of $0.05 with nothing in flight)."""
    guard = BudgetGuard(0.05)
    amounts = [0.0123457, 0.0031415, 0.0271828, 0.0004142]
    for amount in amounts:
        guard.reserved += amount
    for amount in amounts:
        guard.settle(cell(), amount, None, answered=False)
    assert guard.reserved == 0.0
    guard.spent = 0.0052048
    dear = cell(price=Price(input_per_m=1.0, output_per_m=20.0))  # 4096 tokens: $0.08
    assert guard.try_reserve(dear) == pytest.approx(0.05 - 0.0052048)
