"""The built-in router kinds: one registry line each (see `base.py` for adding one)."""

from __future__ import annotations

from avp_harness.names import BUILTIN_KINDS as HELP
from avp_harness.routing.avengers import AvengersProRouter
from avp_harness.routing.avengers_ensemble import AvengersRouter
from avp_harness.routing.base import RouterKind, register
from avp_harness.routing.jisi import JiSiRouter
from avp_harness.routing.knn import KNNRouter

register(RouterKind("faithful", AvengersProRouter, fixed={"reading": "faithful"},
                    help=HELP["faithful"]))
register(RouterKind("score_sum", AvengersProRouter, fixed={"reading": "score_sum"},
                    help=HELP["score_sum"]))
register(RouterKind("knn", KNNRouter, help=HELP["knn"]))
register(RouterKind("avengers", AvengersRouter, chooses="several",
                    help=HELP["avengers"]))
register(RouterKind("jisi", JiSiRouter, chooses="several",
                    needs=frozenset({"response_vectors", "response_tokens"}),
                    help=HELP["jisi"]))
