"""Routers as scikit-learn estimators, the Avengers-Pro split, sweeps over α and their metrics.

Every router kind registers behind one protocol (`base.py`; the built-in kinds in `kinds.py`).
This package never imports `openai` or `textual`, and does no I/O: the application layer
(`avp_harness.app`) feeds it arrays from the store and embeddings from `avp_harness.embed`.
"""

from avp_harness.routing import kinds as _kinds  # noqa: F401  (registers the built-in kinds)
from avp_harness.routing.avengers import AvengersProRouter
from avp_harness.routing.base import (
    RouterBase,
    RouterKind,
    Selection,
    check_alpha,
    check_alphas,
    get_kind,
    kind_names,
    register,
)
from avp_harness.routing.data import RoutingData
from avp_harness.routing.knn import KNNRouter
from avp_harness.routing.split import split_indices
from avp_harness.routing.sweep import RouterSpec, SweepResult, alpha_grid, run_seeds, run_sweep

__all__ = [
    "AvengersProRouter",
    "KNNRouter",
    "RouterBase",
    "RouterKind",
    "RouterSpec",
    "RoutingData",
    "Selection",
    "SweepResult",
    "alpha_grid",
    "check_alpha",
    "check_alphas",
    "get_kind",
    "kind_names",
    "register",
    "run_seeds",
    "run_sweep",
    "split_indices",
]
