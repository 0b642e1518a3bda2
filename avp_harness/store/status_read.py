"""`avp status`'s read of the store: a current SQLite store is read read-only with the standard
library's sqlite3 (matrix.py's SQL), so the command starts without importing SQLAlchemy and
SQLModel (most of its start-up time); anything else (a URL, a store to migrate, a newer schema)
goes through `Store`, which knows what to do."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from avp_harness.errors import StoreError
from avp_harness.store.matrix import (
    LATEST_PLANS_SQL,
    MATRIX_SQL,
    MatrixRow,
    corrupt_store,
    fold_matrix,
    latest_plan_entries,
)
from avp_harness.store.schema import SCHEMA_VERSION


def read_matrix(db: str, *, check: bool = False) -> list[MatrixRow]:
    """The matrix of store `db` (a path or URL), opened read-only; `check` refuses a corrupt
    SQLite store in one line, as `Store.open(check=True)` does."""
    if "://" not in db:
        path = Path(db).expanduser().resolve()
        if not path.exists():
            raise StoreError(f"no store at {path} (run `avp run` or `avp demo` first)")
        rows = _sqlite_matrix(path, check)
        if rows is not None:
            return rows
    from avp_harness.store.store import Store

    with Store.open(db, create=False, check=check) as store:
        return store.matrix()


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (immutable when the folder cannot hold a WAL index, as on a
    read-only mount: nobody can be writing it)."""
    shm = Path(f"{path}-shm")
    mode = "mode=ro" if shm.exists() or os.access(path.parent, os.W_OK) else "immutable=1"
    connection = sqlite3.connect(f"file:{path}?{mode}", uri=True, timeout=30)
    try:
        connection.execute("PRAGMA busy_timeout=30000")
        yield connection
    finally:
        connection.close()


def _sqlite_matrix(path: Path, check: bool) -> list[MatrixRow] | None:
    """The matrix read with sqlite3, or None when the store is not current (`Store` then
    migrates it, or refuses a newer one)."""
    try:
        with _read_only(path) as connection:
            if check:
                _quick_check(connection, path)
            tables = {name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"meta", "cells", "plans"} <= tables:
                return None
            version = connection.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or int(version[0]) != SCHEMA_VERSION:
                return None
            plans = latest_plan_entries(connection.execute(LATEST_PLANS_SQL))
            return fold_matrix(connection.execute(MATRIX_SQL), plans)
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc):  # an older store: `Store` adds the column
            return None
        raise StoreError(f"cannot open store {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open store {path}: {exc}") from None


def _quick_check(connection: sqlite3.Connection, path: Path) -> None:
    found = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
    if found != ["ok"]:
        raise corrupt_store(found, str(path))
