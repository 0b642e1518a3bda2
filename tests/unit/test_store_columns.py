"""A store created before a nullable column was added gains it in place when opened."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from avp_harness.store import Store


def test_an_older_store_gains_the_server_time_column(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    with Store.open(db) as store, store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE cells DROP COLUMN server_time_s"))
    with Store.open(db) as store:
        columns = {c["name"] for c in inspect(store.engine).get_columns("cells")}
        assert "server_time_s" in columns
        assert store.matrix() == []  # the queries that read it work
