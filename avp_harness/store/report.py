"""The per-item rows of the HTML report (`avp report --html`): each graded cell's score and
extracted answer, in each model's most recent configuration of the benchmark (as `avp report`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from avp_harness.store.store import Store
from avp_harness.store.tables import CellRecord
from avp_harness.types import Status

CELLS: Any = CellRecord.__table__.c  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ItemScore:
    item_id: str
    model: str
    sample: int
    score: float | None
    parsed: bool | None
    extracted: str | None


def item_scores(store: Store, benchmark: str) -> list[ItemScore]:
    """Every ok cell of `benchmark` (graded or not), by item, model and sample."""
    latest = {p.model: p.config_hash for p in store.latest_plans() if p.benchmark == benchmark}
    labels = {chash: model for model, chash in latest.items()}
    query = (
        select(CELLS.item_id, CELLS.model, CELLS.config_hash, CELLS.sample, CELLS.score,
               CELLS.parsed, CELLS.extracted)
        .where(CELLS.benchmark == benchmark, CELLS.status == Status.OK.value)
        .order_by(CELLS.item_id, CELLS.model, CELLS.sample)
    )
    out = []
    with store.engine.connect() as connection:
        for item_id, model, chash, sample, score, parsed, extracted in connection.execute(query):
            model = labels.get(chash, model)  # a renamed model: its new id
            if model in latest and chash != latest[model]:
                continue  # an older configuration
            out.append(ItemScore(item_id, model, sample, score, parsed, extracted))
    return out
