"""IVF-PQ code size vs recall after exact re-ranking (why ``search.ann.compressed.default_m`` is dim/4).

Run: ``nice -n 10 .venv/bin/python scripts/ivfpq_code_size.py runs/bench-cache/windows-*.npy`` where the
``.npy`` holds real window embeddings (the scale-out section's cache, 250,000 x 256). It builds 10^6
mixtures of them exactly as ``dancesearch.bench.scale_out.synthesise`` does (queries: 100 more
mixtures), one ``IndexIVFPQ`` (nlist 1024, trained on 10^5) per m in (32, 64), and prints recall@10
after re-ranking R candidates exactly, for nprobe 16/64 and R 50..800. Output of the run quoted in
``default_m`` (2026-11-30, this 2-core machine, other jobs running): m 32: 0.53 / 0.66 / 0.76 /
0.84 / 0.91 for R 50 / 100 / 200 / 400 / 800; m 64: 0.79 / 0.88 / 0.92 / 0.97 / 0.99 (nprobe 16;
nprobe 64 the same within 0.01).
"""

import sys
import time

import faiss
import numpy as np

from search.ann.exact import exact_topk
from search.ann.measure import recall_at_k

base = np.load(sys.argv[1], mmap_mode="r")[:250_000].astype(np.float32)
rng = np.random.default_rng(5)


def mix(n: int) -> np.ndarray:
    a = rng.uniform(0.55, 1.0, (n, 1)).astype(np.float32)
    x = a * base[rng.integers(0, len(base), n)] + (1 - a) * base[rng.integers(0, len(base), n)]
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(0.25 / 16)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


n = 1_000_000
X = mix(n)
Q = mix(100)
_, gt = exact_topk(X, np.arange(n), Q, 10)
for m in (32, 64):
    t = time.time()
    ix = faiss.IndexIVFPQ(faiss.IndexFlatIP(256), 256, 1024, m, 8, faiss.METRIC_INNER_PRODUCT)
    ix.train(X[:100_000])
    ix.add(X)
    print("m", m, "build", time.time() - t, flush=True)
    for nprobe in (16, 64):
        ix.nprobe = nprobe
        for R in (50, 100, 200, 400, 800):
            t = time.time()
            _, cand = ix.search(Q, R)
            out = []
            for i in range(len(Q)):
                c = cand[i][cand[i] >= 0]
                s = X[c] @ Q[i]
                out.append(c[np.argsort(-s)[:10]])
            print(m, nprobe, R, "recall", recall_at_k(np.array(out), gt), "ms/q", (time.time() - t) * 10, flush=True)
