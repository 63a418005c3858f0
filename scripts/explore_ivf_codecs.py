"""IVF codes for 10^7 windows: 8-bit PQ (what ``ivfpq`` stores) against 8-bit scalar quantisation (SQ8)
and 4-bit fast-scan PQ, each re-ranked exactly from the float16 vectors, with the bench's own vectors.

Why: the documented 10^7 run (docs/bench/scale-out.md) missed recall@10 0.95; this script asks whether
the codes or the probed lists limit it. Vectors and queries are made exactly as the ``scale_out`` bench
section makes them (``dancesearch.bench.vectors`` mixtures of real model embeddings; 200 held-out queries,
100 texts and 100 windows), from a library ingested with the shipped model:

    .venv/bin/dancesearch ingest ../shared/corpus --data-dir /tmp/abl --index --model models/default
    .venv/bin/python scripts/explore_ivf_codecs.py --data-dir /tmp/abl --n 1000000 --nlist 1024 \
        --codecs sq8,pq8,pq4fs --nprobes 16,32,64 --reranks 2,10,40
    .venv/bin/python scripts/explore_ivf_codecs.py --data-dir /tmp/abl --n 10000000 --nlist 4096 \
        --codecs sq8 --nprobes 16,32,64 --reranks 1,4

It prints build times and, per (codec, nprobe, rerank), single-query p50/p99 (one FAISS thread, the
coarse search + list scan + exact re-rank of ``k * rerank`` candidates from the memory-mapped float16
vectors) and recall@10 against exact search, overall and for text / window queries. The figures of the
2026-11-30 runs are quoted in docs/bench/scale-out.md ("Codes, not lists").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from dancesearch.bench import queries as bench_queries
from dancesearch.bench import vectors
from dancesearch.bench.scale_out import ScaleOutPlan, ground_truth, synthesise
from dancesearch.engine_factory import open_engine
from search.ann.exact import exact_topk

K = 10
SEED = 1234  # the bench's default seed: the same base vectors and queries as `dancesearch bench`


def make_index(codec: str, dim: int, nlist: int) -> Any:
    quantiser = faiss.IndexFlatIP(dim)
    if codec == "sq8":
        return faiss.IndexIVFScalarQuantizer(quantiser, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                             faiss.METRIC_INNER_PRODUCT), quantiser
    if codec == "pq8":
        return faiss.IndexIVFPQ(quantiser, dim, nlist, dim // 4, 8, faiss.METRIC_INNER_PRODUCT), quantiser
    if codec == "pq4fs":
        return faiss.IndexIVFPQFastScan(quantiser, dim, nlist, dim // 4, 4, faiss.METRIC_INNER_PRODUCT), quantiser
    raise SystemExit(f"unknown codec {codec!r} (sq8, pq8, pq4fs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="a library of the corpus (see the module doc)")
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--cache", type=Path, default=Path("runs/bench-cache"))
    ap.add_argument("--work", type=Path, default=Path("runs/ivf-codecs"))
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--nlist", type=int, default=4096)
    ap.add_argument("--codecs", default="sq8,pq8")
    ap.add_argument("--nprobes", default="16,32,64")
    ap.add_argument("--reranks", default="1,4")
    args = ap.parse_args()

    engine = open_engine(args.model, args.data_dir, sync=False)
    clips = vectors.library_clips(engine.lib)
    base = vectors.library_vectors(engine.model, clips, 250_000, SEED, args.cache).vectors
    held_out = bench_queries.text_queries(args.corpus, SEED)[-200:]
    qs, kinds = vectors.query_vectors(engine.model, clips, held_out, 200, SEED)
    work = args.work / str(args.n)
    work.mkdir(parents=True, exist_ok=True)
    vec = synthesise(base, ScaleOutPlan(n=args.n), work / "vectors.npy", SEED, True)
    truth, truth_s = ground_truth(vec, qs, 250_000, True)
    print(f"{args.n:,} vectors, exact ground truth in {truth_s:.1f} s", flush=True)
    n, dim = vec.shape
    rng = np.random.default_rng(3)
    sample = np.asarray(vec[np.sort(rng.choice(n, min(n, max(40 * args.nlist, 100_000)), replace=False))],
                        np.float32)
    for codec in args.codecs.split(","):
        faiss.omp_set_num_threads(2)
        index, _quantiser = make_index(codec, dim, args.nlist)
        t = time.perf_counter()
        index.train(sample)
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        for start in range(0, n, 250_000):
            index.add(np.asarray(vec[start:start + 250_000], np.float32))
        add_s = time.perf_counter() - t
        print(f"{codec} nlist {args.nlist}: trained on {len(sample):,} in {train_s:.1f} s, added in {add_s:.1f} s, "
              f"{index.code_size} code bytes + 8 id bytes per vector", flush=True)
        faiss.omp_set_num_threads(1)  # as served: one FAISS thread per query
        for nprobe in (int(x) for x in args.nprobes.split(",")):
            index.nprobe = nprobe
            for rerank in (int(x) for x in args.reranks.split(",")):
                times, recall = [], []
                for i in range(len(qs)):
                    t = time.perf_counter()
                    _, cand = index.search(qs[i:i + 1], K * rerank)
                    ids = np.sort(cand[0][cand[0] >= 0])
                    _, found = exact_topk(np.asarray(vec[ids], np.float32), ids, qs[i:i + 1], K)
                    times.append((time.perf_counter() - t) * 1000.0)
                    recall.append(len(set(found[0].tolist()) & set(truth[i].tolist())) / K)
                ms, rec = np.array(times[5:]), np.array(recall)
                print(f"  {codec} nprobe {nprobe} rerank {rerank}: p50 {np.median(ms):.2f} ms p99 "
                      f"{np.percentile(ms, 99):.2f} ms recall@10 {rec.mean():.3f} (text {rec[kinds == 'text'].mean():.3f}, "
                      f"windows {rec[kinds == 'window'].mean():.3f})", flush=True)
        del index


if __name__ == "__main__":
    main()
