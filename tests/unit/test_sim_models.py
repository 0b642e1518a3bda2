"""The simulated catalogue, its skill model, embeddings and option parsing (no server)."""

from __future__ import annotations

import math
import re
from collections import Counter
from statistics import mean

import pytest

import benchmarks
from avp_harness.sim.models import SIM_MODELS, SimModel, drift, item_p, p_correct, topic_of
from avp_harness.sim.server import (
    FaultRule,
    SimServerError,
    embed_text,
    parse_fault_spec,
    prompt_sha,
    simulate_answer,
)
from avp_harness.types import Item, Message


def test_catalogue_is_clearly_simulated_and_exercises_every_cost_path() -> None:
    assert len(SIM_MODELS) == 5
    for model in SIM_MODELS.values():
        assert model.id.startswith("sim/")
        assert "SIMULATED" in model.description
        assert 0 < model.price_cached_in < model.price_in < model.price_out
    assert any(not m.reports_cost for m in SIM_MODELS.values())
    assert any(m.reasoning for m in SIM_MODELS.values())


def test_cost_counts_cached_input_at_its_own_price() -> None:
    model = SIM_MODELS["sim/atlas-xl"]  # 5 in, 1.25 cached, 15 out
    assert model.cost(1_000_000, 0) == pytest.approx(5.0)
    assert model.cost(1_000_000, 1_000_000, cached_tokens=500_000) == pytest.approx(
        2.5 + 0.625 + 15.0
    )


def test_lognormal_parameters_reproduce_mean() -> None:
    mu, sigma = SIM_MODELS["sim/reasoner-r1"].lognormal_params()
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(6.0)


def test_p_correct_prefers_topic_then_benchmark_then_default() -> None:
    model = SimModel(
        "sim/t", "SIMULATED", 1, 2, 0.5, True, False, 1, 0.1,
        skills={"*": 0.3, "gpqa": 0.6, "gpqa/physics": 0.9},
    )  # fmt: skip
    assert p_correct(model, "gpqa", "physics") == 0.9
    assert p_correct(model, "gpqa", "biology") == 0.6
    assert p_correct(model, "gpqa_diamond", "physics") == 0.9  # registry name -> skill alias
    assert p_correct(model, "unknown_bench", "x") == 0.3


def test_topics_come_from_metadata_else_a_cheap_feature() -> None:
    tagged = Item("a", "x", (Message("user", "q"),), "A", {"topic": "Physics"})
    assert topic_of("gpqa_diamond", tagged) == "physics"
    small = Item("t", "arc_agi", (Message("user", "q"),), [[[1, 2], [3, 4]]])
    big = Item("t", "arc_agi", (Message("user", "q"),), [[[0] * 20] * 20])
    assert (topic_of("arc_agi", small), topic_of("arc_agi", big)) == ("small", "large")


def test_accuracy_follows_the_skill_table_on_real_humaneval_items() -> None:
    items = list(benchmarks.get("humaneval").items(benchmarks.Selection()))
    rates = {}
    for model in SIM_MODELS.values():
        outcomes = [
            simulate_answer(model, "humaneval", it, prompt_sha(it.prompt_text), 0).correct
            for it in items
        ]
        expected = sum(p_correct(model, "humaneval", topic_of("humaneval", it)) for it in items)
        rates[model.id] = sum(map(bool, outcomes)) / len(items)
        # 164 Bernoulli draws: 4 standard deviations of slack at worst (p = 0.5) is ~0.16
        assert abs(rates[model.id] - expected / len(items)) < 0.16
    assert rates["sim/atlas-xl"] > rates["sim/flash-mini"]


def test_answers_are_deterministic_and_the_seed_is_a_sample_nonce() -> None:
    item = next(iter(benchmarks.get("humaneval").items(benchmarks.Selection(limit=1))))
    model, sha = SIM_MODELS["sim/mid-pro"], prompt_sha(item.prompt_text)
    assert simulate_answer(model, "humaneval", item, sha, 3) == simulate_answer(
        model, "humaneval", item, sha, 3
    )
    # a sample (no temperature: the OpenAI default 1.0) is drawn afresh; an item the model is
    # unsure about then gets both outcomes over the nonces (sure items, one: test_item_p_...)
    items = list(benchmarks.get("humaneval").items(benchmarks.Selection(limit=20)))
    outcomes = [
        {simulate_answer(model, "humaneval", it, prompt_sha(it.prompt_text), n).correct
         for n in range(40)}
        for it in items
    ]
    assert {True, False} in outcomes


def test_item_p_keeps_the_skill_on_average_and_the_greedy_answer_likelier() -> None:
    grid = [(k + 0.5) / 1000 for k in range(1000)]
    for p in (0.35, 0.5, 0.7):
        assert mean(item_p(p, u) for u in grid) == pytest.approx(p, abs=1e-3)
        assert all((item_p(p, u) > 0.5) == (u < p) for u in grid if abs(u - p) > 1e-9)
    assert (drift(0.0), drift(0.4), drift(0.7), drift(2.0)) == pytest.approx((0, 0.5, 0.875, 1))


def test_samples_vary_with_temperature_and_a_vote_gains_on_unsure_items() -> None:
    """T = 0: every sample is the greedy answer. T = 0.7: samples differ on many items, the
    mean sample stays at the model's skill, and a majority vote beats the greedy answer (the
    Self-Consistency effect), deterministically."""
    items = list(benchmarks.get("mmlu_pro").items(benchmarks.Selection(limit=200)))
    model = SIM_MODELS["sim/mid-pro"]  # mmlu_pro skill 0.70
    greedy, voted, sampled, varying = [], [], [], 0
    for item in items:
        sha = prompt_sha(item.prompt_text)
        first = simulate_answer(model, "mmlu_pro", item, sha, 0, temperature=0.0)
        again = [simulate_answer(model, "mmlu_pro", item, sha, n, temperature=0.0) for n in (1, 9)]
        assert {a.text for a in again} == {first.text}
        samples = [simulate_answer(model, "mmlu_pro", item, sha, n, temperature=0.7)
                   for n in range(10)]
        assert samples[3] == simulate_answer(model, "mmlu_pro", item, sha, 3, temperature=0.7)
        letters = [re.findall(r"Answer: ([A-J])", a.text)[-1] for a in samples]
        vote = Counter(letters).most_common(1)[0][0]
        greedy.append(bool(first.correct))
        voted.append(vote == str(item.target).strip().upper())
        sampled.append(mean(bool(a.correct) for a in samples))
        varying += len(set(letters)) > 1
    assert 0.3 < varying / len(items) < 0.85
    assert abs(mean(sampled) - 0.70) < 0.06 and abs(mean(greedy) - 0.70) < 0.1
    assert mean(voted) > mean(greedy) + 0.02


def test_embeddings_are_unit_norm_deterministic_and_topical() -> None:
    a = embed_text("the cat sat on the mat")
    assert len(a) == 64 and math.isclose(sum(x * x for x in a), 1.0)
    assert a == embed_text("The cat, sat on the MAT!")
    near = embed_text("the cat sat on a mat today")
    far = embed_text("quantum chromodynamics lattice gauge")
    cos = lambda u, v: sum(x * y for x, y in zip(u, v, strict=True))  # noqa: E731
    assert cos(a, near) > cos(a, far)
    assert embed_text("") == [0.0] * 64
    assert len(embed_text("x y", dim=8)) == 8


def test_fault_specs_parse_or_fail_in_one_line() -> None:
    assert parse_fault_spec("429=0.25") == ("429", 0.25)
    for bad in ("429", "teapot=0.1", "500=lots", "500=1.5"):
        with pytest.raises(SimServerError, match="--fault"):
            parse_fault_spec(bad)


def test_fault_rules_validate_their_fields() -> None:
    rule = FaultRule.from_json({"fault": "429", "count": 2, "retry_after": 0.5})
    assert (rule.fault, rule.count, rule.retry_after, rule.model) == ("429", 2, 0.5, None)
    for bad in ({"fault": "nope"}, {"fault": "500", "count": 0}, {"fault": "slow", "delay": -1}):
        with pytest.raises(ValueError):
            FaultRule.from_json(bad)
