"""The pure parts of serving ensembles: the vote's choice (the offline code's), the generic
answer rule, how a request names its benchmark, the decided message as stream chunks, the
summed dollars of a request's calls."""

from __future__ import annotations

import pytest

from avp_harness.app.voting import answer_reader
from avp_harness.routing import ensemble
from avp_harness.serve.ensemble import (
    Call,
    EnsembleRequestError,
    Tally,
    generic_answer,
    message_chunks,
    requested_benchmark,
)
from avp_harness.types import Completion, CostSource, Usage


def test_choose_reads_the_rules_as_written() -> None:
    # Self-Consistency: the first-seen group on ties, its first sample
    assert ensemble.choose("self_consistency", [["B", "A", "A", "B"]]) == (0, 0, 2)
    # Model-Switch: model 1 kept at a share >= 0.8, else the vote over all 2s answers
    assert ensemble.choose("model_switch", [["A"] * 4 + ["B"], ["C"] * 5]) == (0, 0, 4)
    assert ensemble.choose("model_switch", [["A", "A", "B", "B", "D"],
                                            ["C", "C", "C", "B", "B"]]) == (0, 2, 4)
    assert ensemble.choose("model_switch", [["A", "B", None], ["C", "C", "C"]]) == (1, 0, 3)
    # the ablation: model 2 iff model 1's share < 1 and model 2's is higher
    assert ensemble.choose("model_switch_ablation", [["A", "A", "B"], ["C"] * 3]) == (1, 0, 3)
    assert ensemble.choose("model_switch_ablation", [["A", "A", "B"], ["C", "C", "D"]]) == (
        0, 0, 2)
    with pytest.raises(Exception, match="does not vote"):
        ensemble.choose("direct", [["A"]])


def test_the_generic_rule() -> None:
    assert generic_answer({"content": "  The answer\n\n is   42. "}) == "The answer is 42."
    assert generic_answer({"content": " \n"}) is None and generic_answer({}) is None
    calls = [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert generic_answer({"content": None, "tool_calls": calls}) == '[["f", "{}"]]'


def test_a_benchmarks_extractor_votes_and_others_have_none() -> None:
    grader, read = answer_reader("math500")
    assert grader == "math" and read is not None and read("so \\boxed{\\frac12}.") == "\\frac12"
    grader, read = answer_reader("mmlu_pro")
    assert grader == "choice" and read is not None and read("The answer is (C).") == "C"
    assert answer_reader("simpleqa")[1] is None  # judged: no extraction without the judge
    with pytest.raises(KeyError):
        answer_reader("no-such-benchmark")


def test_the_benchmark_a_request_names() -> None:
    assert requested_benchmark({"avp": {"benchmark": "math500"}}, {}) == "math500"
    assert requested_benchmark({}, {"x-avp-benchmark": "mmlu_pro"}) == "mmlu_pro"
    assert requested_benchmark({}, {}) is None
    for bad in ({"avp": "math500"}, {"avp": {"benchmark": 3}}):
        with pytest.raises(EnsembleRequestError):
            requested_benchmark(bad, {})


def test_the_decided_message_as_chunks() -> None:
    reply = {"id": "up-1", "created": 5, "model": "m", "system_fingerprint": "fp",
             "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                 "role": "assistant", "content": "hi",
                 "tool_calls": [{"id": "c", "type": "function",
                                 "function": {"name": "f", "arguments": "{}"}}]}}],
             "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
             "avp": {"calls": 3}}
    chunks = message_chunks(reply, include_usage=True)
    assert all(c["id"] == "up-1" and c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["avp"] == {"calls": 3}
    assert chunks[1]["choices"][0]["delta"] == {"content": "hi"}
    assert chunks[2]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert chunks[3]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["total_tokens"] == 3
    assert len(message_chunks(reply, include_usage=False)) == 4


def done(cost: float | None, source: CostSource, tokens: int) -> Call:
    completion = Completion("x", Usage(prompt_tokens=tokens, completion_tokens=tokens), cost,
                            source, 0.0, "stop")
    return Call("m", "sample", 0, completion)


def test_a_requests_dollars_are_every_calls() -> None:
    tally = Tally([done(0.25, CostSource.PRICE_TABLE, 2), done(0.5, CostSource.PRICE_TABLE, 3),
                   Call("m", "sample", 2)])  # a failed call: counted, no dollars
    assert tally.calls == 3 and tally.cost == 0.75 and tally.cost_source == "price_table"
    assert tally.usage.prompt_tokens == 5 and tally.usage.completion_tokens == 5
    tally.done.append(done(None, CostSource.UNKNOWN, 1))
    assert tally.cost == 0.75 and tally.cost_source == "unknown"  # a lower bound, said so
    assert Tally().cost is None


def test_a_math_vote_runs_in_the_math_pool_grouped_by_equivalence() -> None:
    """Served math votes run in the grader's process pool (math-verify's timeouts need a main
    thread): the same choice as grouping by `math_equal` here, which string equality misses."""
    import asyncio

    from avp_harness.app.voting import choose_math, same_for
    from graders.math import in_pool

    answers = [["0.5", "2", "\\frac{1}{2}", "\\dfrac{1}{2}", "2"]]
    expected = ensemble.choose("self_consistency", answers, same_for("math"))
    assert expected == (0, 0, 3)  # 0.5 = 1/2 three times
    assert ensemble.choose("self_consistency", answers)[2] == 2  # as strings: "2" twice
    assert asyncio.run(in_pool(choose_math, "self_consistency", answers)) == expected
