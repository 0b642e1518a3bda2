"""The Avengers' ensemble strategies over stored samples: Self-Consistency and Model-Switch.

Offline, from the store: per test query, the routed models' samples (sample index 0, 1, ...),
each with its extracted answer (the benchmark grader's own `extracted`), its score and its
dollars. Arrays are shaped (n_queries, n_models, n_samples): `answers` objects (str or None),
`scores` and `costs` floats (NaN = no ok cell for that sample).

    out = self_consistency(models, answers, scores, costs, n=10, same=same, code=code)
    out.score, out.cost, out.calls        # per query

Strategies (SEED-METHODS.md, "The Avengers"):
- **direct**: the top-1 model's sample 0 (one call).
- **self_consistency** (SC): the top-1 model, samples 0..n−1 (n = 10 at T = 0.7 in the paper),
  majority vote over the extracted answers, first-seen wins ties.
- **model_switch** (MS, the paper's and the generator's rule): the top-2 models, samples 0..s−1
  each (s = 5); keep model 1's majority if its share (votes / s) ≥ 0.8, else vote over all 2s
  answers (model 1's first).
- **model_switch_ablation** (the code's offline ablation rule): answer with model 2's majority iff
  model 1's majority share < 1.0 and model 2's share is higher; else model 1's majority.

Voting: an answer joins the first earlier group it is `same` as (math answers compare by
equivalence, `graders.math.math_equal`, passed in by the application layer; other answers by
string equality); the largest group wins, the group seen first on ties; the voted answer's score
is the grade of the group's first sample. An unparsed sample (extracted None) casts no vote; if no
sample has an answer, sample 0 is the answer (its grade, usually 0).

Code benchmarks (`code[q]` True): no vote, as the public code does: the answer is sample 0 of the
first model. Voting on "passes the tests" would read the label; voting on program text is not an
equivalence. The samples still count in the cost: the generators request all of them.

System cost = every sample the strategy requests (the generators call both Model-Switch models
concurrently, so all 2s samples are paid whichever answer is kept); calls = that many samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avp_harness.errors import RouterError

Array = NDArray[np.float64]
Same = Callable[[str, str], bool]
STRATEGIES = ("direct", "self_consistency", "model_switch", "model_switch_ablation")
SC_SAMPLES = 10
MS_SAMPLES = 5
MS_THRESHOLD = 0.8


@dataclass(frozen=True)
class Outcome:
    """Per query: the score of the answer kept, the dollars and calls spent."""

    score: Array
    cost: Array
    calls: Array


def string_equal(a: str, b: str) -> bool:
    return a == b


def majority(answers: Sequence[str | None], same: Same = string_equal) -> tuple[int, int]:
    """(position of the winning group's first sample, its votes); (0, 0) when none answered."""
    reps: list[int] = []
    votes: list[int] = []
    for k, answer in enumerate(answers):
        if answer is None:
            continue
        for g, r in enumerate(reps):
            rep = answers[r]
            if rep == answer or same(rep, answer):  # type: ignore[arg-type]
                votes[g] += 1
                break
        else:
            reps.append(k)
            votes.append(1)
    if not reps:
        return 0, 0
    best = max(range(len(reps)), key=lambda g: (votes[g], -g))
    return reps[best], votes[best]


def choose(
    strategy: str, answers: Sequence[Sequence[str | None]], same: Same = string_equal,
    threshold: float = MS_THRESHOLD,
) -> tuple[int, int, int]:
    """The sample a voting strategy answers with, given each routed model's extracted answers
    (model 1's first, k samples each): (the model's slot, 0 or 1; the sample's position in that
    model's list; the votes of its group). `run_strategy` and `avp serve` both decide here."""
    if strategy not in STRATEGIES[1:]:
        raise RouterError(f"{strategy!r} does not vote: {', '.join(STRATEGIES[1:])} do")
    a1 = list(answers[0])
    k = len(a1)
    pos1, votes1 = majority(a1, same)
    if strategy == "self_consistency":
        return 0, pos1, votes1
    a2 = list(answers[1])
    if strategy == "model_switch":
        if votes1 / k >= threshold:
            return 0, pos1, votes1
        pos, votes = majority(a1 + a2, same)
        return (0, pos, votes) if pos < k else (1, pos - k, votes)
    if strategy == "model_switch_ablation":
        pos2, votes2 = majority(a2, same)
        if votes1 / k < 1.0 and votes2 / k > votes1 / k:
            return 1, pos2, votes2
    return 0, pos1, votes1


def needed(strategy: str, n: int = SC_SAMPLES, s: int = MS_SAMPLES) -> tuple[int, int]:
    """(models, samples per model) a strategy reads."""
    if strategy == "direct":
        return 1, 1
    if strategy == "self_consistency":
        return 1, n
    if strategy in ("model_switch", "model_switch_ablation"):
        return 2, s
    raise RouterError(f"unknown ensemble strategy {strategy!r}: {', '.join(STRATEGIES)}")


def missing_samples(
    models: NDArray[np.intp], scores: Array, costs: Array, strategy: str,
    n: int = SC_SAMPLES, s: int = MS_SAMPLES,
) -> NDArray[np.bool_]:
    """Per query: True when a sample the strategy needs has no score or no cost."""
    width, k = needed(strategy, n, s)
    if models.shape[1] < width or scores.shape[2] < k:
        return np.ones(len(models), dtype=bool)
    rows = np.arange(len(models))[:, None]
    picked_s = scores[rows, models[:, :width], :k]
    picked_c = costs[rows, models[:, :width], :k]
    return np.asarray((np.isnan(picked_s) | np.isnan(picked_c)).any(axis=(1, 2)), dtype=np.bool_)


def run_strategy(
    strategy: str,
    models: NDArray[np.intp],
    answers: NDArray[np.object_],
    scores: Array,
    costs: Array,
    code: NDArray[np.bool_],
    same: Sequence[Same] | None = None,
    n: int = SC_SAMPLES,
    s: int = MS_SAMPLES,
    threshold: float = MS_THRESHOLD,
) -> Outcome:
    """Apply `strategy` to every query. `models` (n_queries, width): the routed models, best
    first; `same[q]` the answer equivalence of query q's benchmark (default: string equality)."""
    width, k = needed(strategy, n, s)
    if missing_samples(models, scores, costs, strategy, n, s).any():
        raise RouterError(f"{strategy} needs {k} stored samples of {width} model(s) per query")
    nq = len(models)
    out_score = np.empty(nq)
    out_cost = np.empty(nq)
    for q in range(nq):
        eq = string_equal if same is None else same[q]
        picks = [int(models[q, w]) for w in range(width)]
        out_cost[q] = sum(float(costs[q, m, i]) for m in picks for i in range(k))
        if strategy == "direct" or code[q]:
            out_score[q] = scores[q, picks[0], 0]
            continue
        slot, pos, _ = choose(strategy, [list(answers[q, m, :k]) for m in picks], eq, threshold)
        out_score[q] = scores[q, picks[slot], pos]
    calls = np.full(nq, float(width * k))
    return Outcome(out_score, out_cost, calls)
