"""How the Avengers' votes read answers, shared by `avp compare` (stored samples) and `avp serve`
(samples it requests): the benchmark's own extracted answer, compared by its equivalence.

    same = same_for(grader)                 # math: `graders.math.math_equal`; else string equality
    is_code(benchmark, grader)              # code benchmarks take sample 0 (no vote)
    read = answer_reader(benchmark)         # text -> the benchmark grader's extracted answer
"""

from __future__ import annotations

from collections.abc import Callable

from avp_harness.routing import ensemble

CODE_BENCHMARKS = {"humaneval", "livecodebench", "mbpp"}


def same_for(grader: str) -> Callable[[str, str], bool]:
    """The answer equivalence a vote groups by: math answers by `math_equal`, others by string."""
    if grader == "math":
        from graders.math import math_equal

        def same(a: str, b: str) -> bool:
            try:
                return bool(math_equal(a, b))
            except Exception:  # a parse failure or a timeout: not shown equal
                return False

        return same
    return ensemble.string_equal


def choose_math(strategy: str, answers: list[list[str | None]]) -> tuple[int, int, int]:
    """`ensemble.choose` over math answers grouped by `math_equal`. Module-level so that the math
    process pool can run it (`graders.math.in_pool`): in a worker's main thread math-verify's
    timeouts hold, so a pathological answer cannot stall a vote for good."""
    return ensemble.choose(strategy, answers, same_for("math"))


def is_code(benchmark: str, grader: str) -> bool:
    return benchmark in CODE_BENCHMARKS or grader.endswith("_exec")


def answer_reader(benchmark: str) -> tuple[str, Callable[[str], str | None] | None]:
    """(the benchmark's grader id, its answer extractor): the `extracted` of the grade its grader
    gives a text (`grade_text`, the same extraction the stored grades hold; the target plays no
    part in it). The extractor is None when the grader has no text extraction (judged, code,
    grid, rubric or agentic graders). A benchmark that does not exist is a KeyError."""
    import benchmarks

    if benchmark not in benchmarks.names():
        raise KeyError(benchmark)
    from avp_harness.errors import ConfigError

    try:
        grader = benchmarks.get(benchmark).grader(None)
    except ConfigError:  # graded by an LLM judge: no extraction without calling it
        return "judge", None
    grade_text = getattr(grader, "grade_text", None)
    if grade_text is None:
        return str(grader.id), None

    def read(text: str) -> str | None:
        extracted = grade_text(text, "").extracted
        return None if extracted is None else str(extracted)

    return str(grader.id), read
