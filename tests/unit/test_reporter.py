"""Progress reporters: plain lines for logs, rich bars per model on a terminal."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

import pytest
from rich.console import Console

from avp_harness.collect.reporter import PlainReporter, RichReporter
from avp_harness.collect.runner import RunSummary
from avp_harness.types import CellKey, CellResult, Completion, CostSource, Status, Usage


def _result(model: str, status: Status, cost: float | None) -> CellResult:
    completion = (Completion("x", Usage(1, 1), cost, CostSource.REPORTED, 0.1, "stop")
                  if status is Status.OK else None)
    now = time.time()
    return CellResult(CellKey(model, "arc_agi", "t1", 0, "fp"), "1", "c", "h", status, 1, now,
                      now, completion=completion)


def _plan(models: list[str]) -> SimpleNamespace:
    return SimpleNamespace(total=4, models=[SimpleNamespace(id=m) for m in models])


def _pending(models: list[str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(key=SimpleNamespace(model=m)) for m in models]


def test_plain_reporter_prints_progress_lines() -> None:
    out = io.StringIO()
    reporter = PlainReporter(stream=out, interval_s=0.0)
    reporter.start(_plan(["a", "b"]), _pending(["a", "b", "a"]), 7)  # type: ignore[arg-type]
    reporter.result(_result("a", Status.OK, 0.5))
    reporter.result(_result("b", Status.TIMEOUT, None))
    reporter.message("budget reached")
    lines = out.getvalue().splitlines()
    assert lines[0] == "avp: run 7: 4 cells planned, 1 already done, 3 to run"
    assert "2/3 cells" in lines[-2] and "$0.5000" in lines[-2] and "timeout 1" in lines[-2]
    assert lines[-1] == "avp: budget reached"


def test_plain_line_has_an_eta_and_the_spend_against_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    out = io.StringIO()
    reporter = PlainReporter(stream=out, interval_s=0.0, budget=2.0)
    reporter.start(_plan(["a"]), _pending(["a"] * 4) * 10, 3)  # type: ignore[arg-type]
    now[0] += 20.0  # 2 cells in 20 s: 38 left take 6m20s
    reporter.result(_result("a", Status.OK, 0.25))
    reporter.result(_result("a", Status.OK, 0.25))
    line = out.getvalue().splitlines()[-1]
    assert line == ("avp: 2/40 cells, 0.1/s, ETA 6m20s, $0.5000 of $2.00 budget (25%), "
                    "failed: none")
    for _ in range(38):
        reporter.result(_result("a", Status.OK, 0.0))
    assert ", done, " in out.getvalue().splitlines()[-1]


def test_rich_reporter_draws_a_bar_per_model_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    reporter = RichReporter(console=console, budget=1.0)
    reporter.start(_plan(["sim/a", "sim/b"]), _pending(["sim/a", "sim/b"]), 1)  # type: ignore[arg-type]
    reporter.result(_result("sim/a", Status.OK, 0.25))
    reporter.result(_result("sim/b", Status.ERROR, None))
    reporter.finish(RunSummary(1, "completed", 4, 2))
    text = out.getvalue()
    assert "sim/a" in text and "sim/b" in text
    assert "1/1" in text and "$0.2500" in text and "1 failed" in text
    assert "total" in text and "2/2" in text and "$0.2500 of $1.00 budget (25%)" in text
