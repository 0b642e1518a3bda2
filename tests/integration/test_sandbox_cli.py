"""`avp sandbox run` and `avp sandbox check` through the real CLI entry point."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from avp_harness.cli import main as avp_main
from graders import sandbox

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = avp_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_what_happened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    program = tmp_path / "hello.py"
    program.write_text(
        "import sys\nprint('hi', input())\nsys.stderr.write('E' * 5000)\nsys.exit(3)\n"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("there\n"))
    code, out, err = run(capsys, "sandbox", "run", str(program), "--timeout", "10")
    assert code == 0, err
    report = json.loads(out)
    assert report["exit_code"] == 3 and report["killed_reason"] is None
    assert report["stdout"] == "hi there\n"
    assert len(report["stderr"]) == 2000 and report["stderr_chars"] == 5000  # an excerpt
    assert report["isolation"] == sandbox.isolation()
    if "cgroup" in report["isolation"]:
        assert report["peak_memory_bytes"] > 0 and report["cpu_s"] >= 0


def test_run_reports_the_kill_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "sleepy.py"
    program.write_text("import time\nwhile True:\n    time.sleep(0.05)\n")
    code, out, _ = run(capsys, "sandbox", "run", str(program), "--timeout", "1", "--no-stdin")
    report = json.loads(out)
    assert code == 0 and report["killed_reason"] == "wall_timeout" and report["exit_code"] is None


def test_run_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sandbox", "run", str(tmp_path / "missing.py"))
    assert code == 2 and out == "" and err.startswith("avp: error:") and err.count("\n") == 1
    program = tmp_path / "ok.py"
    program.write_text("print(1)\n")
    code, _, err = run(capsys, "sandbox", "run", str(program), "--timeout", "0")
    assert code == 2 and "must be positive" in err


def test_check_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    if not sandbox.isolation().startswith("bwrap"):
        pytest.skip(f"bwrap unusable here: {sandbox.isolation_notes()}")
    code, out, _ = run(capsys, "sandbox", "check", "--only", "host_files", "--only", "sysv_shm")
    assert code == 0, out
    assert f"isolation: {sandbox.isolation()}" in out
    assert "host_files" in out and "sysv_shm" in out and "2/2 contained" in out
    code, out, _ = run(capsys, "sandbox", "check", "--only", "user_namespace", "--json")
    rows = json.loads(out)["attacks"]
    assert code == 0 and [(r["name"], r["contained"]) for r in rows] == [("user_namespace", True)]


def test_check_fails_when_something_is_not_contained(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = sandbox._Setup(bwrap=False, cgroups={}, label="rlimits-only", notes=("forced",))
    monkeypatch.setattr(sandbox, "_setup", lambda: fallback)
    code, out, _ = run(capsys, "sandbox", "check", "--only", "host_files", "--only", "disk_fill")
    assert code == 1
    assert "fallback: forced" in out and "NOT CONTAINED" in out and "0/2 contained" in out
    assert "not run" in out  # filling the host disk is not attempted without bwrap


def test_check_unknown_attack(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sandbox", "check", "--only", "nope")
    assert code == 2 and "unknown attack" in err
