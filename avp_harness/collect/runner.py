"""The collector: plan -> pending -> bounded fan-out -> generate -> grade -> single writer.

`Collector.run()` is idempotent. It plans every (model x item x sample) cell of the config,
subtracts the cells already `ok` in the store, and runs the rest: per provider, a pool of workers
takes cells in order and calls the model through the model gateway (`avp_harness.gateway`: the
provider's adaptive concurrency bound and rate limiters, tenacity retries while the failure is
classified as transient). Results go to one writer task that commits small batches, so an
interrupted run loses at most the last fraction of a second of answers and never half a cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

from avp_harness.collect.budget import BudgetGuard
from avp_harness.collect.judge import StoreJudge
from avp_harness.collect.plan import Plan, PlannedCell, Simulate, build_plan
from avp_harness.collect.reporter import NullReporter, Reporter
from avp_harness.collect.summary import RunSummary
from avp_harness.config import Config
from avp_harness.errors import (
    JudgeFailure,
    ProviderError,
    SandboxError,
    StoreError,
    StoreWriteError,
)
from avp_harness.gateway import CallPrevented, Gateway
from avp_harness.gateway.limits import ProviderLimits
from avp_harness.redact import redact
from avp_harness.spend import CELL_SPEND
from avp_harness.store import Store
from avp_harness.store.grades import outdated_grades
from avp_harness.types import (
    CellKey,
    CellResult,
    Completion,
    Grade,
    ModelEntry,
    Status,
)
from graders import Grader


class _Writer:
    """The single writer: collects results and commits them in small batches off the loop.

    The first failed commit (disk full, read-only store, connection lost) is final: `broken` is
    set from the writer's thread at once, so no new call starts, and `on_failure` stops the run.
    An answer and its grade that meet in one batch are written as one row.
    """

    def __init__(
        self,
        store: Store,
        interval_s: float = 0.1,
        max_batch: int = 500,
        on_failure: Callable[[], None] | None = None,
        tick: Callable[[], None] | None = None,
        tick_every_s: float = 15.0,
    ) -> None:
        self.store = store
        self.tick = tick  # the heartbeat (lease renewal), run on the writer's thread
        self.tick_every_s = tick_every_s
        self._next_tick = time.monotonic() + tick_every_s
        self.interval_s = interval_s
        self.max_batch = max_batch
        self.on_failure = on_failure
        self._pending: dict[CellKey, CellResult] = {}
        self._wake = asyncio.Event()
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avp-writer")
        self.written = 0
        self.failure: StoreError | None = None
        self.broken = threading.Event()
        self.lost = 0  # results that could not be kept after the failure

    def put(self, result: CellResult) -> None:
        if self.failure is not None:
            self.lost += 1
            return
        earlier = self._pending.get(result.key)
        if earlier is not None and earlier.status is Status.ANSWERED:  # one row, attempts kept
            result = replace(result, attempts=earlier.attempts + result.attempts,
                             rate_limits=earlier.rate_limits + result.rate_limits)
        self._pending[result.key] = result
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    def _commit_tick(self) -> None:
        try:
            if self.tick is not None:
                self.tick()
        except BaseException:
            self.broken.set()
            raise

    def _commit(self, batch: list[CellResult]) -> None:
        if not batch:
            return
        try:
            self.store.record_results(batch)
        except BaseException:
            self.broken.set()  # seen by the workers before their next call, not a loop turn later
            raise

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):  # wake up at least every interval
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            batch, self._pending = list(self._pending.values()), {}
            ticking = self.tick is not None and time.monotonic() >= self._next_tick
            if batch or ticking:
                try:
                    if ticking:
                        self._next_tick = time.monotonic() + self.tick_every_s
                        await loop.run_in_executor(self._executor, self._commit_tick)
                    await loop.run_in_executor(self._executor, self._commit, batch)
                except Exception as exc:
                    self.failure = exc if isinstance(exc, StoreError) else StoreWriteError(
                        f"cannot write to store {self.store.display_url}: "
                        f"{type(exc).__name__}: {exc}")
                    self.lost += len(batch) + len(self._pending)
                    self._pending = {}
                    if self.on_failure is not None:
                        self.on_failure()
                    return
                self.written += len(batch)
            if self._closing and not self._pending:
                return

    async def close(self, task: asyncio.Task[None]) -> None:
        self._closing = True
        self._wake.set()
        await task
        self._executor.shutdown(wait=True)


class _ClaimQueue:
    """One provider's share of the plan: cells not yet claimed (in plan order) and the batch this
    collector holds claims on."""

    def __init__(self, cells: Sequence[PlannedCell], batch: int) -> None:
        self.unclaimed: dict[tuple[str, int], PlannedCell] = {
            (c.key.fingerprint, c.key.sample): c for c in cells}
        self.claimed: deque[PlannedCell] = deque()
        self.batch = batch
        self.refill: asyncio.Task[None] | None = None  # the claim of the next batch, if running


def owner_is_dead(owner: str) -> bool:
    """A collector `host:pid:token` known to be gone: a process of this host that no longer
    exists. Collectors on other hosts are judged by their lease alone."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class _StoreBroken(CallPrevented):
    """Raised instead of making a call whose result could not be kept."""


class Collector:
    """Runs the cells of a config that are not yet done. See the module docstring."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        reporter: Reporter | None = None,
        budget: float | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        writer_interval_s: float = 0.1,
        http_client_factory: Callable[[], Any] | None = None,
        lease_s: float = 60.0,
        owner: str | None = None,
        fail_on_error: float | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.reporter = reporter or NullReporter()
        self.budget = BudgetGuard(budget if budget is not None else config.budget)
        # every model call (candidates and the judge) goes through the gateway; none is sent
        # once the store can no longer keep its result
        self.gateway = Gateway(
            config, events=self.reporter, backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s, http_client_factory=http_client_factory,
            before_call=self._check_store,
        )
        self.writer_interval_s = writer_interval_s
        # claims: this collector's name in the store and how long its leases last unrenewed
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease_s = lease_s
        self.fail_on_error = fail_on_error
        self._error_stop = False
        self._stopping = False
        self._budget_stop = False
        self._running = asyncio.Event()
        self._running.set()
        self._workers: list[asyncio.Task[None]] = []
        self._graders: dict[str, Grader] = {}
        # agentic benchmarks (τ²-bench): a cell's answer is a whole simulation, not one call
        self._simulators: dict[str, Simulate] = {}
        self._inflight: dict[CellKey, PlannedCell] = {}
        self._failed: list[PlannedCell] = []
        self._writer: _Writer | None = None
        self._store_failed = False
        # answers stored by an earlier run but not graded yet: graded without calling again
        self._answered: dict[tuple[str, int], Completion] = {}

    # ------------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Stop scheduling and cancel calls in flight; finished results are still written."""
        if self._stopping:
            return
        self._stopping = True
        self._running.set()
        for task in self._workers:
            task.cancel()

    def _on_store_failure(self) -> None:
        """The first failed commit: stop scheduling and cancel the calls in flight."""
        self._store_failed = True
        self.request_stop()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def limits(self) -> dict[str, ProviderLimits]:
        """Each provider's limits, by connection (the gateway's)."""
        return self.gateway.limits

    def _check_store(self) -> None:
        if self._writer is not None and self._writer.broken.is_set():
            raise _StoreBroken  # its result could not be kept: do not pay for it

    # ------------------------------------------------------------------ run

    async def run(self, plan: Plan | None = None) -> RunSummary:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        if plan is None:
            judge = (StoreJudge(self.gateway, self.store, self.config.judge)
                     if self.config.judge else None)
            plan = await loop.run_in_executor(None, partial(build_plan, self.config, judge=judge))
        self._graders = {bench.name: bench.grader for bench in plan.benchmarks}
        self._simulators = {b.name: b.simulate for b in plan.benchmarks if b.simulate}
        await loop.run_in_executor(None, self._prepare_store, plan)
        stale = self.store.mark_stale_runs(self.lease_s, owner_is_dead)
        if stale:
            self.reporter.message(f"runs {', '.join(map(str, stale))} marked interrupted: "
                                  f"their collector is gone")
        hashes = list(plan.hashes.values())
        done = await loop.run_in_executor(None, self.store.ok_cells, hashes)
        pending_cells = [c for c in plan.cells() if (c.key.fingerprint, c.key.sample) not in done]
        self._answered = await loop.run_in_executor(None, self.store.answered_completions, hashes)
        await loop.run_in_executor(None, self.store.enqueue_claims, [
            (c.key.fingerprint, c.key.sample, c.config_hash) for c in pending_cells])
        means = self.store.mean_costs(hashes)
        self.budget.seed({pair: means[h] for pair, h in plan.hashes.items() if h in means})
        run_id = self.store.start_run(
            plan.entries, budget=self.budget.budget, config=self._config_snapshot(),
            owner=self.owner,
        )
        summary = RunSummary(run_id, "completed", plan.total, plan.total - len(pending_cells))
        self.reporter.start(plan, pending_cells, run_id)
        for note in plan.notes:
            self.reporter.message(note)
        graders = {b.name: (b.grader.id, b.grader.version) for b in plan.benchmarks}
        outdated = await loop.run_in_executor(
            None, outdated_grades, self.store, list(plan.hashes.values()), graders
        )
        for name, count in outdated.items():  # e.g. verdicts read by an older judge-reply rule
            self.reporter.message(
                f"{name}: {count} cells were graded by an older {graders[name][0]} version: "
                f"`avp regrade --benchmark {name}` grades them again (candidates are not called)"
            )

        by_provider: dict[str, list[PlannedCell]] = {}
        for cell in pending_cells:
            limits = self.gateway.limits_for(cell.model)
            by_provider.setdefault(limits.name, []).append(cell)
        queues = {name: _ClaimQueue(cells, max(8, 2 * self.limits[name].max_concurrency))
                  for name, cells in by_provider.items()}
        for limits in self.limits.values():
            self.reporter.provider(limits)

        writer = self._writer = _Writer(
            self.store, self.writer_interval_s, on_failure=self._on_store_failure,
            tick=partial(self.store.renew_claims, self.owner, self.lease_s, run_id),
            tick_every_s=self.lease_s / 4,
        )
        writer_task = asyncio.create_task(writer.run(), name="avp-writer")
        # The plan, its items and the stored answers live for the whole run: frozen, the cyclic
        # GC's full collections no longer walk them (~0.1 ms CPU per cell at zero latency).
        gc.freeze()
        self._workers = [
            asyncio.create_task(self._worker(queues[name], writer, summary), name=f"avp-{name}")
            for name, limits in self.limits.items()
            if name in queues
            for _ in range(limits.max_concurrency)
        ]
        try:
            outcomes = await asyncio.gather(*self._workers, return_exceptions=True)
            for outcome in outcomes:  # a worker bug must not pass for an empty run
                if isinstance(outcome, Exception):
                    raise outcome
        finally:
            gc.unfreeze()
            for queue in queues.values():
                if queue.refill is not None:
                    queue.refill.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await queue.refill
            await writer.close(writer_task)
            await self.gateway.close()
            if writer.failure is None:  # others may take what this collector did not finish
                with contextlib.suppress(StoreError):
                    self.store.release_claims(self.owner)
        if writer.failure is not None:
            with contextlib.suppress(StoreError):
                self.store.finish_run(run_id, "failed", self.budget.spent)
            raise StoreWriteError(
                f"{writer.failure}; stopped at once: {writer.lost} received answers could not "
                f"be kept; the calls in flight were cancelled and no new call was started"
            )
        ok_now = await loop.run_in_executor(None, self.store.ok_cells, hashes)
        remaining = [c for c in pending_cells if (c.key.fingerprint, c.key.sample) not in ok_now]
        summary.remaining = len(remaining)
        summary.spent = self.budget.spent
        summary.projected_to_finish = sum(self.budget.estimate(c) for c in remaining)
        summary.rate_limit_hits = sum(lim.rate_limit_hits for lim in self.limits.values())
        summary.timed_out = sum(lim.timeouts for lim in self.limits.values())
        summary.dead_providers = [f"{n} ({lim.base_url})" for n, lim in self.limits.items()
                                  if lim.dead]
        summary.unpriced_models = sorted(self.budget.unpriced_models)
        summary.elapsed_s = time.monotonic() - started
        if self._stopping:
            summary.status = "interrupted"
        elif self._budget_stop:
            summary.status = "budget"
        elif self._error_stop:
            summary.status = "failed"
        self.store.finish_run(run_id, summary.status, summary.spent)
        self.reporter.finish(summary)
        return summary

    def _prepare_store(self, plan: Plan) -> None:
        self.store.upsert_models(
            ModelEntry(model.id, model.provider, model.model, model.generation_params(),
                       model.price.__dict__ if model.price else None)
            for model in plan.models
        )
        for bench in plan.benchmarks:
            self.store.upsert_items(bench.version, bench.items)

    def _config_snapshot(self) -> dict[str, Any]:
        """What the run used, without secrets (env var names only, never their values)."""
        return {
            "models": [m.id for m in self.config.models],
            "benchmarks": [b.name for b in self.config.benchmarks],
            "providers": {
                name: {"base_url": p.base_url, "api_key_env": p.api_key_env}
                for name, p in self.config.providers.items()
            },
        }

    async def _next_cell(self, queue: _ClaimQueue) -> PlannedCell | None:
        """The next cell this collector holds a claim on. The next batch is claimed in the
        background when half of this one is used, so workers rarely wait for a claim. Cells
        leased by other live collectors are looked at again until they are finished or their
        lease lapses (their collector died): None only when nothing is left."""
        while not self._stopping:
            task = queue.refill
            if task is not None and task.done():
                queue.refill = None
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                continue
            if task is None and queue.unclaimed and len(queue.claimed) <= queue.batch // 2:
                queue.refill = asyncio.create_task(self._refill(queue))
            if queue.claimed:
                return queue.claimed.popleft()
            if queue.refill is None:
                return None
            await asyncio.wait({queue.refill})
        return None

    async def _refill(self, queue: _ClaimQueue) -> None:
        """Claim the next batch; when everything left is held by others, wait a little."""
        loop = asyncio.get_running_loop()
        owners = await loop.run_in_executor(None, self.store.claim_owners)
        dead = [owner for owner in owners if owner_is_dead(owner)]
        claimed, gone, held = await loop.run_in_executor(None, partial(
            self.store.claim_cells, self.owner, list(queue.unclaimed), queue.batch,
            self.lease_s, dead))
        queue.claimed.extend(queue.unclaimed[key] for key in claimed)
        for key in set(claimed) | gone:
            del queue.unclaimed[key]
        if not claimed and held and not queue.claimed:  # all left is worked on elsewhere
            await asyncio.sleep(min(1.0, self.lease_s / 4))

    async def _worker(
        self, queue: _ClaimQueue, writer: _Writer, summary: RunSummary
    ) -> None:
        while not self._stopping and not self._budget_stop and not self._error_stop:
            if not self._running.is_set():
                await self._running.wait()
                continue
            try:
                cell = await self._next_cell(queue)
            except StoreError:  # the claim could not be written: same as a failed commit
                self._on_store_failure()
                if self._writer is not None and self._writer.failure is None:
                    self._writer.failure = StoreWriteError(
                        f"cannot write to store {self.store.display_url}: claiming cells failed")
                return
            if cell is None:
                return
            if self.gateway.limits_for(cell.model).dead:
                queue.claimed.appendleft(cell)  # released with the others at the end
                return  # its provider is down: the rest of its queue stays not yet run
            stored = (cell.key.fingerprint, cell.key.sample) in self._answered
            reserved = 0.0 if stored else self.budget.try_reserve(cell)
            if reserved is None:
                queue.claimed.appendleft(cell)  # released with the others at the end
                if not self._budget_stop:
                    self._budget_stop = True
                    self.reporter.message(
                        f"budget ${self.budget.budget:.2f} reached: stopped scheduling "
                        f"(spent ${self.budget.spent:.4f})"
                    )
                return
            self._inflight[cell.key] = cell
            judge_spend: list[float] = []  # judge (and given-up simulation) dollars
            CELL_SPEND.set(judge_spend)
            try:
                result = await self._process(cell, summary.run_id, writer)
            except _StoreBroken:
                return
            self._inflight.pop(cell.key, None)
            judge = sum(judge_spend) if judge_spend else None
            if stored:  # the call was paid for by an earlier run; only a judge's dollars are new
                self.budget.settle(cell, reserved, judge, answered=False)
            else:
                self.budget.settle(cell, reserved, _dollars(result, judge),
                                   result.completion is not None)
            summary.attempted += 1
            summary.by_status[result.status.value] += 1
            if result.status is Status.OK:
                summary.ok += 1
                summary.truncated += _truncated(result)
            elif result.status is Status.CONTEXT_EXCEEDED:
                summary.context_exceeded += 1  # final: neither retried nor left to do
            else:
                self._failed.append(cell)
                summary.judge_failures += (result.error or "").startswith(JudgeFailure.PREFIX)
                self._check_failures(summary)
            writer.put(result)
            self.reporter.result(result)

    def _check_failures(self, summary: RunSummary) -> None:
        """`fail_on_error`: stop scheduling once more cells failed than it tolerates."""
        limit = self.fail_on_error
        if limit is None or self._error_stop:
            return
        allowed = limit * (summary.planned - summary.already_done) if limit < 1 else limit
        if len(self._failed) > allowed:
            self._error_stop = True
            self.reporter.message(
                f"{len(self._failed)} cells failed, more than --fail-on-error {limit:g} allows: "
                f"stopped scheduling"
            )

    async def _process(self, cell: PlannedCell, run_id: int | None, writer: _Writer) -> CellResult:
        """Call (unless an earlier run stored the answer), store the answer at once as
        `answered`, then grade it: a crash or a stop while grading never loses a paid answer."""
        started = time.time()
        completion = self._answered.get((cell.key.fingerprint, cell.key.sample))
        attempts = rate_limits = 0
        if completion is None:
            messages = [m.as_dict() for m in cell.item.messages]
            seed = cell.key.sample if cell.key.sample > 0 else None
            simulate = self._simulators.get(cell.key.benchmark)
            if simulate is not None:  # every call of the simulation goes through the gateway
                call = await simulate(cell.item, cell.model, cell.key.sample, self.gateway)
            else:
                call = await self.gateway.complete(cell.model, messages, seed)
            attempts, rate_limits, completion = call.attempts, call.rate_limits, call.completion
            if completion is None:
                assert call.decision is not None
                return self._result(cell, run_id, call.decision.status, attempts, started,
                                    error=call.decision.message, rate_limits=rate_limits)
            writer.put(self._result(cell, run_id, Status.ANSWERED, attempts, started,
                                    completion=completion, rate_limits=rate_limits))
        # the answer's attempts are written with it: its grade adds none
        try:
            grade = await self._grade(cell, completion)
        except _StoreBroken:
            raise
        except JudgeFailure as exc:  # "judge failure: ...": kept as answered, never graded
            return self._result(cell, run_id, Status.ANSWERED, 0, started,
                                error=str(exc), completion=completion)
        except (ProviderError, SandboxError) as exc:  # kept as answered: graded again next run
            return self._result(cell, run_id, Status.ANSWERED, 0, started,
                                error=f"grading failed: {exc}", completion=completion)
        except Exception as exc:  # a grader bug is not a wrong answer either
            return self._result(cell, run_id, Status.ANSWERED, 0, started,
                                error=f"grader crashed: {type(exc).__name__}: {exc}",
                                completion=completion)
        return self._result(cell, run_id, Status.OK, 0, started,
                            completion=completion, grade=grade)

    async def _grade(self, cell: PlannedCell, completion: Completion) -> Grade:
        return await self._graders[cell.key.benchmark](cell.item, completion)

    def _result(
        self,
        cell: PlannedCell,
        run_id: int | None,
        status: Status,
        attempts: int,
        started: float,
        *,
        error: str | None = None,
        completion: Completion | None = None,
        grade: Grade | None = None,
        rate_limits: int = 0,
    ) -> CellResult:
        return CellResult(
            key=cell.key,
            benchmark_version=cell.benchmark_version,
            config_hash=cell.config_hash,
            item_hash=cell.item_hash,
            status=status,
            attempts=attempts,
            started_at=started,
            finished_at=time.time(),
            run_id=run_id,
            error=redact(error) if error else error,
            completion=completion,
            grade=grade,
            rate_limits=rate_limits,
        )


def _truncated(result: CellResult) -> bool:
    """The answer hit max_tokens: graded as it is, marked by its finish reason."""
    return result.completion is not None and result.completion.finish_reason == "length"


def _dollars(result: CellResult, judge: float | None) -> float | None:
    """What a cell cost: the candidate's call plus its judge calls' (and a τ² simulated user's),
    when known."""
    cost = result.completion.cost if result.completion else None
    user = result.completion.user_cost if result.completion else None
    if cost is None and judge is None and user is None:
        return None
    return (cost or 0.0) + (judge or 0.0) + (user or 0.0)
