"""The router protocol and the registry of router kinds: the one place that knows the kinds.

    kind = get_kind("faithful")                          # a RouterKind from the registry
    router = kind.build({"n_clusters": 8}, seed=42).fit(X, A, C)
    router.route(X, alpha=0.4)                           # α is checked here, once, for every kind
    router.select(X, alpha=0.4)                          # ranked models with weights (width 1 or n)
    arrays = router.to_arrays()                          # fitted arrays, no pickles
    again = kind.restore(router.get_params(), arrays)    # identical decisions

A router kind is one module (an estimator subclassing `RouterBase`) plus one registry line:
for a built-in kind, its line in `avp_harness.names.BUILTIN_KIND_LINES` (`kinds.py` registers
them); elsewhere (tests, plugins), `register(RouterKind("name", Estimator, help="..."))`.
The CLI, the TUI and persistence ask the registry; none of them names a kind.

A kind declares what it needs to be fitted beyond embeddings, scores and costs (`needs`, e.g.
`"datasets"` or `"responses"`: the application layer passes them to `fit` as keywords) and whether
it chooses one model or several (`chooses`); a router choosing several returns them from
`select_curve`, ranked best first with weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from avp_harness.errors import RouterError

Array = NDArray[np.float64]
INPUTS = ("datasets", "responses", "response_vectors", "response_tokens")
"""Fit inputs a kind may need beyond X (embeddings), A (scores) and C (dollars)."""


# -- clustering helpers ---------------------------------------------------------------------------


def distinct_rows(X: Array, enough: int, decimals: int = 9) -> int:
    """How many distinct rows X has rounded to `decimals` (as `np.unique(X.round(9), axis=0)`
    counts them: -0.0 equals 0.0), stopping as soon as `enough` are found, which a KMeans fit's
    "at least k distinct points" check needs (np.unique sorted every row: 0.4 s on 10k x 384)."""
    seen: set[bytes] = set()
    for start in range(0, len(X), 256):
        block = np.ascontiguousarray(np.round(X[start : start + 256], decimals) + 0.0)
        seen.update(row.tobytes() for row in block)
        if len(seen) >= enough:
            break
    return len(seen)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while KMeans runs. Its k-means++ seeding makes hundreds of small matrix
    products, which OpenBLAS splits over threads that mostly wait on each other (on the shared
    2-core machine, 6 of the 9 s of a 10k-query fit). OpenBLAS splits a product by output blocks,
    never along the summed dimension, so the clusters are bit-identical (the reference-agreement
    test and perf/methods.py check it); Lloyd's iterations already run one BLAS thread per
    OpenMP worker."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# -- α ------------------------------------------------------------------------------------------


def check_alpha(alpha: Any) -> float:
    """α as a float in [0, 1]; a RouterError (one line) for anything else, NaN and ±inf included."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise RouterError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise RouterError(f"alpha must be in [0, 1], got {value:g}")
    return value


def check_alphas(alphas: Any) -> Array:
    """A 1-d float array of α values, each in [0, 1] (see `check_alpha`)."""
    try:
        grid = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    except (TypeError, ValueError):
        raise RouterError(f"alphas must be numbers in [0, 1], got {alphas!r}") from None
    if grid.ndim != 1 or len(grid) == 0:
        raise RouterError("alphas must be a non-empty list of numbers in [0, 1]")
    bad = ~np.isfinite(grid) | (grid < 0.0) | (grid > 1.0)
    if bad.any():
        raise RouterError(f"alphas must lie in [0, 1], got {grid[bad][0]:g}")
    return grid


# -- what a router returns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The models a router chose per α and query, ranked best first, with weights.

    `models` and `weights` have shape (n_alphas, n_queries, width); a router choosing one model has
    width 1 (weight 1). Unused slots of a narrower choice hold model -1 and weight 0.
    """

    models: NDArray[np.intp]
    weights: Array

    @classmethod
    def single(cls, choice: NDArray[np.intp]) -> Selection:
        models = np.asarray(choice, dtype=np.intp)[..., None]
        return cls(models, np.ones(models.shape))

    @property
    def width(self) -> int:
        return int(self.models.shape[-1])

    @property
    def first(self) -> NDArray[np.intp]:
        """The top-ranked model per α and query: (n_alphas, n_queries)."""
        return self.models[..., 0]


# -- the protocol -------------------------------------------------------------------------------


class RouterBase(BaseEstimator):
    """What every router kind is: a scikit-learn estimator fitted on (X, A, C).

    X: (n, d) query embeddings; A, C: (n, m) scores and dollars, NaN = missing cell. A subclass
    implements `fit` (returns self; fitted attributes end in `_`, `n_models_` among them),
    `_scores(X, alphas)` and lists in `fitted_arrays` the attributes that persist it. It may
    override `_route` (default: the best score, ties to the lower column) and `_select`
    (default: the routed model alone), and `_restored` to derive attributes after loading.
    The public methods below check α (`check_alpha`) and fittedness before calling them.
    """

    fitted_arrays: ClassVar[tuple[str, ...]] = ()
    can_refit: ClassVar[bool] = False  # True when `refit_stats` is implemented
    alpha: float

    def fit(self, X: Array, A: Array, C: Array, **inputs: Any) -> RouterBase:
        raise NotImplementedError

    def _scores(self, X: Array, alphas: Array) -> Array:
        raise NotImplementedError

    def _route(self, X: Array, alphas: Array) -> NDArray[np.intp]:
        totals = np.nan_to_num(self._scores(X, alphas), nan=-np.inf)
        return np.argmax(totals, axis=2).astype(np.intp)

    def _select(self, X: Array, alphas: Array) -> Selection:
        return Selection.single(self._route(X, alphas))

    def _restored(self) -> None:
        """Set attributes derived from the fitted arrays after `from_arrays`."""

    # -- public, checked ---------------------------------------------------------------------

    def _ready(self, X: Array) -> Array:
        check_is_fitted(self, self.fitted_arrays or None)
        return np.atleast_2d(np.asarray(X, dtype=np.float64))

    def scores_curve(self, X: Array, alphas: Array) -> Array:
        """Every model's score per α and query: (len(alphas), n, n_models); non-finite = unseen."""
        grid = check_alphas(alphas)
        return self._scores(self._ready(X), grid)

    def route_curve(self, X: Array, alphas: Array) -> NDArray[np.intp]:
        """The chosen (top-ranked) model column per α and query: (len(alphas), n)."""
        grid = check_alphas(alphas)
        return self._route(self._ready(X), grid)

    def select_curve(self, X: Array, alphas: Array) -> Selection:
        """Ranked models with weights per α and query (width 1 for a one-model router)."""
        grid = check_alphas(alphas)
        return self._select(self._ready(X), grid)

    def _one(self, alpha: float | None) -> Array:
        return np.array([check_alpha(self.alpha if alpha is None else alpha)])

    def route(self, X: Array, alpha: float | None = None) -> NDArray[np.intp]:
        """Chosen model column per query at one α (default: the estimator's `alpha`)."""
        return self._route(self._ready(X), self._one(alpha))[0]

    def scores(self, X: Array, alpha: float | None = None) -> Array:
        """Every model's score per query at one α: (n, n_models)."""
        return self._scores(self._ready(X), self._one(alpha))[0]

    def select(self, X: Array, alpha: float | None = None) -> Selection:
        """`select_curve` at one α: shapes (1, n, width)."""
        return self._select(self._ready(X), self._one(alpha))

    def refit_stats(self, X: Array, A: Array, C: Array) -> RouterBase:
        """Keep what was learnt about the queries, relearn the models' statistics (new cells).

        Only kinds that keep a structure independent of the models (clusters) can do this.
        """
        raise RouterError(
            f"{type(self).__name__} keeps no clusters to refit on: fit it again from scratch"
        )

    # -- persistence --------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The fitted arrays that, with `get_params()`, rebuild this router."""
        check_is_fitted(self, self.fitted_arrays or None)
        return {name: np.asarray(getattr(self, name)) for name in self.fitted_arrays}

    def from_arrays(self, arrays: Mapping[str, NDArray[Any]]) -> RouterBase:
        """Set the fitted arrays (as written by `to_arrays`); returns self."""
        missing = [n for n in self.fitted_arrays if n not in arrays]
        if missing:
            raise RouterError(f"stored router lacks arrays {missing}")
        for name in self.fitted_arrays:
            setattr(self, name, np.asarray(arrays[name]))
        self._restored()
        return self


@runtime_checkable
class ClusterRouter(Protocol):
    """A router that groups queries into clusters with per-model statistics (the inspector's
    cluster table, onboarding and --refit use it)."""

    n_clusters: int
    centroids_: Array
    p_: Array
    q_: Array

    def assign(self, X: Array) -> NDArray[np.intp]: ...

    def cluster_scores(self, alphas: Array) -> Array: ...


# -- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouterKind:
    """One kind of router: its estimator, what it pins, what it needs, how many models it picks.

    `build` takes any hyperparameters (the CLI's `--clusters` is `n_clusters`, `--neighbors`
    `n_neighbors`, ...) and keeps those the estimator has; `fixed` ones always win.
    """

    name: str
    estimator: type[RouterBase]
    help: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()
    chooses: Literal["one", "several"] = "one"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.needs) - set(INPUTS))
        if unknown:
            raise RouterError(f"router kind {self.name!r} needs unknown inputs {unknown}")

    def build(self, params: Mapping[str, Any] | None = None, seed: int | None = None) -> RouterBase:
        names = set(self.estimator._get_param_names())
        chosen = {k: v for k, v in (params or {}).items() if k in names}
        chosen.update(self.fixed)
        if seed is not None and "random_state" in names:
            chosen["random_state"] = seed
        return self.estimator(**chosen)

    def fit_inputs(
        self, available: Mapping[str, Any], rows: NDArray[np.intp] | None = None
    ) -> dict[str, Any]:
        """The extra `fit` keywords this kind needs, taken from `available` (one entry per query,
        cut to `rows`); a RouterError naming what is missing."""
        missing = sorted(self.needs - set(available))
        if missing:
            raise RouterError(
                f"router kind {self.name!r} needs {' and '.join(missing)}, which are not available"
            )
        out = {}
        for name in sorted(self.needs):
            raw = available[name]
            values = raw if isinstance(raw, np.ndarray) else np.asarray(raw, dtype=object)
            out[name] = values if rows is None else values[rows]
        return out

    def restore(self, params: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> RouterBase:
        """A fitted router from its stored hyperparameters and arrays."""
        return self.build(params).from_arrays(arrays)


_KINDS: dict[str, RouterKind] = {}


def register(kind: RouterKind) -> RouterKind:
    """Add a kind (its name must be new); returns it."""
    if kind.name in _KINDS:
        raise RouterError(f"router kind {kind.name!r} is already registered")
    if not issubclass(kind.estimator, RouterBase):
        raise RouterError(f"router kind {kind.name!r}: {kind.estimator} is not a RouterBase")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


@contextmanager
def registered(kind: RouterKind) -> Iterator[RouterKind]:
    """Register `kind` for the duration of a `with` block (tests, plugins)."""
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)


def kind_names() -> list[str]:
    return list(_KINDS)


def kinds() -> list[RouterKind]:
    return list(_KINDS.values())


def get_kind(name: str) -> RouterKind:
    try:
        return _KINDS[name]
    except KeyError:
        names = list(_KINDS)
        known = ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]
        raise RouterError(f"unknown router kind {name!r}: {known}") from None
