"""A fitted router as plain arrays (an .npz blob) and back; no pickles.

Which arrays a router keeps is its kind's business (`RouterBase.fitted_arrays`); the kind name
stored with it says which estimator to rebuild (`base.get_kind`).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import RouterError
from avp_harness.routing.base import RouterBase, get_kind


def router_arrays(router: RouterBase) -> dict[str, NDArray[Any]]:
    return router.to_arrays()


def restore_router(
    kind: str, params: dict[str, Any], arrays: dict[str, NDArray[Any]]
) -> RouterBase:
    """Rebuild a fitted router from `router_arrays` output and its hyperparameters."""
    return get_kind(kind).restore(params, arrays)


def to_npz(arrays: dict[str, NDArray[Any]]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def from_npz(blob: bytes) -> dict[str, NDArray[Any]]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise RouterError(f"the router's arrays are not a readable .npz file ({exc})") from None
