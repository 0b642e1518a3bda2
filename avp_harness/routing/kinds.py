"""The built-in router kinds: one registry line each (see `base.py` for adding one)."""

from __future__ import annotations

from avp_harness.routing.avengers import AvengersProRouter
from avp_harness.routing.avengers_ensemble import AvengersRouter
from avp_harness.routing.base import RouterKind, register
from avp_harness.routing.jisi import JiSiRouter
from avp_harness.routing.knn import KNNRouter

register(RouterKind("faithful", AvengersProRouter, fixed={"reading": "faithful"},
                    help="the reference code's rank vote over the top-k clusters (default)"))
register(RouterKind("score_sum", AvengersProRouter, fixed={"reading": "score_sum"},
                    help="the paper's reading: sum of scores over the top-k clusters, "
                         "cost min-max normalised"))
register(RouterKind("knn", KNNRouter, help="nearest neighbours' accuracy and cost"))
register(RouterKind("avengers", AvengersRouter, chooses="several",
                    help="The Avengers: top-n models by per-cluster accuracy rank vote (no alpha)"))
register(RouterKind("jisi", JiSiRouter, chooses="several",
                    needs=frozenset({"response_vectors", "response_tokens"}),
                    help="JiSi router-only: support set + candidates' stored responses (no alpha)"))
