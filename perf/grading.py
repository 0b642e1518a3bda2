"""Grading throughput on real data: choice answers/s, math answers/s (and HumanEval solutions/s).

    .venv/bin/python perf/grading.py [--limit-math N]

- choice: the choice grader on MMLU-Pro- and GPQA-style responses built from the real items (the
  item's own text as ~reasoning-length filler, then a final answer line in one of the formats
  real models use), plus the 16,324 real RouterBench ARC-Challenge responses (bare letters);
- math: the math grader (last \\boxed{} + math-verify) on MATH-500 responses whose box holds the
  gold answer, half rewritten as `\\boxed{<gold>}` and half as a different value, so both the
  equal and the unequal paths of math-verify are timed;
- HumanEval: if perf/grading_code.py exists (another part of the project), its `main()` is
  called (awaited if async) for the sandboxed code-grading figure.

Prints figures only; nothing here is asserted. Reads ../shared/data (AVP_SHARED_DATA overrides).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import csv
import importlib.util
import os
import sys
import time
from pathlib import Path

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


def code_figures() -> None:
    path = REPO / "perf" / "grading_code.py"
    if not path.exists():
        print("HumanEval: perf/grading_code.py not present; skipped")
        return
    spec = importlib.util.spec_from_file_location("perf_grading_code", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main()  # its own entry point: plain or async
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-math", type=int, default=None, help="MATH-500 items to use")
    args = parser.parse_args()
    choice_figures()
    math_figures(args.limit_math)
    code_figures()


if __name__ == "__main__":
    main()
