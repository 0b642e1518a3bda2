"""Each benchmark's official metrics from the stored grades (`avp report`, its HTML page), with
what the figures leave out and why. Any benchmark is reported the same way: its own `metrics`."""

from __future__ import annotations

from typing import Any

from avp_harness.store import Store


def metrics_of(benchmark: str) -> Any:
    """The benchmark's `metrics(grades)`; for a name avp does not know (imported records), the
    default accuracy figures."""
    import benchmarks

    if benchmark not in benchmarks.REGISTRY:
        return benchmarks.accuracy_metrics
    return benchmarks.get(benchmark).metrics


def benchmark_report(store: Store, benchmark: str) -> dict[str, dict[str, Any]]:
    """model -> the benchmark's official metrics from its stored grades."""
    from avp_harness.store.grades import benchmark_grades

    metrics = metrics_of(benchmark)
    report: dict[str, dict[str, Any]] = {}
    for entry in benchmark_grades(store, benchmark):
        grades = entry.grades
        report[entry.model] = {
            "n": len(grades),
            "dollars": entry.dollars,
            "judge_dollars": entry.judge_dollars,
            "judge_tokens": entry.judge_tokens,
        } | ({"user_dollars": entry.user_dollars} if entry.user_dollars else {}) | metrics(grades)
    _add_coverage(store, benchmark, report)
    return report


def _add_coverage(store: Store, benchmark: str, report: dict[str, dict[str, Any]]) -> None:
    """Per model: planned items, truncated answers, and what the figures leave out and why."""
    for m in store.matrix():
        if m.benchmark != benchmark:
            continue
        row = report.setdefault(m.model, {"n": 0, "dollars": m.dollars, "judge_dollars": 0.0,
                                          "judge_tokens": 0})
        n = row["n"]
        finished = m.done + m.errors
        left_out = {
            "context_exceeded": m.context_exceeded,
            "failed": m.errors,
            "ungraded": max(0, m.done - m.context_exceeded - n),
            "not_yet_run": max(0, (m.planned or finished) - finished),
        }
        row |= {"planned": m.planned, "truncated": m.truncated,
                "left_out": {k: v for k, v in left_out.items() if v}}
