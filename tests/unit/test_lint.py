"""The tree stays ruff-clean and mypy-clean (the settings in pyproject.toml), so `make lint` is
never a surprise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    paths = ["avp_harness", "benchmarks", "graders", "tests", "perf"]
    out = subprocess.run([str(ruff), "check", "--output-format", "concise", *paths],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(660)
def test_mypy_finds_nothing() -> None:
    # The project's settings ([tool.mypy] in pyproject.toml, read from the root) and its default
    # cache (.mypy_cache, as `make lint`): incremental runs are quick, a cold one (CI) ~1 min.
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "avp_harness", "benchmarks", "graders"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
