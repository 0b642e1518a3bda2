"""`avp sandbox run FILE.py` and `avp sandbox check`: the code sandbox on its own."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from avp_harness.errors import AvpError

EXCERPT = 2000  # characters of stdout / stderr shown by `sandbox run`

RUN_EPILOG = """\
prints one JSON object: exit_code (null when killed), killed_reason (wall_timeout, cpu_limit,
memory, file_size, killed or null), isolation, peak_memory_bytes and cpu_s (null without a
cgroup), wall_s, and the first 2,000 characters of stdout and stderr.

example:
  avp sandbox run solution.py --timeout 5 < input.txt
"""

CHECK_EPILOG = """\
Runs the built-in attack suite (graders/sandbox_attacks.py) against this machine's sandbox and
prints one row per attack: contained or NOT CONTAINED, and what was seen. Exit code 1 when
something is not contained (attacks that would harm the host without the isolation they rely on
are not run and count as not contained).
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    box = subparsers.add_parser(
        "sandbox",
        help="run a file in the code sandbox, or check what it contains on this machine",
        description="The sandbox that runs every code answer: bubblewrap namespaces, a cgroup "
        "and rlimits where the machine allows them (see README, 'Code sandbox').",
    )
    actions = box.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="run FILE.py in the sandbox and print what happened as JSON",
        description="Run a Python file in a fresh sandbox (standard library only), with this "
        "command's stdin as its stdin.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("file", help="the Python file to run")
    run.add_argument("--timeout", type=float, default=10.0, help="wall-clock seconds (10)")
    run.add_argument("--memory", type=int, default=None, help="MiB for the run (1024)")
    run.add_argument("--no-stdin", action="store_true", help="give the program an empty stdin")
    run.set_defaults(func=cmd_run)
    check = actions.add_parser(
        "check",
        help="run the attack suite; a contained / NOT CONTAINED table for this machine",
        description="Run the sandbox's attack suite on this machine.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    check.add_argument("--only", action="append", help="run only this attack (repeatable)")
    check.set_defaults(func=cmd_check)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio  # here, not at module level: `avp --help` starts faster

    from graders import sandbox

    path = Path(args.file)
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AvpError(f"{path}: cannot read: {exc}") from exc
    if args.timeout <= 0 or (args.memory is not None and args.memory <= 0):
        raise AvpError("--timeout and --memory must be positive")
    stdin = "" if args.no_stdin or sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    memory = args.memory or sandbox.DEFAULT_MEMORY_MB
    result = asyncio.run(
        sandbox.run_python(code, stdin=stdin, timeout_s=args.timeout, memory_mb=memory)
    )
    print(
        json.dumps(
            {
                "file": str(path),
                "exit_code": result.exit_code,
                "killed_reason": result.killed_reason,
                "timed_out": result.timed_out,
                "isolation": result.isolation,
                "peak_memory_bytes": result.peak_memory_bytes,
                "cpu_s": None if result.cpu_s is None else round(result.cpu_s, 3),
                "wall_s": round(result.wall_s, 3),
                "stdout": result.stdout[:EXCERPT],
                "stderr": result.stderr[:EXCERPT],
                "stdout_chars": len(result.stdout),
                "stderr_chars": len(result.stderr),
            },
            indent=2,
        )
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio  # here, not at module level: `avp --help` starts faster

    from graders import sandbox
    from graders.sandbox_attacks import ATTACKS, run_attack

    known = {a.name for a in ATTACKS}
    unknown = sorted(set(args.only or []) - known)
    if unknown:
        raise AvpError(f"unknown attack(s) {unknown}; known: {', '.join(sorted(known))}")
    chosen = [a for a in ATTACKS if not args.only or a.name in args.only]

    async def run_all() -> list[tuple[str, str, bool, str]]:
        rows = []
        for attack in chosen:
            outcome = await run_attack(attack, Path.cwd())
            rows.append((attack.name, attack.what, outcome.contained, outcome.detail))
        return rows

    rows = asyncio.run(run_all())
    failed = [name for name, _, contained, _ in rows if not contained]
    if args.json:
        print(
            json.dumps(
                {
                    "isolation": sandbox.isolation(),
                    "notes": list(sandbox.isolation_notes()),
                    "attacks": [
                        {"name": n, "what": w, "contained": c, "detail": d} for n, w, c, d in rows
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"isolation: {sandbox.isolation()}")
        for note in sandbox.isolation_notes():
            print(f"  fallback: {note}")
        width = max(len(n) for n, *_ in rows)
        for name, what, contained, detail in rows:
            verdict = "contained" if contained else "NOT CONTAINED"
            print(f"{name:<{width}}  {verdict:<13}  {what}: {detail}")
        print(f"{len(rows) - len(failed)}/{len(rows)} contained")
    return 1 if failed else 0
