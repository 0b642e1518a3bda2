"""The cost-accuracy figures of `avp sweep --plot` and `avp compare --plot`: matplotlib (the
optional `plot` extra) is imported only when a figure is drawn."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from avp_harness.errors import RouterError


@contextmanager
def figure(
    path: Path, xlabel: str, ylabel: str, size: tuple[float, float] = (8, 5)
) -> Iterator[Any]:
    """Axes on a new figure, labelled, with legend and grid added and the PNG written to `path`
    when the block ends (one line for a missing matplotlib or an unwritable path)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RouterError("--plot needs matplotlib: pip install 'avp-harness[plot]'") from None
    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except OSError as exc:
        raise RouterError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)
