"""Grading throughput on real data: choice answers/s, math answers/s (and HumanEval solutions/s).

    .venv/bin/python perf/grading.py [--limit-math N]

- choice: the choice grader on MMLU-Pro- and GPQA-style responses built from the real items (the
  item's own text as ~reasoning-length filler, then a final answer line in one of the formats
  real models use), plus the 16,324 real RouterBench ARC-Challenge responses (bare letters);
- math: the math grader (last \\boxed{} + math-verify) on MATH-500 responses whose box holds the
  gold answer, half rewritten as `\\boxed{<gold>}` and half as a different value, so both the
  equal and the unequal paths of math-verify are timed;
- HumanEval: the 164 canonical solutions graded with 2 workers, in one run, three ways: through the
  hardened sandbox this machine offers (bwrap + cgroup, token-verified driver), through the
  rlimits-only fallback (same driver), and the way grading worked before (rlimits only, the whole
  program in one process, pass = exit code 0), plus the old code itself (graders/sandbox.py at
  OLD_COMMIT, read with git) under the isolation this machine used before, netns+pidns+uid;
  prints solutions/s and the ratios (target: the hardened figure >= 70% of today's).

    .venv/bin/python perf/grading.py --only code     # just the HumanEval figure

Prints figures only; nothing here is asserted. Reads ../shared/data (AVP_SHARED_DATA overrides).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import csv
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import Selection, gpqa, math500, mmlu_pro  # noqa: E402
from graders.choice import ChoiceGrader  # noqa: E402
from graders.math import MathGrader  # noqa: E402

DATA = Path(os.environ.get("AVP_SHARED_DATA", REPO.parent / "shared" / "data"))
ANSWER_FORMATS = (
    "Answer: {}",
    "**Answer:** {}",
    "Answer: ({})",
    "The final answer is {}.",
    "answer: {}",
    "Answer: {}) see above",
)


def rate(label: str, count: int, seconds: float) -> None:
    print(f"{label:<44} {count:>7} answers in {seconds:6.2f}s = {count / seconds:>10,.0f} /s")


def choice_figures() -> None:
    for bench in (mmlu_pro.BENCHMARK, gpqa.BENCHMARK):
        items = list(bench.items(Selection()))
        responses = [
            (
                f"Let me think.\n{item.prompt_text[:1500]}\n\n"
                + ANSWER_FORMATS[n % len(ANSWER_FORMATS)].format(item.target),
                item.target,
            )
            for n, item in enumerate(items)
        ]
        grader = bench.grader()
        started = time.perf_counter()
        correct = sum(grader.grade_text(text, gold).score for text, gold in responses)
        rate(f"choice, {bench.name}-style responses", len(responses), time.perf_counter() - started)
        # the official rules do not read every format (simple-evals' GPQA reads no markdown)
        print(f"{'':<44} {int(correct):>7} read back as the gold letter")
    texts = []
    for path in sorted((DATA / "records" / "routerbench_subset").glob("arc_challenge_*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                texts += [
                    ast.literal_eval(v)[0] for k, v in row.items() if k.endswith("|model_response")
                ]
    grader = ChoiceGrader(mmlu_pro.EXTRACTION)  # reads bare letters (its last-letter fallback)
    started = time.perf_counter()
    for text in texts:
        grader.grade_text(text, "A")
    rate("choice, RouterBench ARC-Challenge responses", len(texts), time.perf_counter() - started)


def math_figures(limit: int | None) -> None:
    items = list(math500.BENCHMARK.items(Selection(limit=limit)))
    responses = []
    for n, item in enumerate(items):
        boxed = item.target if n % 2 == 0 else f"{item.target}+1"
        responses.append((f"{item.prompt_text[:800]}\nSo we get \\boxed{{{boxed}}}.", item.target))
    grader = MathGrader()
    for label, part in (("equal", responses[0::2]), ("unequal", responses[1::2])):
        latencies = []
        correct = 0.0
        for text, gold in part:
            started = time.perf_counter()
            correct += grader.grade_text(text, gold).score
            latencies.append(time.perf_counter() - started)
        rate(f"math, MATH-500 responses ({label} to gold)", len(part), sum(latencies))
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(
            f"{'':<44} scored {correct:.0f}/{len(part)}; per answer p50 {1000 * p50:.1f} ms, "
            f"p99 {1000 * p99:.0f} ms, max {1000 * latencies[-1]:.0f} ms"
        )


MODES = (  # label, forced isolation (None = the best this machine offers), grading path
    ("hardened sandbox + driver", None, "driver"),
    ("rlimits-only + driver", "rlimits-only", "driver"),
    ("before: rlimits-only, exit code", "rlimits-only", "exit code"),
    ("before: old code, netns+pidns+uid", "netns+pidns+uid", "old code"),
)
OLD_COMMIT = "9202d87"  # the last commit with the old sandbox (isolation of today: netns+pidns+uid)


def _old_sandbox() -> Any:
    """graders/sandbox.py as it was at OLD_COMMIT (from git), or None where git cannot say."""
    import subprocess
    import types

    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:graders/sandbox.py"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("old_sandbox")
    sys.modules["old_sandbox"] = module  # dataclasses look their module up there
    exec(compile(source, "old_sandbox.py", "exec"), module.__dict__)
    return module


def _with_isolation(forced: str | None) -> str:
    from graders import sandbox

    if forced:
        os.environ["AVP_SANDBOX_ISOLATION"] = forced
    else:
        os.environ.pop("AVP_SANDBOX_ISOLATION", None)
    sandbox._setup.cache_clear()
    return sandbox.isolation()


async def _grade_chunk(items: list[Any], path: str, old: Any = None) -> float:
    """Seconds to grade `items` (canonical solutions) with 2 workers; asserts they all pass."""
    from avp_harness.types import Completion, CostSource, Usage
    from graders import sandbox
    from graders.code import HumanEvalGrader, humaneval_program

    sandbox.set_workers(2)
    if old is not None:
        old.set_workers(2)
    grader = HumanEvalGrader()

    async def one(item: Any) -> float:
        solution = item.metadata["canonical_solution"]
        if path == "driver":
            text = Completion(solution, Usage(), None, CostSource.UNKNOWN, 0.0, "stop")
            return (await grader(item, text)).score
        program = humaneval_program(
            item.metadata["prompt"], solution, item.target["entry_point"], item.target["test"]
        )
        runner = old if path == "old code" else sandbox
        return 1.0 if (await runner.run_python(program, timeout_s=10)).ok else 0.0

    started = time.perf_counter()
    scores = await asyncio.gather(*[one(i) for i in items])
    elapsed = time.perf_counter() - started
    assert sum(scores) == len(items), f"{len(items) - sum(scores):.0f} canonical solutions failed"
    return elapsed


def code_figures(rounds: int = 4) -> None:
    """The modes take turns on slices of the 164 solutions, `rounds` times over, so a change in
    the machine's load during the run weighs on every mode alike."""
    from benchmarks import get

    logging.getLogger("avp.sandbox").setLevel(logging.ERROR)  # the forced fallback is on purpose
    items = list(get("humaneval").items(Selection()))
    old = _old_sandbox()
    modes = [m for m in MODES if m[2] != "old code" or old is not None]
    seconds = dict.fromkeys(range(len(modes)), 0.0)
    labels = {}
    slices = [items[k::rounds] for k in range(rounds)]
    for chunk in slices * 2:  # every solution twice per mode
        for m, (_, forced, path) in enumerate(modes):
            if path == "old code":
                os.environ["AVP_SANDBOX_ISOLATION"] = str(forced)
                labels[m] = old.isolation()  # read once, then cached by the old module
            else:
                labels[m] = _with_isolation(forced)
            seconds[m] += asyncio.run(_grade_chunk(chunk, path, old))
    _with_isolation(None)
    rates = {m: 2 * len(items) / seconds[m] for m in seconds}
    for m, (label, _, _) in enumerate(modes):
        print(
            f"humaneval, {label:<33} {2 * len(items):>7} solutions in {seconds[m]:6.2f}s = "
            f"{rates[m]:>10,.1f} /s (2 workers, isolation {labels[m]})"
        )
    today = f"; hardened+driver / old code = {rates[0] / rates[3]:.0%}" if len(modes) > 3 else ""
    print(
        f"{'':<44} hardened+driver / rlimits-only+driver = {rates[0] / rates[1]:.0%}; "
        f"hardened+driver / rlimits-only exit code = {rates[0] / rates[2]:.0%}{today} "
        f"(target >= 70%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-math", type=int, default=None, help="MATH-500 items to use")
    parser.add_argument("--only", choices=["choice", "math", "code"], help="one figure only")
    args = parser.parse_args()
    if args.only in (None, "choice"):
        choice_figures()
    if args.only in (None, "math"):
        math_figures(args.limit_math)
    if args.only in (None, "code"):
        code_figures()


if __name__ == "__main__":
    main()
