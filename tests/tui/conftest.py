"""Fixtures for the TUI tests: a real runs.db filled by the collector from the simulated provider,
with a TF-IDF router fitted on it by `avp fit` (so every screen has real data to show)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from avp_harness.cli import main
from avp_harness.cli.collect_cmds import demo_config
from avp_harness.collect.runner import Collector
from avp_harness.sim.server import SimServer
from avp_harness.store import Store

MODELS = ("sim/atlas-xl", "sim/flash-mini", "sim/mid-pro")


def sim_config(base_url: str, db: str, arc: int = 12, models: tuple[str, ...] = MODELS) -> Any:
    from dataclasses import replace

    config = demo_config(base_url, db, arc=arc, humaneval=0)
    config = replace(config, benchmarks=tuple(b for b in config.benchmarks
                                              if b.name == "arc_agi"))
    return replace(config, models=tuple(m for m in config.models if m.id in models))


@pytest.fixture(scope="session")
def sim() -> Any:
    with SimServer(latency_scale=0.0) as server:
        yield server


@pytest.fixture(scope="session")
def filled_db(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """12 ARC tasks x 3 simulated models, collected for real, plus router `tfidf2`."""
    db = str(tmp_path_factory.mktemp("tui") / "runs.db")
    config = sim_config(sim.base_url, db)

    async def collect() -> None:
        with Store.open(db) as store:
            await Collector(config, store, backoff_initial_s=0.01, backoff_max_s=0.05).run()

    asyncio.run(collect())
    code = main(["fit", "--db", db, "--name", "tfidf2", "--embedding", "tfidf",
                 "--clusters", "2", "--top-k", "1"])
    assert code == 0
    return db


def copy_store(source: str, target: Path) -> None:
    """A consistent copy of a SQLite store: SQLite's backup, so what still sits in the source's
    write-ahead log (a router just fitted) is copied too, which copying the file alone loses."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture
def db_copy(filled_db: str, tmp_path: Path) -> str:
    """A private copy of the filled store (tests that write must not disturb the others)."""
    target = tmp_path / "runs.db"
    copy_store(filled_db, target)
    return str(target)
