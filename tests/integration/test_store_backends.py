"""The store's contract on both backends (a SQLite file, a real PostgreSQL database), and an
old (schema 1) store opened by this version."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from avp_harness.store import SCHEMA_VERSION, PlanEntry, Store
from avp_harness.types import Status
from tests.unit.test_store import result

pytestmark = pytest.mark.integration


def test_answers_then_grades_ok_is_final_attempts_add_up(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.start_run([PlanEntry("m1", "bench", "c1", "1", 3)])
        graded = result("a", Status.OK, score=1.0, attempts=2)
        answered = replace(graded, status=Status.ANSWERED, grade=None)
        store.record_results([answered, result("b", Status.TIMEOUT)])
        (row,) = store.matrix()
        # an answer waiting for its grade is paid for (dollars) but neither done nor failed
        assert (row.done, row.errors, row.by_status) == (0, 1, {"answered": 1, "timeout": 1})
        assert row.dollars == pytest.approx(0.01)
        assert store.ok_cells(["c1"]) == set()
        stored = store.answered_completions(["c1"])
        assert stored[("fp-m1-c1-a", 0)].text == "Answer: A"
        assert stored[("fp-m1-c1-a", 0)].usage.prompt_tokens == 10
        store.record_results([replace(graded, attempts=0)])  # its grade: no new attempt
        store.record_results([result("a", Status.ERROR)])  # ok is final
        rows = {r.item_id: r for r in store.cells()}
        assert rows["a"].status == "ok" and rows["a"].attempts == 2 and rows["a"].score == 1.0
        assert store.answered_completions(["c1"]) == {}
        assert store.ok_cells(["c1"]) == {("fp-m1-c1-a", 0)}


def test_finished_cells_leave_the_claims(store_url: str) -> None:
    with Store.open(store_url) as store:
        ok, failed, waiting = (result("a", Status.OK), result("b", Status.ERROR),
                               replace(result("c", Status.OK), status=Status.ANSWERED))
        keys = [(r.key.fingerprint, 0) for r in (ok, failed, waiting)]
        store.enqueue_claims([(fp, n, "c1") for fp, n in keys])
        claimed, _, _ = store.claim_cells("me", keys, 10, lease_s=60)
        assert claimed == keys
        store.record_results([ok, failed, waiting])
        assert store.claims_by_owner() == {"me": 1}  # the answer still waits for its grade
        store.enqueue_claims([(fp, n, "c1") for fp, n in keys])  # a new collector offers all
        claimed, gone, _ = store.claim_cells("next", keys, 10, lease_s=60)
        assert claimed == [keys[1]] and gone == {keys[0]}  # ok is never claimed again


def test_a_context_exceeded_cell_is_finished_for_the_claims_too(store_url: str) -> None:
    with Store.open(store_url) as store:
        rejected = result("a", Status.CONTEXT_EXCEEDED)
        key = (rejected.key.fingerprint, 0)
        store.enqueue_claims([(*key, "c1")])
        assert store.claim_cells("me", [key], 10, lease_s=60)[0] == [key]
        store.record_results([rejected])
        assert store.claims_by_owner() == {}
        store.enqueue_claims([(*key, "c1")])  # a new collector offers it again
        claimed, gone, _ = store.claim_cells("next", [key], 10, lease_s=60)
        assert claimed == [] and gone == {key}  # final like ok: never sent again


def test_stale_runs(store_url: str) -> None:
    with Store.open(store_url) as store:
        old = store.start_run([], owner="h:1:a")
        fresh = store.start_run([], owner="h:2:b")
        time.sleep(0.01)
        assert store.mark_stale_runs(1e-3, lambda owner: False) == [old, fresh]
        dead = store.start_run([], owner="h:3:c")
        assert store.mark_stale_runs(60, lambda owner: owner == "h:3:c") == [dead]
        assert {r.id: r.status for r in store.runs()}[dead] == "interrupted"


def test_schema_1_store_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with Store.open(str(path)) as store:
        store.start_run([])
        store.record_results([result("a", Status.OK)])
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:  # as version 1 left it
        conn.execute("DROP TABLE claims")
        conn.execute("DROP INDEX ix_cells_fingerprint")
        conn.execute("ALTER TABLE runs DROP COLUMN owner")
        conn.execute("ALTER TABLE runs DROP COLUMN heartbeat_at")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Store.open(str(path), create=False) as store:
        assert store.schema_version() == SCHEMA_VERSION
        (run,) = store.runs()
        assert run.owner == "" and run.heartbeat_at is None
        assert store.ok_cells(["c1"]) == {("fp-m1-c1-a", 0)}
        assert store.claims_by_owner() == {}


def test_schema_1_store_without_newer_nullable_columns_opens(tmp_path: Path) -> None:
    """Older still: schema 1 and no cells.server_time_s (added in place by main's rule)."""
    path = tmp_path / "runs.db"
    with Store.open(str(path)) as store:
        store.start_run([])
        store.record_results([result("a", Status.OK)])
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE claims")
        conn.execute("DROP INDEX ix_cells_fingerprint")
        conn.execute("ALTER TABLE runs DROP COLUMN owner")
        conn.execute("ALTER TABLE runs DROP COLUMN heartbeat_at")
        conn.execute("ALTER TABLE cells DROP COLUMN server_time_s")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Store.open(str(path)) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert len(store.matrix()) == 1  # the queries reading server_time_s work
        assert store.ok_cells(["c1"]) == {("fp-m1-c1-a", 0)}
        assert store.claims_by_owner() == {}


def test_live_figures_count_an_answer_awaiting_its_grade_as_neither_done_nor_failed(
    store_url: str,
) -> None:
    from avp_harness.store.cells import LiveAggregator

    with Store.open(store_url) as store:
        store.start_run([PlanEntry("m1", "bench", "c1", "1", 2)])
        graded = result("a", Status.OK)
        live = LiveAggregator(store)
        store.record_results([replace(graded, status=Status.ANSWERED, grade=None)])
        snap = live.refresh()
        assert (snap.done, snap.errors) == (0, 0)
        store.record_results([replace(graded, attempts=0)])
        snap = live.refresh()
        assert (snap.done, snap.errors) == (1, 0)
