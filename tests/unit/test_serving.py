"""The serving use cases: the text a router reads, model names, α from a target."""

from __future__ import annotations

import numpy as np
import pytest

from avp_harness.app.serving import (
    ModelName,
    choose_alpha,
    describe_choice,
    parse_model_name,
    routing_text,
    served_report,
)
from avp_harness.errors import RouterError
from avp_harness.routing.sweep import SweepResult
from avp_harness.store.served import ServedBucket


def test_routing_text_is_the_last_user_message() -> None:
    assert routing_text([{"role": "user", "content": "first"},
                         {"role": "assistant", "content": "reply"},
                         {"role": "user", "content": "second"},
                         {"role": "tool", "content": "result"}]) == "second"
    parts = [{"type": "text", "text": "a "}, {"type": "image_url", "image_url": {}},
             {"type": "text", "text": "b"}]
    assert routing_text([{"role": "user", "content": parts}]) == "a b"
    assert routing_text([{"role": "system", "content": "only a system prompt"}]) is None
    assert routing_text("not a list") is None


def test_model_names() -> None:
    assert parse_model_name("avp/main", "main") == ModelName("main", None, None)
    named = parse_model_name("avp/main@0.25", "main")
    assert named is not None and named.router == "main" and named.alpha == 0.25
    assert parse_model_name("avp/other", "main") is None
    passed = parse_model_name("openai/gpt-5", "main")
    assert passed is not None and passed.model == "openai/gpt-5" and passed.router is None
    for bad in ("avp/main@", "avp/main@x", "avp/main@1.5", "avp/main@nan", "avp/main@-0.1"):
        with pytest.raises(RouterError, match="alpha"):
            parse_model_name(bad, "main")


def sweep(accuracy: list[float], cost: list[float]) -> SweepResult:
    alphas = np.linspace(0, 1, len(accuracy))
    return SweepResult(
        seed=0, models=("cheap", "best"), alphas=alphas, accuracy=np.array(accuracy),
        cost=np.array(cost), usage=np.zeros((len(accuracy), 2)),
        single={"cheap": (0.5, 1.0), "best": (0.8, 10.0)}, baselines={}, n_train=70,
        n_test=30, n_test_dropped=0,
    )


def test_target_accuracy_is_the_cheapest_alpha_keeping_the_share() -> None:
    r = sweep([0.5, 0.7, 0.77, 0.76, 0.8], [1.0, 3.0, 6.0, 5.0, 10.0])
    choice = choose_alpha(r, target_accuracy=0.95)  # 0.76 >= 0.95 x 0.8 at $5, 0.77 at $6
    assert choice.alpha == 0.75 and choice.best_model == "best"
    assert choose_alpha(r, target_accuracy=1.0).alpha == 1.0
    assert choose_alpha(r, target_accuracy=0.5).alpha == 0.0
    assert "95% of the best model's" in describe_choice(choice, r.n_test)
    with pytest.raises(RouterError, match="reaches 0.7"):
        choose_alpha(sweep([0.5, 0.7], [1.0, 2.0]), target_accuracy=1.0)
    for bad in (0.0, -1.0, 1.5, float("nan")):
        with pytest.raises(RouterError, match="--target-accuracy"):
            choose_alpha(r, target_accuracy=bad)


def test_target_cost_is_the_most_accurate_alpha_within_the_share() -> None:
    r = sweep([0.5, 0.7, 0.77, 0.76, 0.8], [1.0, 3.0, 6.0, 5.0, 10.0])
    assert choose_alpha(r, target_cost=0.55).alpha == 0.75  # 0.76 at $5 <= $5.5
    assert choose_alpha(r, target_cost=0.6).alpha == 0.5  # 0.77 at $6
    assert choose_alpha(r, target_cost=2.0).alpha == 1.0
    with pytest.raises(RouterError, match="cheapest alpha costs"):
        choose_alpha(r, target_cost=0.01)
    with pytest.raises(RouterError, match="one of"):
        choose_alpha(r)
    with pytest.raises(RouterError, match="one of"):
        choose_alpha(r, target_cost=0.5, target_accuracy=0.9)


def test_served_report_totals_the_buckets() -> None:
    buckets = [ServedBucket(0.0, 3, 1, 0.5, 0, 10, 20, {"a": 1, "b": 1}, {"main": 3}),
               ServedBucket(3600.0, 2, 0, 0.25, 1, 5, 5, {"a": 2}, {"": 2})]
    report = served_report(buckets)
    assert report["total"] == {"requests": 5, "failed": 1, "dollars": 0.75, "unpriced": 1,
                               "prompt_tokens": 15, "completion_tokens": 25, "calls": 0,
                               "models": {"a": 3, "b": 1}}
    assert [b["start"] for b in report["buckets"]] == [0.0, 3600.0]
