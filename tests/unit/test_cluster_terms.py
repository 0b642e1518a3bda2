"""Cluster summaries: the distinguishing terms (TF-IDF in the cluster minus the rest) and each
sample's most distinctive sentence, never the template every prompt shares."""

from __future__ import annotations

import numpy as np

from avp_harness.routing.cluster_terms import distinctive_window, summarise_clusters

TEMPLATE = "Complete the following Python function so that it does what its docstring says.\n"
TOPICS = [
    ["Return the list sorted in ascending order.", "Sort the list of numbers descending."],
    ["Count the vowels in the string s.", "Return the string reversed, vowels first."],
    ["Return True when n is a prime number.", "Return the largest prime factor of n."],
]


def texts_and_labels() -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for k, topic in enumerate(TOPICS):
        for i, sentence in enumerate(topic * 3):
            texts.append(f"{TEMPLATE}def f{k}_{i}(x):\n    \"\"\"{sentence}\"\"\"\n")
            labels.append(k)
    return texts, np.array(labels)


def test_terms_set_clusters_apart_and_the_template_drops_out() -> None:
    texts, labels = texts_and_labels()
    summaries = summarise_clusters(texts, labels, 3)
    assert "sorted" in summaries[0].terms or "list" in summaries[0].terms
    assert "vowels" in summaries[1].terms and "string" in summaries[1].terms
    assert "prime" in summaries[2].terms
    for s in summaries:
        assert not {"complete", "following", "python", "function", "docstring"} & set(s.terms)
        assert s.samples and not any(x.startswith("Complete the following") for x in s.samples)
        assert all("\n" not in x for x in s.samples)
    shown = [set(s.samples) for s in summaries]
    assert not (shown[0] & shown[1]) and not (shown[1] & shown[2]) and not (shown[0] & shown[2])
    assert "vowels" in summaries[1].samples[0].lower()


def test_a_cluster_without_members_or_words() -> None:
    summaries = summarise_clusters(["12 34", "56 78"], np.array([0, 0]), 2)
    assert summaries[0].terms == () and summaries[1] == summaries[1].__class__((), ())


def test_window_is_one_line_around_the_strongest_term() -> None:
    long = "word " * 100 + "the prime sieve of Eratosthenes " + "filler " * 100 + "."
    window = distinctive_window(long, {"eratosthenes": 1.0}, width=60)
    assert "Eratosthenes" in window and len(window) <= 60 and window.startswith("…")
    assert distinctive_window("First line.\nSecond line here now.", {}, 60) == \
        "Second line here now."  # no term: the last sentence (a prompt's question)
