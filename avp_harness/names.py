"""Names the CLI shows before any heavy code is imported (`avp --help` must start fast).

The built-in router kinds with their help lines, the missing-cells treatments, the methods of
`avp compare` and the accepted reasoning efforts. Their owners (`avp_harness.routing.kinds`,
`routing.split`, `app.compare`, `config`) take them from here; a test asserts the router registry
agrees. Import nothing here.
"""

BUILTIN_KINDS: dict[str, str] = {
    "faithful": "the reference code's rank vote over the top-k clusters (default)",
    "score_sum": "the paper's reading: sum of scores over the top-k clusters, "
    "cost min-max normalised",
    "knn": "nearest neighbours' accuracy and cost",
    "avengers": "The Avengers: top-n models by per-cluster accuracy rank vote (no alpha)",
    "jisi": "JiSi router-only: support set + candidates' stored responses (no alpha)",
}

MISSING = ("drop-first", "keep")
DEFAULT_MISSING = "drop-first"

# the methods `avp compare` evaluates (avp_harness.app.compare.METHODS)
COMPARE_METHODS = ("baselines", "avengers_pro", "avengers", "jisi")

# reasoning efforts a model entry accepts (avp_harness.config.REASONING_EFFORTS)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
