"""What identifies a cluster of queries: its distinguishing terms and its members' most
distinctive sentences, not the start of each prompt (prompts of one benchmark share a template:
7 of 8 demo clusters began "Complete the following Python function...").

A term's weight in a cluster is its mean TF-IDF over the cluster's queries minus its mean over
the other queries: words every prompt shares (the template) weigh about as much inside as
outside and drop out; words the cluster's queries use more than the rest come first. A sample
shows the sentence (or line) of a member that holds the most of those weights, cut to a window
around the strongest term.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# words of 2+ letters (identifiers such as sort_array included), no bare numbers
TOKEN = r"(?u)\b[^\W\d][\w]+\b"
SENTENCE = re.compile(r"(?<=[.?!])\s+|\n+")
MIN_WORDS = 4  # a shorter line ("False", "def f(x):") says little about the query


@dataclass(frozen=True)
class ClusterSummary:
    terms: tuple[str, ...]  # most distinguishing first
    samples: tuple[str, ...]  # one line each, around the cluster's terms


def summarise_clusters(
    texts: Sequence[str], labels: NDArray[np.int_], n_clusters: int, *, n_terms: int = 6,
    n_samples: int = 3, width: int = 160,
) -> list[ClusterSummary]:
    """One summary per cluster id 0..n_clusters-1 of `texts` labelled `labels`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    labels = np.asarray(labels)
    try:
        vectorizer = TfidfVectorizer(token_pattern=TOKEN, stop_words="english",
                                     sublinear_tf=True, lowercase=True)
        X = vectorizer.fit_transform(list(texts))
        vocabulary = np.asarray(vectorizer.get_feature_names_out())
    except ValueError:  # no word at all (e.g. only numbers): nothing distinguishes
        vocabulary, X = np.array([], dtype=object), None
    out = []
    for k in range(n_clusters):
        members = np.flatnonzero(labels == k)
        weights: dict[str, float] = {}
        if X is not None and len(members):
            inside = np.asarray(X[members].mean(axis=0)).ravel()
            rest = np.flatnonzero(labels != k)
            outside = np.asarray(X[rest].mean(axis=0)).ravel() if len(rest) else 0.0
            gain = inside - outside
            top = np.argsort(-gain, kind="stable")[:n_terms]
            weights = {str(vocabulary[i]): float(gain[i]) for i in top if gain[i] > 0}
        samples = _distinct(
            [distinctive_window(texts[int(i)], weights, width) for i in members], n_samples
        )
        out.append(ClusterSummary(tuple(weights), tuple(samples)))
    return out


def distinctive_window(text: str, weights: dict[str, float], width: int = 160) -> str:
    """The sentence of `text` holding most of the terms' weight (the last sentence when none
    does: a few-shot prompt ends with its question), on one line, cut around its strongest
    term."""
    sentences = [" ".join(s.split()) for s in SENTENCE.split(text) if s.strip()]
    if not sentences:
        return ""

    def score(sentence: str) -> float:
        words = set(re.findall(TOKEN, sentence.lower()))
        return sum(w for term, w in weights.items() if term in words)

    long = [s for s in sentences if len(s.split()) >= MIN_WORDS]
    sentences = long or sentences
    scores = [score(s) for s in sentences]
    best = int(np.argmax(scores)) if max(scores) > 0 else len(sentences) - 1
    sentence = sentences[best]
    if len(sentence) <= width:
        return sentence
    lowered = sentence.lower()
    hits = [m.start() for term in sorted(weights, key=lambda t: -weights[t])
            for m in [re.search(rf"\b{re.escape(term)}\b", lowered)] if m]
    centre = hits[0] if hits else 0
    start = max(0, min(centre - width // 3, len(sentence) - width + 2))
    window = sentence[start:start + width - 2]
    return ("…" if start else "") + window + ("…" if start + width - 2 < len(sentence) else "")


def _distinct(samples: list[str], n: int) -> list[str]:
    seen: list[str] = []
    for sample in samples:
        if sample and sample not in seen:
            seen.append(sample)
        if len(seen) == n:
            break
    return seen
