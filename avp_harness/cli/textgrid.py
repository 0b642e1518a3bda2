"""Plain-text tables that never cut a figure: columns too many for the terminal wrap into
blocks of columns, each repeating the key columns (the model), as `avp status` prints its
model x benchmark matrix. Standard library only (the status path starts fast)."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

GAP = "  "


def terminal_width(default: int = 100) -> int:
    """Columns to fit: $COLUMNS, else the terminal's width, else `default` (pipes, logs)."""
    try:
        if os.environ.get("COLUMNS"):
            return max(20, int(os.environ["COLUMNS"]))
    except ValueError:
        pass
    return max(20, shutil.get_terminal_size((default, 24)).columns)


def wrap_columns(
    header: Sequence[str], rows: Sequence[Sequence[str]], width: int, *, keys: int = 1,
    left: int | None = None,
) -> list[str]:
    """`header` and `rows` as lines no wider than `width` where possible: the first `keys`
    columns (left-aligned) start every block, the other columns (right-aligned, except the
    first `left` columns) are packed into as many blocks as needed, in order. Nothing is cut:
    a single column wider than the room left is printed alone in its block."""
    left = keys if left is None else left
    sizes = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(len(header))]
    key_width = sum(sizes[:keys]) + len(GAP) * max(0, keys - 1)
    blocks: list[list[int]] = []
    used = key_width
    for i in range(keys, len(header)):
        need = len(GAP) + sizes[i]
        if not blocks or used + need > width:
            blocks.append([])
            used = key_width
        blocks[-1].append(i)
        used += need
    if not blocks:
        blocks = [[]]

    def line(cells: Sequence[str], columns: list[int]) -> str:
        parts = []
        for i in [*range(keys), *columns]:
            parts.append(cells[i].ljust(sizes[i]) if i < left else cells[i].rjust(sizes[i]))
        return GAP.join(parts).rstrip()

    out: list[str] = []
    for n, columns in enumerate(blocks):
        if n:
            out.append("")
        head = line(header, columns)
        out.append(head)
        out.append("─" * len(head))
        out.extend(line(row, columns) for row in rows)
    return out


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def matrix_lines(rows: Sequence[Any], width: int) -> list[str]:
    """The model x benchmark matrix of `MatrixRow`s: models as rows, benchmarks as columns, each
    cell `accuracy done/planned` with markers for what needs attention (e failed, u unparsed,
    t truncated, x context exceeded), and each model's dollars over all its benchmarks."""
    models = sorted({r.model for r in rows})
    benches = sorted({r.benchmark for r in rows})
    by_pair = {(r.model, r.benchmark): r for r in rows}
    markers = {"e": 0, "u": 0, "t": 0, "x": 0}
    table = []
    for model in models:
        line = [model]
        spent = 0.0
        for bench in benches:
            r = by_pair.get((model, bench))
            if r is None:
                line.append("-")  # never evaluated on it
                continue
            spent += r.dollars
            done = f"{r.done}/{r.planned}" if r.planned is not None else str(r.done)
            cell = f"{percent(r.accuracy)} {done}"
            for mark, count in (("e", r.errors), ("u", r.unparsed), ("t", r.truncated),
                                ("x", r.context_exceeded)):
                if count:
                    cell += f" {mark}{count}"
                    markers[mark] += count
            line.append(cell)
        line.append(f"{spent:.4f}")
        table.append(line)
    out = wrap_columns(["model", *benches, "dollars"], table, width)
    legend = {"e": "failed (the next run retries them)", "u": "unparsed (scored 0)",
              "t": "truncated at max_tokens", "x": "context exceeded (left out)"}
    shown = [f"{mark}N {legend[mark]}" for mark, n in markers.items() if n]
    out.append("")
    out.extend(textwrap.wrap("cells: accuracy done/planned" + ("; " + ", ".join(shown)
                                                              if shown else ""), width))
    return out


def details_lines(rows: Sequence[Any], width: int) -> list[str]:
    """Every figure of each (benchmark, model) pair, one row each (`avp status --long`)."""
    header = ["benchmark", "model", "done", "accuracy", "unparsed", "truncated",
              "context exceeded", "failed", "dollars", "$/cell", "request latency"]
    table = []
    for r in rows:
        done = f"{r.done}/{r.planned}" if r.planned is not None else str(r.done)
        per_cell = f"{r.dollars / r.done:.5f}" if r.done else "-"
        latency = f"{r.mean_latency_s:.2f}s" if r.mean_latency_s is not None else "-"
        if r.mean_server_time_s is not None:  # the server's own timing, queueing excluded
            latency += f" (server {r.mean_server_time_s:.2f}s)"
        table.append([r.benchmark, r.model, done, percent(r.accuracy), str(r.unparsed),
                      str(r.truncated), str(r.context_exceeded), str(r.errors),
                      f"{r.dollars:.4f}", per_cell, latency])
    return wrap_columns(header, table, width, keys=2)
