"""Names the CLI shows before any heavy code is imported (`avp --help` must start fast).

The built-in router kinds (their registry lines), the missing-cells treatments, the methods of
`avp compare` and the accepted reasoning efforts. Their owners (`avp_harness.routing.kinds`,
`routing.split`, `app.compare`, `config`) take them from here; a test asserts the router registry
agrees. Import nothing here.
"""

# The built-in router kinds: this is their registry, one line each (`routing/kinds.py` turns
# each line into a `routing.base.RouterKind`, importing the estimator "module:Class" only then).
# A new built-in kind is its module plus one line here.
BUILTIN_KIND_LINES: dict[str, dict[str, object]] = {
    "faithful": {"estimator": "avp_harness.routing.avengers:AvengersProRouter",
                 "fixed": {"reading": "faithful"},
                 "help": "the reference code's rank vote over the top-k clusters (default)"},
    "score_sum": {"estimator": "avp_harness.routing.avengers:AvengersProRouter",
                  "fixed": {"reading": "score_sum"},
                  "help": "the paper's reading: sum of scores over the top-k clusters, "
                  "cost min-max normalised"},
    "knn": {"estimator": "avp_harness.routing.knn:KNNRouter",
            "help": "nearest neighbours' accuracy and cost"},
    "avengers": {"estimator": "avp_harness.routing.avengers_ensemble:AvengersRouter",
                 "chooses": "several",
                 "help": "The Avengers: top-n models by per-cluster accuracy rank vote (no alpha)"},
    "jisi": {"estimator": "avp_harness.routing.jisi:JiSiRouter", "chooses": "several",
             "needs": ("response_vectors", "response_tokens"),
             "help": "JiSi router-only: support set + candidates' stored responses (no alpha)"},
}
BUILTIN_KINDS: dict[str, str] = {k: str(line["help"]) for k, line in BUILTIN_KIND_LINES.items()}

MISSING = ("drop-first", "keep")
DEFAULT_MISSING = "drop-first"

# the methods `avp compare` evaluates (avp_harness.app.compare.METHODS)
COMPARE_METHODS = ("baselines", "avengers_pro", "avengers", "jisi")

# reasoning efforts a model entry accepts (avp_harness.config.REASONING_EFFORTS)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
