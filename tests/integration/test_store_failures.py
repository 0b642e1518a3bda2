"""A call is made only when its result can be kept: a store that stops accepting writes (a real
full filesystem, a real read-only mount) stops the collector at once, and stays valid."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from avp_harness.collect.runner import Collector
from avp_harness.errors import StoreWriteError
from avp_harness.sim.server import SimServer
from avp_harness.store import Store
from tests.integration.test_collector import ATLAS, FLASH, make_config, requests_for

pytestmark = pytest.mark.integration

CONCURRENCY = 4


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    # calls take tens of milliseconds, so calls are in flight when the disk fills
    with SimServer(latency_scale=0.03, log_path=log) as server:
        yield server


def _mount(args: list[str], target: Path) -> None:
    done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a test filesystem here ({done.stderr.strip() or 'no root'})")


@contextlib.contextmanager
def mounted(args: list[str], target: Path) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs / a read-only bind mount needs root")
    _mount(args, target)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def integrity(path: Path, read_only: bool = False) -> str:
    target = f"file:{path}?immutable=1" if read_only else f"file:{path}"
    with contextlib.closing(sqlite3.connect(target, uri=True)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def fill(folder: Path, leave: int) -> None:
    """Fill the filesystem of `folder` so that about `leave` bytes remain free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "filler", "wb") as out:
        out.write(b"\0" * max(free - leave, 0))


async def test_full_disk_stops_the_run_at_the_first_failed_commit(
    sim: Any, tmp_path: Path
) -> None:
    with mounted(["-t", "tmpfs", "-o", "size=8m", "tmpfs"], tmp_path / "disk") as disk:
        db = str(disk / "runs.db")
        provider = {"max_concurrency": CONCURRENCY}
        # a first run stores the items; then the disk is filled but for a few pages
        setup = make_config(sim.base_url, db, [FLASH], arc=40, provider=provider)
        with Store.open(db) as store:
            await Collector(setup, store).run()
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        fill(disk, leave=128 * 1024)
        config = make_config(sim.base_url, db, [FLASH, ATLAS], arc=40, provider=provider)
        store = Store.open(db)
        failed_at: list[float] = []
        real = store.record_results

        def spy(batch: Any) -> None:  # the real commit; notes when the first one failed
            try:
                real(batch)
            except Exception:
                failed_at.append(time.time())
                raise

        store.record_results = spy  # type: ignore[method-assign]
        since = time.time()
        try:
            with pytest.raises(StoreWriteError) as raised:
                await Collector(config, store).run()
        finally:
            store.close()
        message = str(raised.value)
        assert "full" in message and str(disk / "runs.db") in message and "\n" not in message
        assert failed_at, "no commit failed: the disk was not full"
        made = requests_for(sim, since)
        assert 0 < len(made) < 40  # the failure came mid-run ...
        after = [e for e in made if e["time"] > failed_at[0]]
        assert len(after) <= CONCURRENCY  # ... and stopped it at once
        assert integrity(disk / "runs.db") == "ok"


def test_read_only_store_makes_no_call_and_exits_4(sim: Any, tmp_path: Path) -> None:
    rw = tmp_path / "rw"
    rw.mkdir()
    db = str(rw / "runs.db")
    config = make_config(sim.base_url, db, [FLASH], arc=3)
    import asyncio

    with Store.open(db) as store:
        asyncio.run(Collector(config, store).run())
    toml = tmp_path / "avp.toml"
    toml.write_text(
        f'[providers.sim]\nbase_url = "{sim.base_url}"\n\n'
        f'[[models]]\nid = "{FLASH}"\nprovider = "sim"\n\n'
        f'[[models]]\nid = "{ATLAS}"\nprovider = "sim"\n\n'
        '[[benchmarks]]\nname = "arc_agi"\nlimit = 3\n'
    )
    with mounted(["--bind", "-o", "ro", str(rw)], tmp_path / "ro") as ro:
        if os.access(ro, os.W_OK):
            pytest.skip("the bind mount is not read-only here")
        since = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "avp_harness.cli", "run", "--config", str(toml),
             "--db", str(ro / "runs.db"), "--progress", "none"],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 4, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "read-only" in done.stderr or "readonly" in done.stderr
        assert requests_for(sim, since) == []
        assert integrity(ro / "runs.db", read_only=True) == "ok"
        # read commands open it read-only
        status = subprocess.run(
            [sys.executable, "-m", "avp_harness.cli", "status", "--db", str(ro / "runs.db")],
            capture_output=True, text=True, timeout=120,
        )
        assert status.returncode == 0, status.stderr
        assert FLASH in status.stdout


async def test_lost_database_stops_the_run_at_the_first_failed_write(
    sim: Any, tmp_path: Path
) -> None:
    from tests.integration.conftest import PgServer

    try:
        import psycopg  # noqa: F401

        server = PgServer()  # its own server: this test stops it
        server.start()
    except (ImportError, RuntimeError, OSError) as exc:
        pytest.skip(f"no PostgreSQL server here: {exc}")
    try:
        url = server.new_database()
        config = make_config(sim.base_url, url, [FLASH, ATLAS], arc=40,
                             provider={"max_concurrency": CONCURRENCY})
        store = Store.open(url)
        failed_at: list[float] = []
        for name in ("record_results", "claim_cells", "renew_claims"):
            real = getattr(store, name)

            def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                try:
                    return _real(*args, **kwargs)
                except Exception:
                    failed_at.append(time.time())
                    raise

            setattr(store, name, spy)
        import asyncio

        task = asyncio.create_task(Collector(config, store).run())
        deadline = time.time() + 60
        while time.time() < deadline and not task.done():
            with Store.open(url, create=False) as reader:
                if reader.count_cells() >= 10:
                    break
            await asyncio.sleep(0.05)
        since = time.time()
        server.stop()  # the database goes away mid-run
        with pytest.raises(StoreWriteError) as raised:
            await task
        store.engine.dispose()
    finally:
        server.stop()
    message = str(raised.value)
    assert "\n" not in message and "postgresql+psycopg://postgres@127.0.0.1" in message
    assert failed_at and failed_at[0] >= since
    made = requests_for(sim, since)
    assert len([e for e in made if e["time"] > failed_at[0]]) <= CONCURRENCY
