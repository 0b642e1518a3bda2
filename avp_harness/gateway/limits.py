"""Per-provider limits: an adaptive concurrency bound and aiolimiter RPM / TPM limiters.

Concurrency follows AIMD, as a good client of a rate-limited API does: it backs off
multiplicatively on a burst of rate-limit answers and grows back additively on successes. A burst
is several 429s close together relative to the request rate: `burst_size` of the last
`burst_window` answers (20%). A steady small share of random 429s (a shared gateway's noise, 3%)
almost never makes one, so it costs only the retries of the calls it hit, not the bound; a real
limit (a server that can take 8 of 16 calls answers about half of them 429) makes one within a
few answers. A burst halves the bound and pauses the whole provider for its Retry-After; the
answers of calls already in flight when it was cut are not counted towards the next burst (they
were sent under the old bound). An isolated 429 pauses only its own call (its retry waits the
Retry-After). Every success adds 1/bound, so the bound climbs back by about one slot per bound's
worth of successes.

Timeouts feed the same bound. A server that generates one request at a time (llama-cpp-python, a
one-slot llama.cpp server) queues what it cannot serve, so with N in flight a request waits about
N generations; past the client timeout every queued request times out, and the server still
generates each one (a wasted generation). So the first timeout of a wave (a timeout of a request
sent after the last cut; the others were already queued) cuts the bound to at most what the server
can answer in half the timeout (Little's law: throughput x timeout / 2, the throughput being the
answers of the last `window_s`), and pauses the provider while the server drains what is queued
(the calls in flight / the throughput). This holds for a batching server too: its throughput is
high, so its bound is only halved and its pause is short. After a timeout the bound climbs again
only on answers faster than half the timeout.

Time comes from `clock` (time.monotonic; tests inject their own).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

from avp_harness.types import RetryDecision, Status


def rate_limiter(per_minute: int) -> AsyncLimiter:
    """A limiter allowing `per_minute` acquisitions a minute without a minute-long burst."""
    period = max(1.0, 60.0 / per_minute)
    return AsyncLimiter(per_minute * period / 60.0, period)


@dataclass
class ProviderLimits:
    """Everything that paces calls to one connection key."""

    name: str
    max_concurrency: int
    rpm: int | None = None
    tpm: int | None = None
    min_concurrency: int = 1
    burst_size: int = 4  # this many 429s among the last `burst_window` answers are a burst
    burst_window: int = 20
    timeout_s: float | None = None  # the client timeout of one call
    base_url: str = ""  # named when the provider is down
    limit: float = field(init=False)
    active: int = field(init=False, default=0)
    rate_limit_hits: int = field(init=False, default=0)
    requests: int = field(init=False, default=0)
    paused_until: float = field(init=False, default=0.0)
    timeouts: int = field(init=False, default=0)  # calls given up client-side (likely generated)
    dead_after: int = 5  # consecutive connection failures, one of them a retry, mean "down"
    connection_failures: int = field(init=False, default=0)  # in a row, without any answer
    dead: bool = field(init=False, default=False)  # down: its cells are no longer requested
    _retry_in_streak: bool = field(init=False, default=False)
    first_timeout_at: float | None = field(init=False, default=None)  # clock() time
    late_timeouts: int = field(init=False, default=0)  # of calls sent after the first timeout
    _recent: deque[bool] = field(init=False)  # the last answers: True for a 429
    _stale: int = field(init=False, default=0)  # answers still due from before the last cut
    _last_timeout_cut: float = field(init=False, default=-math.inf)
    window_s: float = 60.0  # the throughput is measured over this many recent seconds
    _answers: deque[float] = field(init=False, default_factory=deque)  # when answers came
    _first_request: float | None = field(init=False, default=None)
    _cond: asyncio.Condition = field(init=False)
    _rpm: AsyncLimiter | None = field(init=False, default=None)
    _tpm: AsyncLimiter | None = field(init=False, default=None)

    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.limit = float(self.max_concurrency)
        self._recent = deque(maxlen=self.burst_window)
        self._cond = asyncio.Condition()
        if self.rpm:
            self._rpm = rate_limiter(self.rpm)
        if self.tpm:
            self._tpm = AsyncLimiter(self.tpm, 60.0)

    @property
    def concurrency(self) -> int:
        return max(self.min_concurrency, int(self.limit))

    async def acquire(self, tokens: int = 0) -> None:
        """Wait for a concurrency slot, any Retry-After pause, and the rate limiters."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.active < self.concurrency)
            self.active += 1
        try:
            while (pause := self.paused_until - self.clock()) > 0:  # a pause may grow
                await asyncio.sleep(pause)
            if self._rpm is not None:
                await self._rpm.acquire()
            if self._tpm is not None and tokens:
                await self._tpm.acquire(min(tokens, int(self._tpm.max_rate)))
        except BaseException:
            await self.release()
            raise
        self.requests += 1
        if self._first_request is None:
            self._first_request = self.clock()

    async def release(self) -> None:
        async with self._cond:
            self.active -= 1
            self._cond.notify_all()

    def on_success(self, latency_s: float | None = None) -> None:
        """An answer: climb back towards the bound (after a timeout, only on answers faster than
        half the timeout); count it for the throughput."""
        self.on_answer()
        self._record(False)
        now = self.clock()
        self._answers.append(now)
        while self._answers and self._answers[0] < now - self.window_s:
            self._answers.popleft()
        slow = (self.timeouts and self.timeout_s is not None and latency_s is not None
                and latency_s > self.timeout_s / 2)
        if self.limit < self.max_concurrency and not slow:
            self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)

    def on_failure(self, decision: RetryDecision, sent_at: float, attempt: int) -> str | None:
        """A failed call, as the provider layer classified it: connection failures may declare
        the provider down, timeouts feed the bound. Returns a line to report, if any."""
        if decision.kind != "connection":
            self.on_answer()
            if decision.kind != "rate_limit":  # counted by on_rate_limit
                self._record(False)
        elif self.on_connection_failure(attempt):
            return (f"{self.down_message()}: {self.connection_failures} calls in a row had no "
                    f"answer ({decision.message}); its cells are stopped, the other providers "
                    "carry on")
        if decision.status is Status.TIMEOUT and self.on_timeout(sent_at):
            pause = max(0.0, self.paused_until - self.clock())
            return (f"{self.name}: a request timed out after {self.timeout_s:g}s: concurrency "
                    f"now {self.concurrency}, pausing {pause:.1f}s while the server drains its "
                    "queue")
        return None

    def down_message(self) -> str:
        return f"provider {self.name} is down ({self.base_url} unreachable)"

    def on_answer(self) -> None:
        """The server answered over HTTP (any status): it is up."""
        self.connection_failures = 0
        self._retry_in_streak = False

    def on_connection_failure(self, attempt: int) -> bool:
        """No HTTP answer (refused, reset, DNS) on the `attempt`-th try of a call. Returns True
        once, when the provider is declared down: `dead_after` failures in a row, at least one of
        them a retry after back-off or more than could have been in flight at once (so a server
        restarting under many calls in flight is not)."""
        self.connection_failures += 1
        self._retry_in_streak |= attempt > 1
        later = self._retry_in_streak or self.connection_failures > self.max_concurrency
        if self.dead or self.connection_failures < self.dead_after or not later:
            return False
        self.dead = True
        return True

    def throughput(self, now: float) -> float | None:
        """Answers a second over the last `window_s` (since the first request, if later)."""
        recent = sum(1 for t in self._answers if t >= now - self.window_s)
        if not recent or self._first_request is None:
            return None
        return recent / max(min(self.window_s, now - self._first_request), 1e-3)

    def on_timeout(self, sent_at: float) -> bool:
        """A call sent at `sent_at` (clock() time) timed out client-side.

        Only the first timeout of a wave cuts the bound and pauses the provider: a request sent
        before the last cut was already queued when it was made (see the module docstring)."""
        self.timeouts += 1
        now = self.clock()
        if self.first_timeout_at is None:
            self.first_timeout_at = now
        elif sent_at > self.first_timeout_at:
            self.late_timeouts += 1  # sent after the bound adapted: it did not adapt enough
        if sent_at < self._last_timeout_cut:
            return False
        self._last_timeout_cut = now
        rate = self.throughput(now)
        cut = self.limit / 2.0
        if rate and self.timeout_s:  # Little's law: in flight = throughput x latency
            cut = min(cut, math.floor(rate * self.timeout_s / 2.0))
        self.limit = max(float(self.min_concurrency), cut)
        # what is queued at the server (every call in flight, this one included) drains first
        drain = self.active / rate * 2.0 if rate else (self.timeout_s or 0.0)
        self.paused_until = max(self.paused_until, now + drain)
        return True

    def _record(self, rate_limited: bool) -> None:
        """An answer, for burst detection (the answers of calls sent before the last cut are
        not counted)."""
        if self._stale > 0:
            self._stale -= 1
            return
        self._recent.append(rate_limited)

    def on_rate_limit(self, retry_after: float | None) -> None:
        """A 429: on a burst (see the module docstring), halve the bound and honour Retry-After
        for the whole provider; an isolated one only counts (its own retry waits)."""
        self.rate_limit_hits += 1
        self._record(True)
        if sum(self._recent) < self.burst_size:
            return
        self.limit = max(float(self.min_concurrency), self.limit / 2.0)
        self._recent.clear()
        self._stale = max(self.active - 1, 0)  # the calls in flight besides this one
        if retry_after:
            self.paused_until = max(self.paused_until, self.clock() + retry_after)
