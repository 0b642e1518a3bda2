"""The built-in router kinds, registered from their lines in `avp_harness.names` (which the
CLI reads without importing any routing code). See `base.py` for what a kind is."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from avp_harness.names import BUILTIN_KIND_LINES
from avp_harness.routing.base import RouterKind, register


def kind_from_line(name: str, line: Mapping[str, Any]) -> RouterKind:
    module, _, attr = str(line["estimator"]).partition(":")
    estimator = getattr(importlib.import_module(module), attr)
    return RouterKind(
        name, estimator, help=str(line["help"]), fixed=dict(line.get("fixed", {})),
        needs=frozenset(line.get("needs", ())), chooses=cast(Any, line.get("chooses", "one")),
    )


for _name, _line in BUILTIN_KIND_LINES.items():
    register(kind_from_line(_name, _line))
