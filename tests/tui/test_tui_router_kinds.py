"""A kind that needs stored responses, fitted on cells collected from the simulated provider."""

from __future__ import annotations

import numpy as np

from avp_harness.cli import main
from avp_harness.routing.base import registered
from avp_harness.store import Store
from avp_harness.store.routing import response_table, score_table
from tests.example_router import BY_RESPONSE


def test_the_stored_responses_reach_fit(db_copy: str, tmp_path, capsys) -> None:
    with Store.open(db_copy) as store:
        table = score_table(store)
        rows = list(zip(table.benchmarks, table.item_ids, strict=True))
        responses = response_table(store, rows=rows, models=table.models)
    assert responses.shape == table.A.shape
    assert all(isinstance(r, str) and r for r in responses.ravel())  # every cell answered
    with registered(BY_RESPONSE):
        assert main(["fit", "--db", db_copy, "--name", "resp", "--kind", "by_response",
                     "--embedding", "tfidf"]) == 0
        assert main(["routers", "export", "resp", str(tmp_path / "resp"), "--db", db_copy]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(np.load(tmp_path / "resp" / "arrays.npz")["answered_"], 1.0)
