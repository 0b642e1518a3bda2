"""The Avengers-Pro train/test split (DESIGN.md, router step 1), in the reference's row order.

Per dataset (datasets in sorted order): the eligible items sorted by their index, a permutation
from `numpy.random.default_rng(seed)` (what the reference's `train_test_split(seed=...)` draws),
the first `n - floor(train_ratio * n)` positions of the permutation are test, the rest train.
Rows are returned **in that shuffled order**, datasets one after another: the reference feeds its
training rows to KMeans in this order, and KMeans with another row order finds other clusters.

Missing cells (`MISSING`):
- `drop-first` (the reference, faithful mode, the default): an item lacking any model's score or
  cost is dropped *before* splitting, so the split of every dataset is the reference's;
- `keep` (avp's own treatment): every item is split; per-cluster statistics use the observed
  cells of the training items, and test items lacking a cell are left out of the evaluation
  (reported, never scored as wrong or free).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import RouterError

# defined in avp_harness.names (no heavy imports), so `avp --help` starts fast; re-exported here
from avp_harness.names import DEFAULT_MISSING as DEFAULT_MISSING
from avp_harness.names import MISSING as MISSING
from avp_harness.routing.data import RoutingData


def check_missing(missing: str) -> str:
    if missing not in MISSING:
        raise RouterError(
            f"unknown missing-cells treatment {missing!r}: use {' or '.join(MISSING)}"
        )
    return missing


def split_indices(
    datasets: Sequence[str] | NDArray[np.object_],
    index: Sequence[int] | NDArray[np.int64],
    *,
    train_ratio: float = 0.7,
    seed: int = 42,
    eligible: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row positions of the train and test parts, in the split's (shuffled) order.

    `datasets[i]` and `index[i]` describe row i; rows where `eligible` is False take no part.
    One generator per dataset is created from `seed` (as the reference does per dataset).
    """
    if not 0.0 < train_ratio < 1.0:
        raise RouterError(f"train ratio must be in (0, 1), got {train_ratio}")
    names = np.asarray(datasets, dtype=object)
    keys = np.asarray(index)
    if len(names) != len(keys):
        raise RouterError(f"{len(names)} dataset labels for {len(keys)} index values")
    ok = np.ones(len(names), bool) if eligible is None else np.asarray(eligible, bool)
    train: list[NDArray[np.intp]] = [np.zeros(0, np.intp)]
    test: list[NDArray[np.intp]] = [np.zeros(0, np.intp)]
    for name in sorted(set(names[ok].tolist())):
        rows = np.flatnonzero((names == name) & ok)
        rows = rows[np.argsort(keys[rows], kind="stable")]
        n = len(rows)
        perm = np.random.default_rng(seed).permutation(n)
        n_test = n - math.floor(train_ratio * n)
        test.append(rows[perm[:n_test]])
        train.append(rows[perm[n_test:]])
    return (np.concatenate(train).astype(np.intp), np.concatenate(test).astype(np.intp))


@dataclass(frozen=True)
class Split:
    """Train and test rows in the split's order, and the rows dropped before splitting."""

    train: NDArray[np.intp]
    test: NDArray[np.intp]
    dropped: NDArray[np.intp]
    missing: str


def split_data(
    data: RoutingData, *, train_ratio: float = 0.7, seed: int = 42,
    missing: str = DEFAULT_MISSING,
) -> Split:
    """The split of `data` under a missing-cells treatment (see the module docstring)."""
    check_missing(missing)
    eligible = data.complete_rows() if missing == "drop-first" else np.ones(data.n, bool)
    train, test = split_indices(data.datasets, data.index, train_ratio=train_ratio, seed=seed,
                                eligible=eligible)
    if len(train) == 0:
        raise RouterError(
            "no item has a score and a cost for every model: nothing to split "
            "(--missing keep uses the observed cells instead)"
        )
    return Split(train, test, np.flatnonzero(~eligible).astype(np.intp), missing)
