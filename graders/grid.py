"""ARC-AGI grid grader: exact match of every predicted output grid.

The model answers in free text. We look for JSON arrays in it (inside ```json fences or inline;
whitespace and newlines inside arrays are fine) and prefer the LAST parseable candidate:

- one test input: a grid (list of lists of ints), or a list holding exactly one grid;
- several test inputs: a list of grids in order, or else the last N separate grids in the text.

Score 1.0 when every grid equals its target exactly (shape and cells), else 0.0. `parsed` is False
when no grid could be found. This runs on the collector's hot path: first the span closing at the
last `]` is tried (time proportional to the answer, not the text); only if that is not an answer,
all bracket characters are scanned with one regex and balanced spans are tried, outermost and last
first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from avp_harness.types import Completion, Grade, Item, canonical_json

GRADER_ID = "grid"
GRADER_VERSION = "1"

Grid = list[list[int]]
_BRACKETS = re.compile(r"[\[\]]")


_INT_ONLY = {int}


def _is_grid(value: Any) -> bool:
    # set(map(type, row)) == {int}: a non-empty row of ints only (not bools), checked in C
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(row, list) and set(map(type, row)) == _INT_ONLY for row in value)
    )


def _is_grid_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(_is_grid(g) for g in value)


def _spans(text: str) -> list[tuple[int, int]]:
    """Balanced [...] spans, ordered last-ending first and, for equal ends, outermost first."""
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    for match in _BRACKETS.finditer(text):
        if match.group() == "[":
            stack.append(match.start())
        elif stack:
            spans.append((stack.pop(), match.end()))
    spans.sort(key=lambda s: (-s[1], s[0]))
    return spans


def _last_span(text: str) -> tuple[int, int] | None:
    """The balanced [...] span that ends at the last `]` (brackets scanned backwards)."""
    depth, n = 0, len(text)
    end = n
    for match in _BRACKETS.finditer(text[::-1]):
        depth += 1 if match.group() == "]" else -1
        if depth == 0:
            return n - match.end(), end
        if depth == 1 and match.group() == "]":
            end = n - match.start()
        if depth < 0:
            depth = 0
    return None


def _fast_path(text: str, n_expected: int) -> list[Grid] | None:
    """The common case, in time proportional to the answer: the last span is the whole answer."""
    span = _last_span(text)
    if span is None:
        return None
    try:
        value = json.loads(text[span[0] : span[1]])
    except ValueError:
        return None
    if n_expected == 1 and _is_grid(value):
        return [value]
    if _is_grid_list(value) and (n_expected > 1 or len(value) == 1):
        return list(value)
    return None


def parse_grids(text: str, n_expected: int) -> list[Grid] | None:
    """The answer grids found in `text` (see the module docstring), or None when there are none."""
    fast = _fast_path(text, n_expected)
    if fast is not None:
        return fast
    loose: list[tuple[int, Grid]] = []  # single grids, for the "N separate grids" fallback
    taken_until = len(text) + 1  # start of the earliest grid kept in `loose`
    for start, end in _spans(text):
        if start >= taken_until:  # nested inside a grid already kept
            continue
        if n_expected > 1 and len(loose) >= n_expected:
            break
        candidate = text[start:end]
        if candidate.count("[") < 2:  # a row or a flat list: never an answer by itself
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if _is_grid_list(value) and (n_expected > 1 or len(value) == 1) and not loose:
            return [list(g) for g in value]
        if _is_grid(value):
            if n_expected == 1:
                return [value]
            loose.append((start, value))
            taken_until = start
    if loose:
        return [grid for _, grid in sorted(loose)[-n_expected:]]
    return None


def _describe(predicted: Grid, expected: Grid) -> str | None:
    """None when equal, else why not (shape first, then how many cells differ)."""
    if predicted == expected:
        return None
    p_shape = (len(predicted), max(len(r) for r in predicted))
    e_shape = (len(expected), max(len(r) for r in expected))
    ragged = any(len(r) != p_shape[1] for r in predicted)
    if p_shape != e_shape or ragged:
        got = f"{p_shape[0]}x{p_shape[1]}{' (ragged)' if ragged else ''}"
        return f"shape {got} != expected {e_shape[0]}x{e_shape[1]}"
    cells = e_shape[0] * e_shape[1]
    differ = sum(
        a != b
        for pr, er in zip(predicted, expected, strict=True)
        for a, b in zip(pr, er, strict=True)
    )
    return f"{differ} of {cells} cells differ"


def grade_grids(text: str, targets: list[Grid]) -> Grade:
    """Grade one answer against the expected output grids (one per test input, in order)."""
    grids = parse_grids(text, len(targets))
    if grids is None:
        return Grade(
            0.0, None, "no output grid found in the answer", GRADER_ID, GRADER_VERSION, parsed=False
        )
    extracted = canonical_json(grids[0] if len(targets) == 1 else grids)
    if len(grids) != len(targets):
        why = f"expected {len(targets)} grids, got {len(grids)}"
        return Grade(0.0, extracted, why, GRADER_ID, GRADER_VERSION)
    problems = [
        f"grid {i + 1}: {problem}"
        for i, (p, e) in enumerate(zip(grids, targets, strict=True))
        if (problem := _describe(p, e)) is not None
    ]
    if problems:
        return Grade(0.0, extracted, "; ".join(problems), GRADER_ID, GRADER_VERSION)
    noun = "grid matches" if len(targets) == 1 else f"all {len(targets)} grids match"
    return Grade(1.0, extracted, f"{noun} exactly", GRADER_ID, GRADER_VERSION)


class GridGrader:
    """`Grader` for ARC-AGI items: `item.target` is the list of expected output grids."""

    id = GRADER_ID
    version = GRADER_VERSION

    async def __call__(self, item: Item, completion: Completion) -> Grade:
        return grade_grids(completion.text, item.target)
