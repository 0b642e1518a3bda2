"""Code grades rest on positive evidence: wrong solutions that exit early, fake the output, fork,
or fiddle with the harness all fail; right ones pass (HumanEval and LiveCodeBench, for real).

Each attack below is a wrong solution (it never computes the right answer) that an exit-code-based
grader would score 1.0; every one must be graded 0.0.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from avp_harness.types import Completion, CostSource, Item, Usage
from benchmarks import Selection, get
from graders import sandbox
from graders.code import HumanEvalGrader, LiveCodeBenchGrader

pytestmark = pytest.mark.integration

LCB = Path(__file__).resolve().parents[1] / "fixtures" / "livecodebench"


def completion(text: str) -> Completion:
    return Completion(text, Usage(), None, CostSource.UNKNOWN, 0.0, "stop")


def fenced(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code.strip()}\n```\n"


@pytest.fixture(autouse=True)
def two_workers() -> None:
    sandbox.set_workers(2)


@pytest.fixture(scope="module")
def humaneval_item() -> Item:
    return next(i for i in get("humaneval").items(Selection()) if i.id == "HumanEval/0")


@pytest.fixture(scope="module")
def lcb_items() -> dict[str, Item]:
    return {i.id: i for i in get("livecodebench").items(Selection(source=LCB))}


# Wrong bodies for HumanEval/0 (has_close_elements), each trying to pass without being right.
HUMANEVAL_CHEATS = {
    "sys.exit(0) at import": "import sys\nsys.exit(0)\ndef has_close_elements(n, t):\n    return 0",
    "os._exit(0) at import": "import os\nos._exit(0)\ndef has_close_elements(n, t):\n    return 0",
    "raise SystemExit at import": "raise SystemExit\ndef has_close_elements(n, t):\n    return 0",
    "sys.exit(0) in the call": "def has_close_elements(n, t):\n    import sys\n    sys.exit(0)",
    "os._exit(0) in the call": "def has_close_elements(n, t):\n    import os\n    os._exit(0)",
    "raise SystemExit in the call": "def has_close_elements(n, t):\n    raise SystemExit(0)",
    "unittest.main() under __main__": (
        "import unittest\ndef has_close_elements(n, t):\n    return None\n"
        "if __name__ == '__main__':\n    unittest.main()\n"
    ),
    "unittest.main() at top level": (
        "import unittest\ndef has_close_elements(n, t):\n    return None\nunittest.main()\n"
    ),
    "patched print and stdout": (
        "import sys, builtins\nbuiltins.print = lambda *a, **k: None\n"
        "sys.stdout.write('passed\\n')\nsys.stdout = open('/dev/null', 'w')\n"
        "def has_close_elements(n, t):\n    return None\n"
    ),
    "fork, parent exits early": (
        "import os\nif os.fork() != 0:\n    os._exit(0)\n"
        "def has_close_elements(n, t):\n    return None\n"
    ),
    "fork in the call, parent exits": (
        "def has_close_elements(n, t):\n    import os\n    if os.fork():\n        os._exit(0)\n"
        "    return None\n"
    ),
    "atexit forces exit 0": (
        "import atexit, os\natexit.register(lambda: os._exit(0))\n"
        "def has_close_elements(n, t):\n    return None\n"
    ),
    "always-equal return value": (
        "class Yes:\n    def __eq__(self, other):\n        return True\n    def __bool__(self):\n"
        "        return True\ndef has_close_elements(n, t):\n    return Yes()\n"
    ),
    "kills its parent": (
        "import os, signal\ndef has_close_elements(n, t):\n    os.kill(os.getppid(), 9)\n"
    ),
    "writes a fake report on every fd": (
        "import os, json\nfake = ('0' * 32 + '\\n' + json.dumps({'passed': 1, 'total': 1, "
        "'first_failure': None})).encode()\nfor fd in range(3, 256):\n    try:\n"
        "        os.write(fd, fake)\n    except OSError:\n        pass\n"
        "def has_close_elements(n, t):\n    return None\n"
    ),
    "reads every fd for the token": (
        "import os\nfound = b''\nfor fd in range(3, 256):\n    try:\n"
        "        os.set_blocking(fd, False)\n        found += os.read(fd, 100)\n"
        "    except OSError:\n        pass\nfor fd in range(3, 256):\n    try:\n"
        '        os.write(fd, found + b\'{"passed": 1, "total": 1, "first_failure": null}\')\n'
        "    except OSError:\n        pass\n"
        "def has_close_elements(n, t):\n    return None\n"
    ),
    "reads the driver's fds through /proc": (
        "import os\nppid = os.getppid()\nloot = b''\nfor fd in range(3, 64):\n    try:\n"
        "        f = os.open(f'/proc/{ppid}/fd/{fd}', os.O_RDONLY | os.O_NONBLOCK)\n"
        "        loot += os.read(f, 100)\n    except OSError:\n        pass\n"
        "print('loot', loot)\n"
        "def has_close_elements(n, t):\n    return None\n"
    ),
}


async def test_humaneval_cheats_all_fail(humaneval_item: Item) -> None:
    grader = HumanEvalGrader(timeout_s=10)
    names = list(HUMANEVAL_CHEATS)
    grades = await asyncio.gather(
        *[grader(humaneval_item, completion(fenced(HUMANEVAL_CHEATS[n]))) for n in names]
    )
    passed = [(n, g.explanation) for n, g in zip(names, grades, strict=True) if g.score != 0.0]
    assert passed == []
    for grade in grades:  # every failure says which isolation held it
        assert f"isolation={sandbox.isolation()}" in grade.explanation, grade.explanation


async def test_humaneval_right_answer_with_noise_passes(humaneval_item: Item) -> None:
    """The same tricks around a RIGHT answer do not make it fail (the verdict is the tests')."""
    body = humaneval_item.metadata["prompt"] + humaneval_item.metadata["canonical_solution"]
    noisy = (
        "import builtins, sys\nbuiltins.print = lambda *a, **k: None\n" + body + "\n"
        "if __name__ == '__main__':\n    sys.exit(3)\n"
    )
    grade = await HumanEvalGrader(timeout_s=10)(humaneval_item, completion(fenced(noisy)))
    assert grade.score == 1.0, grade.explanation


# LiveCodeBench stdin (fx_add: print A+B) cheats, and functional (fx_pair: pairSum) cheats.
LCB_STDIN_CHEATS = {
    "sys.exit(0) before printing": "import sys\nsys.exit(0)",
    "os._exit(0) before printing": "import os\nos._exit(0)",
    "fork, parent exits": "import os\nif os.fork():\n    os._exit(0)\nprint(0)",
    "prints a fake verdict": (
        'print(\'{"passed": 3, "total": 3, "first_failure": null}\')\nimport sys\nsys.stdout = None'
    ),
    "wrong answer then exit 0": "print(-1)\nraise SystemExit(0)",
}
LCB_FUNCTIONAL_CHEATS = {
    "os._exit(0) in the method": (
        "import os\nclass Solution:\n    def pairSum(self, nums, target):\n        os._exit(0)"
    ),
    "sys.exit(0) at import": (
        "import sys\nsys.exit(0)\nclass Solution:\n    def pairSum(self, nums, target):\n"
        "        return [0, 1]"
    ),
    "always-equal return value": (
        "class Yes(list):\n    def __eq__(self, other):\n        return True\n"
        "class Solution:\n    def pairSum(self, nums, target):\n        return Yes()"
    ),
    "fork, parent exits": (
        "import os\nclass Solution:\n    def pairSum(self, nums, target):\n"
        "        if os.fork():\n            os._exit(0)\n        return [0, 1]"
    ),
    "unittest.main() under __main__": (
        "import unittest\nclass Solution:\n    def pairSum(self, nums, target):\n"
        "        return [0, 1]\nif __name__ == '__main__':\n    unittest.main()"
    ),
    "unittest.main() at top level": (
        "import unittest\nclass Solution:\n    def pairSum(self, nums, target):\n"
        "        return [0, 1]\nunittest.main()"
    ),
}


async def test_livecodebench_cheats_all_fail(lcb_items: dict[str, Item]) -> None:
    grader = LiveCodeBenchGrader(per_test_timeout_s=3)
    cases = [("fx_add", n, c) for n, c in LCB_STDIN_CHEATS.items()] + [
        ("fx_pair", n, c) for n, c in LCB_FUNCTIONAL_CHEATS.items()
    ]
    grades = await asyncio.gather(
        *[grader(lcb_items[qid], completion(fenced(code))) for qid, _, code in cases]
    )
    passed = [(n, g.explanation) for (_, n, _), g in zip(cases, grades, strict=True) if g.score]
    assert passed == []


async def test_livecodebench_stdin_program_may_exit_after_printing(
    lcb_items: dict[str, Item],
) -> None:
    """sys.exit after printing the right answer is a normal competitive-programming ending."""
    code = "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)"
    grade = await LiveCodeBenchGrader(per_test_timeout_s=3)(
        lcb_items["fx_add"], completion(fenced(code))
    )
    assert grade.score == 1.0, grade.explanation


async def test_grade_keeps_only_a_short_excerpt_of_what_the_code_prints(
    humaneval_item: Item,
) -> None:
    loud = (
        "import sys\nsys.stderr.write('E' * 100000)\nprint('P' * 100000)\n"
        "def has_close_elements(n, t):\n    raise ValueError('V' * 100000)\n"
    )
    grade = await HumanEvalGrader(timeout_s=10)(humaneval_item, completion(fenced(loud)))
    assert grade.score == 0.0
    assert len(grade.explanation) < 600, len(grade.explanation)
    assert "P" * 50 not in grade.explanation


async def test_without_bwrap_no_text_of_the_code_reaches_the_grade(
    humaneval_item: Item, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rlimits-only: the code could have read host files, so the grade keeps exception types
    only, never messages or output."""
    fallback = sandbox._Setup(bwrap=False, cgroups={}, label="rlimits-only", notes=())
    monkeypatch.setattr(sandbox, "_setup", lambda: fallback)
    leaky = (
        "import sys\nsys.stderr.write('HOSTDATA-1')\n"
        "def has_close_elements(n, t):\n    raise ValueError('HOSTDATA-2')\n"
    )
    grade = await HumanEvalGrader(timeout_s=10)(humaneval_item, completion(fenced(leaky)))
    assert grade.score == 0.0 and "ValueError" in grade.explanation
    assert "HOSTDATA" not in grade.explanation and "isolation=rlimits-only" in grade.explanation
    crash = "import os\nos.write(2, b'HOSTDATA-3')\nos.kill(os.getppid(), 9)\n"
    grade = await HumanEvalGrader(timeout_s=10)(humaneval_item, completion(fenced(crash)))
    assert grade.score == 0.0 and "HOSTDATA" not in grade.explanation
