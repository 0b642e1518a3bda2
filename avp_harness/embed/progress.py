"""Progress with ETA for long embeddings, on stderr: a rich bar on a terminal, plain lines
otherwise. Silent unless a front end asks for it (`reporting()`; the CLI does, the TUI does not),
and silent for embeddings that end within `after` seconds.

    with reporting():                                   # the CLI, around a command
        ...
    bar = progress(len(texts), "embedding (local)")     # a backend, per call
    bar.advance(32); ...; bar.close()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

_ENABLED: ContextVar[bool] = ContextVar("avp_embed_progress", default=False)
AFTER_SECONDS = 3.0
LINE_EVERY_SECONDS = 10.0


@contextmanager
def reporting(enabled: bool = True) -> Iterator[None]:
    """Show embedding progress (on stderr) inside this block."""
    token = _ENABLED.set(enabled)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def eta_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    """Counts done items; prints nothing until `after` seconds have passed."""

    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        after: float = AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
    ) -> None:
        self.total, self.label, self.after, self.clock = total, label, after, clock
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.started = clock()
        self.done = 0
        self._last_line = -1e18
        self._bar: Any = None
        self._task: Any = None

    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float:
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else float("inf")

    def advance(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if now - self.started < self.after or self.total <= 0:
            return
        if self.tty:
            self._rich().update(self._task, completed=self.done)
        elif now - self._last_line >= LINE_EVERY_SECONDS or self.done >= self.total:
            self._last_line = now
            self._line()

    def _line(self) -> None:
        eta = self.eta()
        print(
            f"{self.label}: {self.done}/{self.total} ({self.done / self.total:.0%}), "
            f"{self.rate():.0f}/s, ETA {eta_text(eta) if eta != float('inf') else '?'}",
            file=self.stream, flush=True,
        )

    def _rich(self) -> Any:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, completed=0)
        return self._bar

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            self._bar.stop()
            self._bar = None


class _Silent:
    def advance(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, label: str) -> Progress | _Silent:
    """A progress counter when reporting is on (see `reporting`), else a silent one."""
    return Progress(total, label) if _ENABLED.get() else _Silent()
