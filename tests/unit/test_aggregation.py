"""JiSi's aggregation prompt, its cells' identity, and the simulated aggregator."""

from __future__ import annotations

import random
from statistics import mean
from typing import Any

import numpy as np
import pytest

import benchmarks
from avp_harness.aggregation import (
    AGGREGATE_SUFFIX,
    Aggregation,
    aggregation_parts,
    aggregation_prompt,
    kept_responses,
)
from avp_harness.collect.aggregate import aggregation_item
from avp_harness.routing.jisi import JiSiDecision, full_cost_calls
from avp_harness.sim.answers import ANSWERS, aggregate_p, response_right
from avp_harness.sim.models import SIM_MODELS
from avp_harness.sim.server import prompt_sha, simulate_aggregation


def test_prompt_round_trips_the_question_verbatim_and_the_responses() -> None:
    question = "  Which one?\n(A) x\n(B) y\n\n"
    responses = ["Answer: A", "Thinking.\n\n=== not a heading ===\nAnswer: B"]
    text = aggregation_prompt(question, responses)
    assert aggregation_parts(text) == (question, responses)
    assert aggregation_parts("Which one?") is None
    assert aggregation_parts(text.replace("RESPONSE 2", "RESPONSE 3")) is None


def test_three_long_responses_keep_the_first_two() -> None:
    short, long = ["a" * 100] * 3, ["a" * 20_000] * 3  # 3 x 5,000 tokens > 13,000
    assert kept_responses(short) == short
    assert kept_responses(long) == long[:2]
    assert kept_responses(long[:2]) == long[:2]  # two are never cut


def test_a_cell_is_the_aggregator_item_and_candidate_set() -> None:
    a = Aggregation("math500", "q1", "m", ("x", "y"), ("Answer: 1", "Answer: 2"))
    assert a.cell_benchmark == "math500" + AGGREGATE_SUFFIX
    assert a.cell_item_id.startswith("q1~")
    assert a.cell_item_id == Aggregation("math500", "q1", "other", ("x", "y"),
                                         ("Answer: 1", "Answer: 2")).cell_item_id
    assert a.cell_item_id != Aggregation("math500", "q1", "m", ("y", "x"),
                                         ("Answer: 1", "Answer: 2")).cell_item_id
    assert a.cell_item_id != Aggregation("math500", "q1", "m", ("x", "y"),
                                         ("Answer: 1", "Answer: 3")).cell_item_id


def test_full_cost_counts_the_candidates_and_every_read_model_outside_them() -> None:
    C = np.array([[1.0, 2.0, 4.0, 8.0], [1.0, 2.0, 4.0, 8.0]])
    adaptive = np.array([[True, True, False, False], [True, False, False, True]])
    d = JiSiDecision(np.array([0, 0]), np.array([[0, 1], [0, 1]]), np.array([0, 0]), adaptive,
                     np.array([5, 5]))
    cost, calls = full_cost_calls(d, C)
    assert cost.tolist() == [3.0, 11.0] and calls.tolist() == [2.0, 3.0]


@pytest.fixture(scope="module")
def items() -> list:
    return list(benchmarks.get("mmlu_pro").items(benchmarks.Selection(limit=120)))


def test_the_simulated_aggregator_reads_right_and_wrong_responses(items: list) -> None:
    rng = random.Random(0)
    for item in items[:20]:
        assert response_right("mmlu_pro", item, ANSWERS["mmlu_pro"](item, True, rng)) is True
        assert response_right("mmlu_pro", item, ANSWERS["mmlu_pro"](item, False, rng)) is False
    assert response_right("healthbench", items[0], "anything") is None


def test_the_aggregator_beats_the_responses_it_reads_by_its_skill(items: list) -> None:
    """P(right) grows with the share of right responses and with skill; on two responses, one
    right and one wrong, a skilled aggregator is right more often than the average response."""
    assert aggregate_p([True, True], 0.8) > aggregate_p([True, False], 0.8) > aggregate_p(
        [False, False], 0.8)
    assert aggregate_p([True, False], 0.9) > aggregate_p([True, False], 0.3)
    assert aggregate_p([None], 0.6) == 0.6
    rng = random.Random(1)
    model = SIM_MODELS["sim/atlas-xl"]
    outcomes = []
    for item in items:
        responses = [ANSWERS["mmlu_pro"](item, True, rng), ANSWERS["mmlu_pro"](item, False, rng)]
        sha = prompt_sha(aggregation_prompt(item.prompt_text, responses))
        answer = simulate_aggregation(model, "mmlu_pro", item, sha, 0, responses)
        assert answer == simulate_aggregation(model, "mmlu_pro", item, sha, 0, responses)
        assert response_right("mmlu_pro", item, answer.text) is answer.correct
        outcomes.append(bool(answer.correct))
    assert mean(outcomes) > 0.5 + 0.1  # the average response is right half the time


def test_the_aggregator_item_carries_the_prompt_and_the_original_target(items: list) -> None:
    item = items[0]
    a = Aggregation("mmlu_pro", item.id, "sim/mid-pro", ("a", "b"), ("Answer: A", "Answer: B"))
    cell = aggregation_item(item, a)
    assert (cell.id, cell.dataset, cell.target) == (a.cell_item_id, a.cell_benchmark, item.target)
    assert aggregation_parts(cell.prompt_text) == (item.prompt_text, list(a.responses))


def test_the_plan_makes_one_cell_per_aggregator_and_candidate_set(
    items: list, tmp_path: Any
) -> None:
    from avp_harness.collect.aggregate import aggregation_plan
    from avp_harness.config import load_config

    path = tmp_path / "avp.toml"
    path.write_text('[providers.sim]\nbase_url = "http://127.0.0.1:9/v1"\n'
                    '[[models]]\nid = "sim/mid-pro"\nprovider = "sim"\n'
                    '[[models]]\nid = "sim/atlas-xl"\nprovider = "sim"\n'
                    '[[benchmarks]]\nname = "mmlu_pro"\nlimit = 3\n')
    config = load_config(str(path))
    first = list(benchmarks.get("mmlu_pro").items(benchmarks.Selection(limit=3)))
    one = Aggregation("mmlu_pro", first[0].id, "sim/mid-pro", ("a", "b"), ("Answer: A", "B"))
    plan = aggregation_plan(config, [
        one, one,  # asked by two seeds: one cell
        Aggregation("mmlu_pro", first[0].id, "sim/atlas-xl", ("a", "b"), ("Answer: A", "B")),
        Aggregation("mmlu_pro", first[1].id, "sim/mid-pro", ("a", "b"), ("Answer: C", "D")),
        Aggregation("mmlu_pro", "not-an-item", "sim/mid-pro", ("a", "b"), ("x", "y")),
        Aggregation("mmlu_pro", first[2].id, "sim/unknown", ("a", "b"), ("x", "y")),
    ])
    cells = list(plan.cells())
    assert sorted((c.key.model, c.key.item_id) for c in cells) == sorted([
        ("sim/mid-pro", one.cell_item_id), ("sim/atlas-xl", one.cell_item_id),
        ("sim/mid-pro", Aggregation("mmlu_pro", first[1].id, "", ("a", "b"),
                                    ("Answer: C", "D")).cell_item_id)])
    assert len({c.key.fingerprint for c in cells}) == 3
    assert {c.key.benchmark for c in cells} == {"mmlu_pro@jisi"} and plan.total == 3
    assert len(plan.notes) >= 2  # the unknown item and the unknown model, said
