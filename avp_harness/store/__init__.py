"""The store: SQLModel tables (tables.py), engine factory and typed queries (store.py), and the
matrix `avp status` prints (matrix.py, readable with the standard library alone).

No SQL anywhere else in the project. The names below are imported on first use, so a command
that only reads the matrix of a SQLite store never imports SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from avp_harness.store.matrix import MatrixRow, PlanEntry
from avp_harness.store.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from avp_harness.store.store import Store, database_url, describe_failure, make_engine

_LAZY = {"Store", "database_url", "describe_failure", "make_engine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("avp_harness.store.store"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SCHEMA_VERSION",
    "MatrixRow",
    "PlanEntry",
    "Store",
    "database_url",
    "describe_failure",
    "make_engine",
]
