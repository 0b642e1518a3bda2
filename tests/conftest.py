"""Shared test helpers: where the real data lives, and a skip for when it is absent."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data relative to the project root (CI always has it); AVP_SHARED_DATA overrides.
SHARED_DATA = Path(os.environ.get("AVP_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, skipping the calling test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    return path


@contextlib.contextmanager
def sim_with_fixture_benchmarks(log: Path, extra: dict[str, str]) -> Iterator[Any]:
    """The simulated provider answering benchmarks defined in test modules (`extra`: name ->
    "module:ATTRIBUTE"); its subprocess imports them, so the repository goes on PYTHONPATH."""
    from avp_harness.sim.server import SimServer

    with pytest.MonkeyPatch.context() as patch:
        path = os.environ.get("PYTHONPATH", "")
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), path])))
        server = SimServer(latency_scale=0.0, log_path=log, extra_benchmarks=extra,
                           index_only=list(extra)).start()
    try:
        yield server
    finally:
        server.stop()
