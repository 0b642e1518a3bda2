"""The built-in router kinds: one registry line each (see `base.py` for adding one)."""

from __future__ import annotations

from avp_harness.routing.avengers import AvengersProRouter
from avp_harness.routing.base import RouterKind, register
from avp_harness.routing.knn import KNNRouter

register(RouterKind("faithful", AvengersProRouter, fixed={"reading": "faithful"},
                    help="the reference code's rank vote over the top-k clusters (default)"))
register(RouterKind("score_sum", AvengersProRouter, fixed={"reading": "score_sum"},
                    help="the paper's reading: sum of scores over the top-k clusters, "
                         "cost min-max normalised"))
register(RouterKind("knn", KNNRouter, help="nearest neighbours' accuracy and cost"))
