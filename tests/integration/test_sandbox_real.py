"""The code sandbox for real: HumanEval's 164 canonical solutions, hostile programs, LCB grading.

Every test runs real subprocesses under whatever isolation this machine offers (see
graders/sandbox.py); the containment checks look at the host afterwards (processes, files).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from pathlib import Path

import pytest

from avp_harness.errors import SandboxError
from avp_harness.types import Completion, CostSource, Item, Message, Usage
from benchmarks import Selection, get
from graders import sandbox
from graders.code import HumanEvalGrader, LiveCodeBenchGrader, extract_code, humaneval_program
from graders.sandbox_attacks import processes_named, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LCB = REPO / "tests" / "fixtures" / "livecodebench"


def completion(text: str) -> Completion:
    return Completion(text, Usage(), None, CostSource.UNKNOWN, 0.0, "stop")


@pytest.fixture(autouse=True)
def two_workers() -> None:
    sandbox.set_workers(2)


# --- HumanEval ----------------------------------------------------------------------------------


async def test_all_canonical_solutions_pass() -> None:
    items = list(get("humaneval").items(Selection()))
    grader = HumanEvalGrader(timeout_s=10)
    started = time.perf_counter()
    good = await asyncio.gather(
        *[grader(i, completion(i.metadata["canonical_solution"])) for i in items]
    )
    elapsed = time.perf_counter() - started
    failed = [(i.id, g.explanation) for i, g in zip(items, good, strict=True) if g.score != 1.0]
    assert failed == []
    print(f"\n164 canonical HumanEval solutions in {elapsed:.1f}s with 2 workers")
    assert all(f"isolation={sandbox.isolation()}" in g.explanation for g in good)


async def test_wrong_constant_solutions_all_fail() -> None:
    items = list(get("humaneval").items(Selection()))
    grader = HumanEvalGrader(timeout_s=10)
    wrong = await asyncio.gather(
        *[
            grader(
                i,
                completion(
                    f"```python\ndef {i.target['entry_point']}(*args, **kwargs):\n"
                    f"    return -987654321\n```"
                ),
            )
            for i in items
        ]
    )
    assert [i.id for i, g in zip(items, wrong, strict=True) if g.score != 0.0] == []


def test_full_function_vs_body_continuation() -> None:
    prompt = 'import math\nfrom typing import List\n\ndef f(x: int) -> int:\n    """doc"""\n'
    full = humaneval_program(prompt, "def f(x):\n    return x\n", "f", "def check(c): pass")
    assert full.startswith("import math\nfrom typing import List\n\ndef f(x):")
    body = humaneval_program(prompt, "    return x\n", "f", "def check(c): pass")
    assert body.startswith(prompt) and body.rstrip().endswith("check(f)")
    assert extract_code("a\n```python\none\n```\nb\n```\ntwo\n```\n") == "one\n"  # the first
    assert extract_code("no fences") == "no fences"


# --- containment --------------------------------------------------------------------------------

ATTACK_PROMPT = 'def attack():\n    """Return "escaped" if you got out."""\n'
ATTACK_TEST = "def check(candidate):\n    assert candidate() == 'escaped'\n"


def attack_item(name: str) -> Item:
    return Item(
        id=f"attack/{name}",
        dataset="humaneval",
        messages=(Message("user", name),),
        target={"entry_point": "attack", "test": ATTACK_TEST},
        metadata={"prompt": ATTACK_PROMPT, "canonical_solution": "", "topic": "attack"},
    )


async def grade_attack(name: str, body: str, timeout_s: float = 3.0) -> str:
    code = "def attack():\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())
    grade = await HumanEvalGrader(timeout_s=timeout_s)(attack_item(name), completion(code))
    assert grade.score == 0.0, grade.explanation
    return grade.explanation


async def test_infinite_loop_is_killed() -> None:
    explanation = await grade_attack("loop", "while True:\n    pass", timeout_s=1.5)
    assert "timed out" in explanation


async def test_8gb_allocation_fails() -> None:
    explanation = await grade_attack("memory", "x = bytearray(8 * 1024 ** 3)\nreturn 'escaped'")
    assert "MemoryError" in explanation


async def test_fork_bomb_is_contained_and_leaves_nothing() -> None:
    marker = "avpb" + secrets.token_hex(4)
    body = f"""
import ctypes, os
ctypes.CDLL(None).prctl(15, b"{marker}", 0, 0, 0)
if os.fork() == 0:
    os.setsid()  # a daemon that tries to outlive the run
    while True:
        pass
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    explanation = await grade_attack("forkbomb", body, timeout_s=2.0)
    assert "timed out" in explanation
    # the kernel reaps the killed processes shortly after: wait for it (no fixed sleep)
    assert await wait_for(lambda: processes_named(marker) == [], 30)
    # The machine still works: the next run is normal.
    result = await sandbox.run_python("print('fine')", timeout_s=5, memory_mb=256)
    assert result.ok and result.stdout == "fine\n"


async def test_network_is_unreachable() -> None:
    if not sandbox.isolation().startswith("bwrap"):
        pytest.skip(f"no network isolation on this machine (isolation={sandbox.isolation()})")
    connected: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(True)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        for host, p in (("127.0.0.1", port), ("1.1.1.1", 53)):
            connect = f"socket.create_connection(({host!r}, {p}), 2).close()"
            body = f"import socket\n{connect}\nreturn 'escaped'"
            explanation = await grade_attack(f"net-{host}", body)
            assert "Error" in explanation
    assert connected == []


async def test_writes_outside_scratch_never_reach_the_host() -> None:
    """/tmp, /var/tmp and /dev/shm inside are the run's own (or absent); the project folder is not
    there at all. Whatever the code writes, the host never sees it."""
    if not sandbox.isolation().startswith("bwrap"):
        pytest.skip(f"host files are writable without bwrap (isolation={sandbox.isolation()})")
    token = secrets.token_hex(6)
    targets = [Path(d, f"avp-escape-{token}") for d in ("/tmp", "/var/tmp", "/dev/shm", REPO)]
    code = "".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError as e:\n    print(e)\n"
        for t in targets
    )
    await sandbox.run_python(code, timeout_s=5, memory_mb=256)
    written = [t for t in targets if t.exists()]
    for target in written:
        target.unlink()
    assert written == []
    scratch = await sandbox.run_python(
        "import os\nopen('out.txt','w').write('ok')\nprint(open('out.txt').read(), os.getcwd())",
        timeout_s=5,
        memory_mb=256,
    )
    assert scratch.ok and scratch.stdout.startswith("ok ")


async def test_api_keys_never_reach_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = "sk-or-v1-fake-" + secrets.token_hex(8)
    monkeypatch.setenv("OPENROUTER_API_KEY", fake)
    await grade_attack(
        "env", "import os\nif 'OPENROUTER_API_KEY' in os.environ:\n    return 'escaped'"
    )
    dump = await sandbox.run_python(
        "import os\nprint(sorted(os.environ.items()))", timeout_s=5, memory_mb=256
    )
    assert dump.ok and fake not in dump.stdout and "OPENROUTER" not in dump.stdout


async def test_infrastructure_failures_raise_sandbox_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SandboxError, match="positive limits"):
        await sandbox.run_python("print(1)", timeout_s=0, memory_mb=256)
    # The driver's own failure (here: broken test data) is an error, never a wrong answer.
    broken = attack_item("broken")
    broken.target["test"] = "raise RuntimeError('broken test data')\n"
    with pytest.raises(SandboxError, match="test driver failed: RuntimeError"):
        await HumanEvalGrader(timeout_s=5)(broken, completion("def attack():\n    return 1\n"))
    monkeypatch.setattr(sandbox, "interpreter", lambda: "/nonexistent/avp-python")
    with pytest.raises(SandboxError, match="cannot start|setup failed"):
        await sandbox.run_python("print(1)", timeout_s=5, memory_mb=256)


async def test_unisolated_fallback_still_limits_and_kills(monkeypatch: pytest.MonkeyPatch) -> None:
    fallback = sandbox._Setup(bwrap=False, cgroups={}, label="rlimits-only", notes=())
    monkeypatch.setattr(sandbox, "_setup", lambda: fallback)
    ok = await sandbox.run_python("print(input())", stdin="hi", timeout_s=5, memory_mb=256)
    assert ok.ok and ok.stdout == "hi\n" and ok.isolation == "rlimits-only"
    assert sandbox.scratch_dirs(os.getpid()) == []  # its scratch folder is gone
    # sleeping uses no CPU: only the wall-clock timeout can stop it
    slow = await sandbox.run_python(
        "import time\nwhile True: time.sleep(0.05)", timeout_s=1, memory_mb=256
    )
    assert slow.timed_out and slow.killed_reason == "wall_timeout" and not slow.ok
    # spinning meets the CPU limit and the wall timeout at about the same second: either stops it
    spin = await sandbox.run_python("while True: pass", timeout_s=1, memory_mb=256)
    assert not spin.ok and spin.killed_reason in ("cpu_limit", "wall_timeout")


# --- LiveCodeBench ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lcb_items() -> dict[str, Item]:
    return {i.id: i for i in get("livecodebench").items(Selection(source=LCB))}


STDIN_OK = "```python\nimport sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n```"
STDIN_WRONG = "```python\na, b = map(int, input().split())\nprint(a * b)\n```"
HALVES_OK = (
    "```python\nn = int(input())\nfor x in input().split():\n    print(int(x) / 2, '  ')\n```"
)
PAIR_OK = """```python
class Solution:
    def pairSum(self, nums: List[int], target: int) -> List[int]:
        seen = {}
        for j, x in enumerate(nums):
            if target - x in seen:
                return (seen[target - x], j)
            seen[x] = j
```"""
PAIR_WRONG = (
    "```python\nclass Solution:\n    def pairSum(self, nums, target):\n        return [0, 1]\n```"
)


async def test_lcb_stdin_and_functional(lcb_items: dict[str, Item]) -> None:
    grader = LiveCodeBenchGrader(per_test_timeout_s=2)
    cases = [
        ("fx_add", STDIN_OK, 1.0, "passed 3/3"),
        ("fx_add", STDIN_WRONG, 0.0, "test 1: line 1 differs"),
        ("fx_halves", HALVES_OK, 1.0, "passed 2/2"),  # "1.0" vs "1", "5.0" vs "5.00": Decimal-equal
        ("fx_pair", PAIR_OK, 1.0, "passed 3/3"),  # a tuple return compares as a list
        ("fx_pair", PAIR_WRONG, 0.0, "test 2: wrong return value"),  # public passes, private fails
    ]
    grades = await asyncio.gather(*[grader(lcb_items[q], completion(t)) for q, t, _, _ in cases])
    for (qid, _, score, why), grade in zip(cases, grades, strict=True):
        assert (qid, grade.score) == (qid, score), grade.explanation
        assert why in grade.explanation


async def test_lcb_per_test_timeout_and_crash(lcb_items: dict[str, Item]) -> None:
    grader = LiveCodeBenchGrader(per_test_timeout_s=1)
    slow = await grader(lcb_items["fx_add"], completion("```python\nwhile True:\n    pass\n```"))
    assert slow.score == 0.0 and "test 1: timed out after 1" in slow.explanation
    crash = await grader(
        lcb_items["fx_pair"], completion("```python\nclass Solution:\n    pass\n```")
    )
    assert crash.score == 0.0 and "no method 'pairSum'" in crash.explanation
    syntax = await grader(lcb_items["fx_add"], completion("```python\ndef (:\n```"))
    assert syntax.score == 0.0 and "compile error" in syntax.explanation


async def test_runs_in_flight_do_not_see_each_others_files() -> None:
    """Inputs travel in close-on-exec memfds: a run started while another is in flight gets only
    its own descriptors (stdio, and its token and report pipes)."""
    if not sandbox.isolation().startswith("bwrap"):
        pytest.skip(f"needs bwrap (isolation={sandbox.isolation()})")
    marker = "avpf" + secrets.token_hex(4)
    first = asyncio.create_task(
        sandbox.run_python(
            f"import ctypes, time\nctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0)\n"
            "time.sleep(30)",
            timeout_s=3,
            files={"a.txt": "x"},
            report=True,
        )
    )
    assert await wait_for(lambda: bool(processes_named(marker)), 60)  # the first is in flight
    probe = "import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))"
    second = await sandbox.run_python(probe, timeout_s=10, files={"b.txt": "y"}, report=True)
    await first
    fds = json.loads(second.stdout)
    assert fds[:3] == [0, 1, 2] and len(fds) == 6, fds  # + token, report, the listing itself
