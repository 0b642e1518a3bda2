"""Math grader: the last `\\boxed{...}` compared to the gold answer by mathematical equivalence.

Protocol (AIME, MATH-500): the model puts its final answer in `\\boxed{}`. Extraction follows the
MATH benchmark's own code, hendrycks/math `modeling/dataset/util.py: last_boxed_only_string`: the
last `\\boxed`, or the last `\\fbox` only when there is no `\\boxed`, with its balanced braces;
no box (or a box that never closes) scores 0 and is counted as unparsed. Deliberate differences:
`\\boxed 5` (no braces) is read as `5`, as later MATH evaluations read it (the original
`remove_boxed` rejects it), and the comparison below replaces the original `is_equiv` string
normalisation.
Equivalence is decided by Hugging Face's `math-verify` (`parse()` both sides, then
`verify(gold, answer)`): `\\frac{1}{2}` = `0.5`,
`(3, \\pi/2)` = `\\left( 3, \\frac{\\pi}{2} \\right)`.

Where it runs: the async grader (what the collector and `avp regrade` call) sends each answer to
a small process pool (`AVP_MATH_WORKERS`, default 2). A comparison takes a few milliseconds but
sympy sometimes takes hundreds (perf/grading.py: p99 0.1-0.2 s), which would stall the collector's
event loop; and math-verify bounds each parse/compare with `signal.alarm`, which only works in a
main thread, as a pool worker's is. `grade_text` is the synchronous core: on a main thread it
keeps the timeouts (`TIMEOUT_S`); on any other thread it runs with them disabled rather than crash
(their "timeout disabled" notice is filtered from the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import resource_tracker
from typing import Any, TypeVar

from math_verify import parse, verify
from math_verify.errors import TimeoutException

from avp_harness.types import Completion, Grade, Item

MATH_GRADER_VERSION = "2"  # 2: \\fbox only when there is no \\boxed, as last_boxed_only_string
TIMEOUT_S = 5  # per parse / comparison, main thread only (signal-based)
T = TypeVar("T")

_BOX_COMMANDS = ("\\boxed", "\\fbox")


class _DropTimeoutNotice(logging.Filter):
    """math-verify logs a warning when called without timeouts; we do that on purpose off-main."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropTimeoutNotice())


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` / `\\boxed x` in `text` (the last `\\fbox{...}` when
    there is no `\\boxed`), or None.

    Only the last box counts: if it is empty or never closes (a truncated answer), there is no
    answer, even when an earlier box exists (earlier boxes are often intermediate results).
    """
    for command in _BOX_COMMANDS:
        start = text.rfind(command)
        if start >= 0:
            return _box_content(text, start + len(command))
    return None


def _box_content(text: str, i: int) -> str | None:
    """What follows a box command at index `i`: a balanced `{...}` group or one bare token."""
    if i < len(text) and text[i] == "{":
        depth = 0
        for j in range(i, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j].strip() or None
        return None  # unbalanced: the box never closed (truncated output)
    if i < len(text) and text[i] == " ":
        token = text[i + 1 :].split(maxsplit=1)
        if token:
            return token[0].rstrip("$.,") or None
    return None


def _timeout() -> int | None:
    on_main = threading.current_thread() is threading.main_thread()
    return TIMEOUT_S if on_main else None


def math_equal(gold: str, answer: str) -> bool:
    """True when `answer` is mathematically equivalent to `gold` (both LaTeX snippets).

    Raises math_verify's TimeoutException when a parse or comparison exceeds TIMEOUT_S.
    """
    timeout = _timeout()
    gold_parsed = parse(f"${gold}$", parsing_timeout=timeout)
    answer_parsed = parse(f"${answer}$", parsing_timeout=timeout)
    if not gold_parsed or not answer_parsed:
        return gold.strip() == answer.strip() != ""
    return bool(verify(gold_parsed, answer_parsed, timeout_seconds=timeout))


class MathGrader:
    """Grades the last boxed answer against the gold answer string in `item.target`."""

    id = "math"
    version = MATH_GRADER_VERSION

    def grade_text(self, text: str, target: str) -> Grade:
        """Synchronous core (also used by perf scripts)."""
        extracted = last_boxed(text)
        if extracted is None:
            return self._grade(0.0, None, "no \\boxed{} answer found", parsed=False)
        try:
            correct = math_equal(str(target), extracted)
        except TimeoutException:
            return self._grade(0.0, extracted, f"equivalence check timed out after {TIMEOUT_S}s")
        verdict = "equivalent to" if correct else "not equivalent to"
        return self._grade(1.0 if correct else 0.0, extracted, f"{verdict} the gold answer")

    def _grade(self, score: float, extracted: str | None, why: str, parsed: bool = True) -> Grade:
        return Grade(
            score=score,
            extracted=extracted,
            explanation=why,
            grader=self.id,
            grader_version=self.version,
            parsed=parsed,
        )

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        if last_boxed(completion.text) is None:  # nothing to compare: no need for a worker
            return self.grade_text(completion.text, item.target)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_pool(), _grade_in_worker, completion.text, item.target)


async def in_pool(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the math process pool: a worker's main thread, where math-verify's timeouts
    hold (`fn` must be picklable: a module-level function)."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), fn, *args)


_POOL: ProcessPoolExecutor | None = None


def _pool() -> ProcessPoolExecutor:
    """The process pool math answers are compared in (spawned once, on first use)."""
    global _POOL
    if _POOL is None:
        workers = int(os.environ.get("AVP_MATH_WORKERS", "2"))
        # spawn, not fork: the collector has threads (its writer) when the pool starts
        with _real_stderr():
            resource_tracker.ensure_running()
            _POOL = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_exit_with_parent, initargs=(os.getpid(),))
    return _POOL


def _exit_with_parent(parent: int) -> None:
    """In each pool worker: exit once the grading process is gone. A parent killed by SIGKILL
    cannot shut its pool down, and its workers would otherwise wait for work forever. (Polled,
    not PR_SET_PDEATHSIG, which fires when the *thread* that spawned the worker ends.)"""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="avp-exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def _real_stderr() -> Iterator[None]:
    """Start multiprocessing's resource tracker with the process's real stderr.

    The tracker is launched on the first spawn and passes `sys.stderr.fileno()` to its child;
    under Textual (`avp run --tui`) `sys.stderr` is a capture object whose fileno() is -1, and
    every spawn failed with "bad value(s) in fds_to_keep". Once running, the tracker is reused.
    """
    try:
        valid = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        valid = False
    if valid or sys.__stderr__ is None:
        yield
        return
    captured, sys.stderr = sys.stderr, sys.__stderr__
    try:
        yield
    finally:
        sys.stderr = captured


def _grade_in_worker(text: str, target: str) -> Grade:
    return MathGrader().grade_text(text, target)
