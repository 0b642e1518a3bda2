"""The store: SQLModel tables (tables.py), engine factory and typed queries (store.py).

No SQL anywhere else in the project.
"""

from avp_harness.store.store import (
    MatrixRow,
    PlanEntry,
    Store,
    database_url,
    describe_failure,
    make_engine,
)
from avp_harness.store.tables import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "MatrixRow",
    "PlanEntry",
    "Store",
    "database_url",
    "describe_failure",
    "make_engine",
]
