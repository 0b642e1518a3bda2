"""Router performance figures (prints, never asserts).

    .venv/bin/python perf/router.py [--quick]
    .venv/bin/python perf/router.py --collab    # the methods of `avp compare` (collab_figures)

- fit time for 10k and 100k queries, 384-d embeddings, 60 clusters (KMeans n_init=10)
- sweep time: 101 α values on 10k held-out queries (routing + metrics), target < 2 s
- routing latency per query, p50/p99, without embedding (target < 1 ms) and with the local
  all-MiniLM-L6-v2 embedding
- local embedding throughput on real MMLU-Pro prompts (../shared/data/benchmarks/mmlu_pro):
  the default (int8 matrix products, 128-token tail, one text per run on every core) against the
  shipped weights at the same budget (float products, batches of 16) and the old setting
  (256 tokens, batches of 32), their ratios, and what each costs in quality: cosine to the
  256-token vectors, 10-nearest-neighbour overlap, and the agreement (ARI) of 25-cluster KMeans,
  beside the ARI of two KMeans seeds on the same 256-token vectors (the noise floor a clustering
  has anyway). Target >= 100 questions/s on 2 cores.

    .venv/bin/python perf/router.py --embedding-only [--embed-n 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avp_harness.routing import (
    AvengersProRouter,  # noqa: E402
    metrics,  # noqa: E402
)

D, K, M = 384, 60, 11


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(80, D))
    topic = rng.integers(0, 80, n)
    X = centres[topic] + 0.8 * rng.normal(size=(n, D))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    skill = rng.uniform(0.2, 0.95, size=(80, M))
    A = (rng.uniform(size=(n, M)) < skill[topic]).astype(float)
    C = np.geomspace(1e-4, 3e-2, M) * rng.uniform(0.5, 1.5, size=(n, M))
    datasets = np.array(["a", "b", "c"], dtype=object)[topic % 3]
    return X, A, C, datasets


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 100k fit")
    parser.add_argument("--embedding-only", action="store_true",
                        help="only the local embedding's throughput and quality")
    parser.add_argument("--embed-n", type=int, default=1000,
                        help="MMLU-Pro prompts embedded with the default setting (default 1000)")
    args = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}  load average {os.getloadavg()[0]:.1f}")
    if args.embedding_only:
        embedding_throughput(args.embed_n)
        return
    print(f"dims {D}  clusters {K}  models {M}")

    sizes = [10_000] if args.quick else [10_000, 100_000]
    routers = {}
    for n in sizes:
        X, A, C, _ = synthetic(n)
        router = AvengersProRouter(n_clusters=K, random_state=42)
        seconds = timed(lambda r=router, X=X, A=A, C=C: r.fit(X, A, C))
        routers[n] = router
        print(f"fit {n:>7,} queries: {seconds:7.2f} s")

    router = routers[10_000]
    Xt, At, Ct, Dt = synthetic(10_000, seed=1)
    alphas = np.linspace(0, 1, 101)

    def sweep() -> None:
        choice = router.route_curve(Xt, alphas)
        acc, cost = metrics.evaluate(choice, At, Ct, Dt)
        metrics.upper_hull(cost, acc)
        metrics.usage_shares(choice, M)

    s = timed(sweep, repeat=3)
    print(f"sweep 101 alphas x 10,000 held-out queries: {s:.3f} s (target < 2 s)")

    latencies = []
    for i in range(2000):
        q = Xt[i : i + 1]
        t = time.perf_counter()
        router.route(q, alpha=0.5)
        latencies.append(time.perf_counter() - t)
    p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
    print(f"route one query (no embedding): p50 {p50:.3f} ms  p99 {p99:.3f} ms (target < 1 ms)")
    q, one = Xt[:1], np.array([0.5])
    checked = timed(lambda: [router.route(q, alpha=0.5) for _ in range(2000)], repeat=3)
    kernel = timed(lambda: [router._route(q, one) for _ in range(2000)], repeat=3)
    print(f"router protocol checks (alpha, fitted) per route: {checked / kernel:.2f}x the bare "
          f"kernel ({(checked - kernel) / 2000 * 1e6:.1f} us per call)")

    texts = real_texts()
    try:
        from avp_harness.embed.local import LocalEmbedder

        embedder = LocalEmbedder()
    except Exception as exc:  # noqa: BLE001 - a perf script reports and goes on
        print(f"local embedding unavailable: {exc}")
        return
    small = AvengersProRouter(n_clusters=K, random_state=42).fit(*synthetic(5_000)[:3])
    latencies = []
    for text in texts[:200]:
        t = time.perf_counter()
        small.route(embedder.embed([text]), alpha=0.5)
        latencies.append(time.perf_counter() - t)
    p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
    print(f"route one query with local embedding: p50 {p50:.1f} ms  p99 {p99:.1f} ms")
    embedding_throughput(args.embed_n)


def mmlu_pro_prompts(n: int) -> list[str]:
    """`n` real MMLU-Pro prompts (as the harness renders them), a fixed random sample."""
    import json

    from benchmarks.mmlu_pro import build_item

    path = Path(__file__).resolve().parents[2] / "shared/data/benchmarks/mmlu_pro/test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pick = np.random.default_rng(0).choice(len(rows), min(n, len(rows)), replace=False)
    return [build_item(rows[i]).messages[0].content for i in pick]


def embedding_throughput(n: int) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from avp_harness.embed.local import LocalEmbedder

    texts = mmlu_pro_prompts(n)
    new = LocalEmbedder()  # dynamic int8, 128-token tail, one text per run over every core
    shipped = LocalEmbedder(weights="shipped")  # the previous default: same budget, float products
    old = LocalEmbedder(max_tokens=256, batch_size=32, weights="shipped")
    tokens = [len(old.token_ids(t)) for t in texts]
    print(f"{len(texts)} MMLU-Pro prompts: {np.mean(tokens):.0f} tokens on average "
          f"(capped at 256), {np.mean(np.array(tokens) >= 256):.0%} reach 256")
    for e in (new, shipped):
        e.embed(texts[:32])  # warm up
    rates: dict[str, list[float]] = {"new": [], "shipped": []}
    vectors = {}
    for _ in range(2):  # alternated, so both see the same load
        for key, e in (("new", new), ("shipped", shipped)):
            t = time.perf_counter()
            vectors[key] = e.embed(texts)
            rates[key].append(len(texts) / (time.perf_counter() - t))
    rate_new, rate_shipped = max(rates["new"]), max(rates["shipped"])
    sample = texts[: max(100, len(texts) // 3)]  # the old setting is slow: a third of them
    t = time.perf_counter()
    X_old = old.embed(sample)
    rate_old = len(sample) / (time.perf_counter() - t)
    print(f"local embedding, default ({new.model}, {new.threads} threads): "
          f"{rate_new:.1f} questions/s (target >= 100); 12,000 in {12000 / rate_new / 60:.1f} min")
    print(f"local embedding, shipped weights, same budget (batch {shipped.batch_size}): "
          f"{rate_shipped:.1f} questions/s; default / shipped {rate_new / rate_shipped:.2f}x")
    print(f"local embedding, old (256 tokens, batch 32): {rate_old:.1f} questions/s; "
          f"default / old {rate_new / rate_old:.2f}x (same run, same machine)")
    nn = lambda X: np.argsort(-(X @ X.T - 2 * np.eye(len(X))), axis=1)[:, :10]  # noqa: E731
    k = min(25, len(sample) // 4)
    A, B = vectors["new"], vectors["shipped"]
    cos = (A * B).sum(axis=1)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(nn(A), nn(B), strict=True)])
    ari = adjusted_rand_score(*[KMeans(k, n_init=10, random_state=0).fit(X).labels_
                                for X in (A, B)])
    floor = adjusted_rand_score(*[KMeans(k, n_init=10, random_state=s).fit(B).labels_
                                  for s in (0, 1)])
    print(f"int8 products vs float, same budget, {len(texts)} prompts: cosine mean "
          f"{cos.mean():.4f} (1st percentile {np.percentile(cos, 1):.4f}), 10-NN overlap "
          f"{overlap:.2f}, {k}-cluster ARI {ari:.2f} (two KMeans seeds on the float vectors: "
          f"{floor:.2f})")
    seed_labels = [KMeans(k, n_init=10, random_state=s).fit(X_old).labels_ for s in (0, 1)]
    seed_ari = adjusted_rand_score(*seed_labels)
    for key in ("new", "shipped"):
        A = vectors[key][: len(sample)]
        cos = (A * X_old).sum(axis=1)
        overlap = np.mean([len(set(a) & set(b)) / 10
                           for a, b in zip(nn(A), nn(X_old), strict=True)])
        ari = adjusted_rand_score(KMeans(k, n_init=10, random_state=0).fit(A).labels_,
                                  seed_labels[0])
        print(f"quality of {key} vs 256-token float on {len(sample)} prompts: cosine mean "
              f"{cos.mean():.3f} (10th percentile {np.percentile(cos, 10):.3f}), 10-NN overlap "
              f"{overlap:.2f}, {k}-cluster ARI {ari:.2f} (two KMeans seeds on the 256-token "
              f"vectors: {seed_ari:.2f})")


def real_texts() -> list[str]:
    folder = (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "records" / "routerbench_subset"
    )
    if folder.exists():
        from avp_harness.routing.records import read_routerbench

        texts = list(read_routerbench(folder).texts)
        print(f"real text: {len(texts)} RouterBench prompts")
        return texts
    print("real text: absent, using generated sentences")
    words = [
        "the",
        "a",
        "model",
        "query",
        "answer",
        "question",
        "solve",
        "write",
        "python",
        "function",
        "list",
        "sort",
    ]
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, 60)) for _ in range(1000)]


# -- the collaboration methods (`avp compare`): python perf/router.py --collab ------------------


def collab_figures(n: int = 10_000) -> None:
    """Fit + a 101-α comparison per method on n train and n held-out queries (target < 5 s each),
    the workloads of `perf/methods.py` (which also times them against the code before)."""
    from methods import workloads

    print(f"\ncollaboration methods: {n:,} train + {n:,} held-out queries, {M} models, {D}-d")
    for name, fn in workloads(n).items():
        seconds = timed(lambda fn=fn: fn(False))
        print(f"{name:28} fit + 101-alpha compare: {seconds:6.2f} s (target < 5 s)")


if __name__ == "__main__":
    if "--collab" in sys.argv:
        collab_figures()
    else:
        main()
