"""The collector's `Reporter` for an in-process run: progress becomes messages to the app.

The collector calls the reporter for every cell; the app only needs to hear a few times a second,
so results are counted here and a `Progress` message is posted at most every `interval_s`.
Provider limits are kept by reference: the live screen reads their current concurrency, requests
and 429 count when it draws.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual.message import Message

from avp_harness.types import CellResult

if TYPE_CHECKING:
    from avp_harness.gateway.limits import ProviderLimits


class Progress(Message):
    """Something changed in the running collection (cells written, a message, the end)."""

    def __init__(self, text: str | None = None, finished: Any = None) -> None:
        super().__init__()
        self.text = text
        self.finished = finished


class TuiReporter:
    """Implements `avp_harness.collect.reporter.Reporter` by posting `Progress` to `target`."""

    def __init__(self, target: Any, interval_s: float = 0.25) -> None:
        self.target = target
        self.interval_s = interval_s
        self.providers: dict[str, ProviderLimits] = {}
        self.results = 0
        self.planned = 0
        self.pending = 0
        self.run_id: int | None = None
        self._last = 0.0

    def start(self, plan: Any, pending: list[Any], run_id: int | None) -> None:
        self.planned, self.pending, self.run_id = plan.total, len(pending), run_id
        self.target.post_message(Progress(
            f"run {run_id}: {plan.total} cells planned, {plan.total - len(pending)} already "
            f"done, {len(pending)} to run"))

    def provider(self, limits: ProviderLimits) -> None:
        self.providers[limits.name] = limits

    def result(self, result: CellResult) -> None:
        self.results += 1
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self.target.post_message(Progress())

    def rate_limited(self, limits: ProviderLimits) -> None:
        self.providers[limits.name] = limits

    def message(self, text: str) -> None:
        self.target.post_message(Progress(text))

    def finish(self, summary: Any) -> None:
        self.target.post_message(Progress(f"run {summary.run_id} {summary.status}",
                                          finished=summary))
