"""Per-provider limits: AIMD concurrency, Retry-After pauses, RPM limiter shape."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from avp_harness.gateway.limits import ProviderLimits, rate_limiter


class Clock:
    """An injected clock: time moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_429s_halves_the_bound_and_pauses_the_provider() -> None:
    clock = Clock()
    limits = ProviderLimits("p", max_concurrency=16, clock=clock)
    for _ in range(10):
        limits.on_success()
    for _ in range(3):  # fewer than burst_size: counted, no cut, no provider-wide pause
        limits.on_rate_limit(2.0)
    assert limits.concurrency == 16 and limits.paused_until == 0.0
    limits.active = 1
    limits.on_rate_limit(2.0)  # the 4th of the last 20 answers: a burst
    assert limits.concurrency == 8 and limits.rate_limit_hits == 4
    assert limits.paused_until == clock.now + 2.0
    for _ in range(9):  # additive growth: about one slot per `limit` successes
        limits.on_success()
    assert limits.concurrency == 9
    for _ in range(1000):
        limits.on_success()
    assert limits.concurrency == 16  # never above the configured bound


def test_answers_of_calls_sent_before_a_cut_do_not_make_another_burst() -> None:
    limits = ProviderLimits("p", max_concurrency=16, clock=Clock())
    limits.active = 16  # a full bound when the burst is seen
    for _ in range(4):
        limits.on_rate_limit(None)
    assert limits.concurrency == 8
    for _ in range(15):  # the other 15 calls in flight were sent under the old bound
        limits.on_rate_limit(None)
    assert limits.concurrency == 8
    limits.active = 8
    for _ in range(4):  # sent under the new bound and still rate-limited: cut again
        limits.on_rate_limit(None)
    assert limits.concurrency == 4


def test_a_steady_small_share_of_random_429s_keeps_the_bound_up() -> None:
    """3% of answers 429 at random (the simulator's --fault 429=0.03) used to hold the bound at
    2-3 of 16; bursts are rare at that rate, and the bound grows back between them."""
    rng, clock = random.Random(7), Clock()
    limits = ProviderLimits("p", max_concurrency=16, clock=clock)
    seen, paused = [], 0
    for _ in range(20_000):  # about 60 answers a second
        clock.now += 1 / 60
        limits.active = limits.concurrency
        if rng.random() < 0.03:
            before = limits.paused_until
            limits.on_rate_limit(1.0)
            paused += limits.paused_until != before
        else:
            limits.on_success()
        seen.append(limits.concurrency)
    assert limits.rate_limit_hits > 500
    assert sum(seen) / len(seen) >= 15.0 and min(seen) >= 4, (sum(seen) / len(seen), min(seen))
    assert paused <= 20  # the provider paused for a handful of bursts, not for each 429


def test_a_real_limit_keeps_the_bound_down() -> None:
    """A server that takes half the calls answers the rest 429: the bound falls and stays low
    while it keeps doing so."""
    limits = ProviderLimits("p", max_concurrency=16, clock=Clock())
    for _ in range(200):
        limits.active = limits.concurrency
        limits.on_rate_limit(None)
        limits.on_success()
    assert limits.concurrency <= 2


async def test_concurrency_bound_is_enforced() -> None:
    limits = ProviderLimits("p", max_concurrency=2)
    active = peak = 0

    async def call() -> None:
        nonlocal active, peak
        await limits.acquire()
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        await limits.release()

    await asyncio.gather(*(call() for _ in range(10)))
    assert peak == 2 and limits.requests == 10 and limits.active == 0


async def test_retry_after_of_a_burst_pauses_the_whole_provider() -> None:
    limits = ProviderLimits("p", max_concurrency=4)
    for _ in range(4):
        limits.on_rate_limit(0.3)
    started = time.monotonic()
    await limits.acquire()
    await limits.release()
    assert time.monotonic() - started >= 0.25


def test_rpm_limiter_has_no_minute_long_burst() -> None:
    fast = rate_limiter(6000)  # 100 a second, a bucket of one second's worth
    assert (fast.max_rate, fast.time_period) == (100.0, 1.0)
    slow = rate_limiter(30)  # one every two seconds
    assert (slow.max_rate, slow.time_period) == (1.0, 2.0)


def test_first_timeout_of_a_wave_cuts_to_what_fits_and_pauses_for_the_drain() -> None:
    limits = ProviderLimits("local", max_concurrency=16, timeout_s=2.0)
    # a one-at-a-time server, ~0.22 s a generation: 9 answers in the 2 s since the first request
    limits._first_request = time.monotonic() - 2.0
    for _ in range(9):
        limits.on_success(latency_s=0.9)
    limits.active = 16  # a full server queue when the first request times out
    sent = time.monotonic() - 2.0
    assert limits.on_timeout(sent)
    # what it answers in half the timeout: 4.5/s x 2 s / 2 = 4
    assert limits.concurrency == 4 and limits.timeouts == 1
    # and wait while the server drains the 16 queued generations (with a margin)
    assert limits.paused_until - time.monotonic() >= 16 * 0.25
    # the rest of the wave was queued already: counted, no further cut
    assert not limits.on_timeout(sent)
    assert limits.concurrency == 4 and limits.timeouts == 2 and limits.late_timeouts == 0
    # after a timeout, slow answers (over half the timeout) do not raise the bound again
    for _ in range(50):
        limits.on_success(latency_s=1.5)
    assert limits.concurrency == 4
    for _ in range(50):
        limits.on_success(latency_s=0.3)
    assert limits.concurrency > 4


def test_a_batching_server_is_only_halved_and_barely_paused() -> None:
    limits = ProviderLimits("vllm", max_concurrency=64, timeout_s=120.0)
    limits._first_request = time.monotonic() - 10.0
    for _ in range(640):  # 64 answers a second: one long generation timed out
        limits.on_success(latency_s=1.0)
    limits.active = 64
    assert limits.on_timeout(time.monotonic() - 120.0)
    assert limits.concurrency == 32
    assert limits.paused_until - time.monotonic() <= 2.5  # 64 in flight / 64 a second, x 2


def test_a_timeout_without_any_answer_yet_halves_and_waits_one_timeout() -> None:
    limits = ProviderLimits("remote", max_concurrency=8, timeout_s=3.0)
    assert limits.on_timeout(time.monotonic())
    assert limits.concurrency == 4
    assert limits.paused_until - time.monotonic() == pytest.approx(3.0, abs=0.5)


def test_a_provider_is_down_after_failures_in_a_row_that_outlast_one_burst() -> None:
    limits = ProviderLimits("p", max_concurrency=16)
    # 16 calls in flight refused at once (a restart?) is not yet "down"...
    assert not any(limits.on_connection_failure(attempt=1) for _ in range(16))
    # ...but a retry after back-off that fails too is, once
    assert limits.on_connection_failure(attempt=2) and limits.dead
    assert not limits.on_connection_failure(attempt=3)
    # any HTTP answer resets the streak
    other = ProviderLimits("q", max_concurrency=2)
    for _ in range(4):
        other.on_connection_failure(attempt=2)
    other.on_answer()
    assert not other.on_connection_failure(attempt=2) and not other.dead
    # without retries (max_attempts 1): more failures in a row than can be in flight at once
    single = ProviderLimits("r", max_concurrency=2)
    assert [single.on_connection_failure(attempt=1) for _ in range(5)] == [False] * 4 + [True]
