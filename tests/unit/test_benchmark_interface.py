"""Every registered benchmark answers the interface's questions itself (judge, metrics, data,
options), so no CLI or report code needs to know a benchmark by name."""

from __future__ import annotations

import pytest

import benchmarks
from avp_harness.app.report import metrics_of
from avp_harness.cli.grading_cmds import _print_report
from avp_harness.types import Grade


@pytest.mark.parametrize("name", benchmarks.names())
def test_every_benchmark_declares_its_facts(name: str) -> None:
    bench = benchmarks.get(name)
    assert isinstance(bench.needs_judge, bool)
    assert isinstance(bench.data_status(), benchmarks.DataStatus)
    assert bench.with_options({}).name == bench.name
    with pytest.raises(benchmarks.OptionError) as info:
        bench.with_options({"no_such_option": 1})
    assert info.value.option == "no_such_option"
    empty = bench.metrics([])
    assert isinstance(empty, dict) and empty
    assert set(bench.metric_labels) <= set(empty)


def test_judged_benchmarks_are_the_ones_whose_grader_needs_a_judge() -> None:
    judged = {name for name in benchmarks.names() if benchmarks.get(name).needs_judge}
    assert judged == {"simpleqa", "hle", "healthbench", "healthbench_hard",
                      "healthbench_consensus"}


def test_report_prints_any_benchmark_by_its_declared_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    grades = [Grade(1.0, "CORRECT", "", "simpleqa_judge", "2"),
              Grade(0.0, "INCORRECT", "", "simpleqa_judge", "2")]
    row = {"n": 2, "dollars": 0.5, "judge_dollars": 0.1, "judge_tokens": 9, "planned": 2,
           "truncated": 0} | metrics_of("simpleqa")(grades)
    _print_report("simpleqa", {"m": row})
    out = capsys.readouterr().out
    assert "accuracy given attempted" in out and "F-score" in out and "50.0%" in out
    assert metrics_of("arc-challenge")(grades) == {"accuracy": 0.5, "unparsed": 0}
