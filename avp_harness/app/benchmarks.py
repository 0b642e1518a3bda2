"""What each benchmark is and whether its data is here (`avp benchmarks list|show`, the demo's
suite): the application-layer facts the front ends print."""

from __future__ import annotations

import importlib
from dataclasses import astuple
from pathlib import Path
from typing import Any

from avp_harness.errors import AvpError, DataError

CHEAP_BYTES = 2_000_000  # local data files smaller than this are counted by `benchmarks list`


class _PlaceholderJudge:
    """Lets a judged benchmark build its grader to be described (it is never asked)."""

    model = "<judge from avp.toml>"

    async def ask(self, prompt: str, *, fresh: bool = False) -> Any:  # pragma: no cover
        raise AvpError("the placeholder judge cannot be asked")


def benchmark_module(name: str) -> Any:
    import benchmarks

    target = benchmarks.REGISTRY.get(name)
    if target is None:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(benchmarks.names())}")
    return importlib.import_module(target.partition(":")[0])


def data_present(name: str) -> bool:
    """Whether a registered benchmark's default data is on this machine."""
    import benchmarks

    return benchmarks.get(name).data_status().present


def described_grader(bench: Any) -> Any:
    return bench.grader(_PlaceholderJudge() if bench.needs_judge else None)


def _selection_text(selection: Any) -> str:
    if selection is None:
        return "?"
    if isinstance(selection, str):  # a setup a Selection cannot say (τ²-bench: per domain)
        return selection
    if selection.sample is not None:
        return f"{selection.sample} sampled (seed {selection.seed})"
    if selection.limit is not None:
        return f"first {selection.limit}"
    return "all"


def _data_bytes(where: str) -> int | None:
    """Size of a local data file or folder; None when the data is not a local path."""
    path = Path(where)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return None


def _count(bench: Any, present: bool, where: str, force: bool) -> int | None:
    """Items in the default selection: counted when asked, or when the data is small (a local
    file or folder under CHEAP_BYTES, or data shipped in a package)."""
    size = _data_bytes(where)
    cheap = where.startswith("package ") or (size is not None and size < CHEAP_BYTES)
    if not present or not (force or cheap):
        return None
    from benchmarks import Selection

    try:
        return sum(1 for _ in bench.items(Selection()))
    except DataError:
        return None


def describe(name: str, *, count: bool = False) -> dict[str, Any]:
    """What `avp benchmarks list` shows for one benchmark."""
    import benchmarks

    bench = benchmarks.get(name)
    module = benchmark_module(name)
    grader = described_grader(bench)
    present, where = astuple(bench.data_status())
    return {
        "name": name,
        "version": bench.version,
        "description": bench.description,
        "source": bench.default_source,
        "data_present": present,
        "data": where,
        "items": _count(bench, present, where, count),
        "grader": grader.id,
        "grader_version": grader.version,
        "needs_judge": bench.needs_judge,
        "paper_selection": _selection_text(getattr(module, "PAPER_SELECTION", None)),
    }
