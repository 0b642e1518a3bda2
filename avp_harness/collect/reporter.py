"""Progress reporting: the collector talks to a `Reporter`; front ends choose one.

- `PlainReporter`: a line every few seconds (logs, CI, pipes).
- `RichReporter`: one progress bar per model on a terminal.
- The TUI supplies its own reporter that posts messages to the app.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Protocol, TextIO

from avp_harness.types import CellResult, Status

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from avp_harness.collect.plan import Plan, PlannedCell
    from avp_harness.collect.summary import RunSummary
    from avp_harness.gateway.limits import ProviderLimits


class Reporter(Protocol):
    def start(self, plan: Plan, pending: list[PlannedCell], run_id: int | None) -> None: ...
    def provider(self, limits: ProviderLimits) -> None: ...
    def result(self, result: CellResult) -> None: ...
    def rate_limited(self, limits: ProviderLimits) -> None: ...
    def message(self, text: str) -> None: ...
    def finish(self, summary: RunSummary) -> None: ...


class NullReporter:
    def start(self, plan: Plan, pending: list[PlannedCell], run_id: int | None) -> None:
        pass

    def provider(self, limits: ProviderLimits) -> None:
        pass

    def result(self, result: CellResult) -> None:
        pass

    def rate_limited(self, limits: ProviderLimits) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def finish(self, summary: RunSummary) -> None:
        pass


class _Counting(NullReporter):
    """Shared bookkeeping: totals, successes, failures, dollars."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.failed: Counter[str] = Counter()
        self.truncated = 0  # answers cut at max_tokens (graded)
        self.context_exceeded = 0  # prompts longer than the context window (final)
        self.dollars = 0.0
        self.started = time.monotonic()

    def start(self, plan: Plan, pending: list[PlannedCell], run_id: int | None) -> None:
        self.total = len(pending)
        self.started = time.monotonic()

    def result(self, result: CellResult) -> None:
        self.done += 1
        if result.status not in (Status.OK, Status.CONTEXT_EXCEEDED):  # both final, not failed
            self.failed[result.status.value] += 1
        elif result.status is Status.CONTEXT_EXCEEDED:
            self.context_exceeded += 1
        elif result.completion is not None and result.completion.finish_reason == "length":
            self.truncated += 1
        if result.completion and result.completion.cost:
            self.dollars += result.completion.cost

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        failed = ", ".join(f"{k} {v}" for k, v in sorted(self.failed.items())) or "none"
        extra = "".join(
            f", {label} {n}" for label, n in (("truncated", self.truncated),
                                              ("context exceeded", self.context_exceeded)) if n
        )
        return (
            f"{self.done}/{self.total} cells, {self.done / elapsed:.1f}/s, "
            f"${self.dollars:.4f}, failed: {failed}{extra}"
        )


class PlainReporter(_Counting):
    """Plain progress lines on stderr, at most one every `interval_s` seconds."""

    def __init__(self, stream: TextIO | None = None, interval_s: float = 5.0) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self._last = 0.0

    def start(self, plan: Plan, pending: list[PlannedCell], run_id: int | None) -> None:
        super().start(plan, pending, run_id)
        already = plan.total - len(pending)
        self._print(
            f"run {run_id}: {plan.total} cells planned, {already} already done, "
            f"{len(pending)} to run"
        )

    def result(self, result: CellResult) -> None:
        super().result(result)
        now = time.monotonic()
        if now - self._last >= self.interval_s or self.done == self.total:
            self._last = now
            self._print(self.line())

    def rate_limited(self, limits: ProviderLimits) -> None:
        if limits.rate_limit_hits in (1, 10, 100, 1000):
            self._print(
                f"{limits.name}: rate limited ({limits.rate_limit_hits} so far), "
                f"concurrency now {limits.concurrency}"
            )

    def message(self, text: str) -> None:
        self._print(text)

    def _print(self, text: str) -> None:
        print(f"avp: {text}", file=self.stream, flush=True)


class RichReporter(_Counting):
    """One progress bar per model, plus a line per provider event, on a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=self.console,
            refresh_per_second=4,
        )
        self._tasks: dict[str, TaskID] = {}
        self._model_failed: Counter[str] = Counter()
        self._model_dollars: defaultdict[str, float] = defaultdict(float)

    def start(self, plan: Plan, pending: list[PlannedCell], run_id: int | None) -> None:
        super().start(plan, pending, run_id)
        per_model = Counter(cell.key.model for cell in pending)
        self.console.print(
            f"run {run_id}: {plan.total} cells planned, {plan.total - len(pending)} already done, "
            f"{len(pending)} to run"
        )
        for model in plan.models:
            self._tasks[model.id] = self.progress.add_task(
                model.id, total=per_model.get(model.id, 0), status=""
            )
        self.progress.start()

    def result(self, result: CellResult) -> None:
        super().result(result)
        model = result.key.model
        if result.status not in (Status.OK, Status.CONTEXT_EXCEEDED):
            self._model_failed[model] += 1
        if result.completion and result.completion.cost:
            self._model_dollars[model] += result.completion.cost
        status = f"${self._model_dollars[model]:.4f}"
        if self._model_failed[model]:
            status += f" [red]{self._model_failed[model]} failed[/red]"
        self.progress.update(self._tasks[model], advance=1, status=status)

    def rate_limited(self, limits: ProviderLimits) -> None:
        if limits.rate_limit_hits in (1, 10, 100, 1000):
            self.progress.console.print(
                f"[yellow]{limits.name}: rate limited ({limits.rate_limit_hits}), "
                f"concurrency {limits.concurrency}[/yellow]"
            )

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    def finish(self, summary: RunSummary) -> None:
        self.progress.stop()
