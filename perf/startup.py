"""Start-up time of the `avp` command, as ratios to a bare `python -c pass`, measured in one run.

    .venv/bin/python perf/startup.py [--runs 7] [--db runs.db]

Times, as the median of --runs wall-clock runs each (interleaved, so load hits all alike):
`python -c pass`, `avp --help`, `avp fit --help`, and `avp status` on a small store (made with
`avp demo --arc 2 --humaneval 0` on the simulated provider in a temporary folder unless --db is
given), and `avp status` in a folder whose ./avp.toml (written by `avp init`) names the store.
Targets (issue 14): `avp --help` and `avp status` under 0.5 s and <= 8x `python -c pass`.
`avp status` reads a current SQLite store with the standard library's sqlite3 (store/matrix.py),
never importing SQLAlchemy + SQLModel, which alone cost many times a bare interpreter
(`python -c "import sqlmodel"` is printed beside it for that reason); reading `db` from avp.toml
imports avp_harness.config (pydantic). Then the slowest imports of `avp --help` and `avp status`
(`python -X importtime`). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
AVP = [PY, "-m", "avp_harness.cli"]


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def slowest_imports(cwd: Path, args: list[str], n: int = 8) -> list[tuple[int, str]]:
    """The top-level imports of `avp ARGS` with the largest cumulative time (microseconds)."""
    out = subprocess.run([PY, "-X", "importtime", *AVP[1:], *args], cwd=cwd,
                         capture_output=True, text=True, check=True).stderr
    rows = []
    for line in out.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            if not name.startswith("  "):  # imported by the script itself, not by another module
                rows.append((int(parts[1]), name.strip()))
    return sorted(rows, reverse=True)[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (default 7)")
    parser.add_argument("--db", default=None, help="store for `avp status` (default: a demo one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="avp-startup-") as tmp:
        cwd = Path(tmp)
        db = args.db and os.path.abspath(args.db)
        if db is None:
            subprocess.run([*AVP, "demo", "--dir", tmp, "--arc", "2", "--humaneval", "0",
                            "--faults", "", "--progress", "none", "--latency-scale", "0"],
                           cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            db = str(cwd / "runs.db")
        project = cwd / "project"
        project.mkdir()
        subprocess.run([*AVP, "init"], cwd=project, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        toml = project / "avp.toml"
        toml.write_text(re.sub(r'(?m)^db = .*$', f"db = {json.dumps(db)}",
                               toml.read_text(encoding="utf-8"), count=1), encoding="utf-8")
        commands = {
            "python -c pass": [PY, "-c", "pass"],
            'python -c "import sqlmodel"': [PY, "-c", "import sqlmodel"],
            "avp --help": [*AVP, "--help"],
            "avp fit --help": [*AVP, "fit", "--help"],
            "avp status": [*AVP, "status", "--db", db],
            "avp status (db in ./avp.toml)": [*AVP, "status"],
        }
        where = {name: project if "avp.toml" in name else cwd for name in commands}
        for name, cmd in commands.items():  # warm the file cache and .pyc files
            wall(cmd, where[name])
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(wall(cmd, where[name]))
        median = {name: statistics.median(t) for name, t in times.items()}
        base = median["python -c pass"]
        print(f"median of {args.runs} runs each (target: avp --help and avp status < 0.5 s, "
              f"<= 8x python -c pass)")
        for name, m in median.items():
            print(f"  {name:30} {m * 1000:7.0f} ms  {m / base:5.1f}x python -c pass")
        for args_ in (["--help"], ["status", "--db", db]):
            print(f"slowest imports of `avp {args_[0]}` (cumulative, python -X importtime):")
            for us, name in slowest_imports(cwd, args_):
                print(f"  {us / 1000:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
