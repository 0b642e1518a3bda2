"""Dollars a cell costs beyond its answer's own call: judge calls (whatever their verdict) and the
calls of a simulation given up half-way, which no stored answer carries.

The collector sets a fresh list in `CELL_SPEND` before it processes each cell and settles the sum
against the budget afterwards; whoever pays for such a call while that cell is processed calls
`add()`. Tasks started while a cell is processed inherit its list (context variables), so a call
shared by concurrent asks is counted once, for the cell that made it.
"""

from __future__ import annotations

from contextvars import ContextVar

CELL_SPEND: ContextVar[list[float] | None] = ContextVar("avp_cell_spend", default=None)


def add(*dollars: float | None) -> None:
    """Count these dollars for the cell being processed (none outside a collector run)."""
    spend = CELL_SPEND.get()
    if spend is not None:
        spend.extend(d for d in dollars if d)
