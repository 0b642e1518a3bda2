"""Per-provider limits: an adaptive concurrency bound and aiolimiter RPM / TPM limiters.

Concurrency follows AIMD: a rate-limit answer halves the bound (at most once per cool-down, so one
burst of 429s counts once); every success adds 1/bound, so it climbs back by about one slot per
bound's worth of successes. A `Retry-After` pauses the whole provider, not just the one call.

Timeouts feed the same bound. A server that generates one request at a time (llama-cpp-python, a
one-slot llama.cpp server) queues what it cannot serve, so with N in flight a request waits about
N generations; past the client timeout every queued request times out, and the server still
generates each one (a wasted generation). So the first timeout of a wave (a timeout of a request
sent after the last cut; the others were already queued) cuts the bound to at most half of what
fits in the timeout (`timeout / (2 x generation time)`, the generation time being the server's
own timing when it reports one, else the fastest answer seen), and pauses the provider until the
server has drained what is queued (the requests in flight x the generation time). After a
timeout the bound climbs again only on answers faster than half the timeout.
"""

from __future__ import annotations

import asyncio
import math
import time
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
    cooldown_s: float = 1.0
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
    first_timeout_at: float | None = field(init=False, default=None)  # time.monotonic()
    late_timeouts: int = field(init=False, default=0)  # of calls sent after the first timeout
    _last_cut: float = field(init=False, default=0.0)
    _last_timeout_cut: float = field(init=False, default=-math.inf)
    _fastest_s: float | None = field(init=False, default=None)  # fastest answer (request latency)
    _server_s: float | None = field(init=False, default=None)  # mean server timing, when reported
    _server_n: int = field(init=False, default=0)
    _cond: asyncio.Condition = field(init=False)
    _rpm: AsyncLimiter | None = field(init=False, default=None)
    _tpm: AsyncLimiter | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.limit = float(self.max_concurrency)
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
            while (pause := self.paused_until - time.monotonic()) > 0:  # a pause may grow
                await asyncio.sleep(pause)
            if self._rpm is not None:
                await self._rpm.acquire()
            if self._tpm is not None and tokens:
                await self._tpm.acquire(min(tokens, int(self._tpm.max_rate)))
        except BaseException:
            await self.release()
            raise
        self.requests += 1

    async def release(self) -> None:
        async with self._cond:
            self.active -= 1
            self._cond.notify_all()

    def on_success(self, latency_s: float | None = None, server_s: float | None = None) -> None:
        """An answer: climb back towards the bound; remember how long generations take."""
        self.on_answer()
        if latency_s is not None:
            self._fastest_s = latency_s if self._fastest_s is None else min(self._fastest_s,
                                                                            latency_s)
        if server_s is not None:
            self._server_n += 1
            self._server_s = (self._server_s or 0.0) + (server_s - (self._server_s or 0.0)) / (
                self._server_n)
        slow = (self.timeouts and self.timeout_s is not None and latency_s is not None
                and latency_s > self.timeout_s / 2)
        if self.limit < self.max_concurrency and not slow:
            self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)

    def on_failure(self, decision: RetryDecision, sent_at: float, attempt: int) -> str | None:
        """A failed call, as the provider layer classified it: connection failures may declare
        the provider down, timeouts feed the bound. Returns a line to report, if any."""
        if decision.kind != "connection":
            self.on_answer()
        elif self.on_connection_failure(attempt):
            return (f"{self.down_message()}: {self.connection_failures} calls in a row had no "
                    f"answer ({decision.message}); its cells are stopped, the other providers "
                    "carry on")
        if decision.status is Status.TIMEOUT and self.on_timeout(sent_at):
            pause = max(0.0, self.paused_until - time.monotonic())
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
        them a retry after back-off (so a server restarting under many calls in flight is not)."""
        self.connection_failures += 1
        self._retry_in_streak |= attempt > 1
        if self.dead or self.connection_failures < self.dead_after or not self._retry_in_streak:
            return False
        self.dead = True
        return True

    def generation_s(self) -> float | None:
        """How long one generation takes: the server's own timing, else the fastest answer."""
        return self._server_s if self._server_s is not None else self._fastest_s

    def on_timeout(self, sent_at: float) -> bool:
        """A call sent at `sent_at` (time.monotonic()) timed out client-side.

        Only the first timeout of a wave cuts the bound and pauses the provider: a request sent
        before the last cut was already queued when it was made (see the module docstring)."""
        self.timeouts += 1
        now = time.monotonic()
        if self.first_timeout_at is None:
            self.first_timeout_at = now
        elif sent_at > self.first_timeout_at:
            self.late_timeouts += 1  # sent after the bound adapted: it did not adapt enough
        if sent_at < self._last_timeout_cut:
            return False
        self._last_timeout_cut = self._last_cut = now
        generation = self.generation_s()
        cut = self.limit / 2.0
        if generation and self.timeout_s:
            cut = min(cut, math.floor(self.timeout_s / (2.0 * generation)))
        self.limit = max(float(self.min_concurrency), cut)
        # what is queued at the server (every call in flight, this one included) drains first
        drain = self.active * generation * 1.5 if generation else (self.timeout_s or 0.0)
        self.paused_until = max(self.paused_until, now + drain)
        return True

    def on_rate_limit(self, retry_after: float | None) -> None:
        """Cut concurrency multiplicatively and honour Retry-After for the whole provider."""
        self.rate_limit_hits += 1
        now = time.monotonic()
        if now - self._last_cut >= self.cooldown_s:
            self.limit = max(float(self.min_concurrency), self.limit / 2.0)
            self._last_cut = now
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)
