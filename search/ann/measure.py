"""Benchmark helper for ANN backends: build time, memory, single-query latency, recall vs exact.

Used by the benchmark command to set the thresholds of :mod:`search.ann.factory`. Definitions:

* ``build_s``: wall time of ``create`` + ``add`` of all vectors (includes IVF training, HNSW graph);
* ``memory_bytes``: the index's serialised size, i.e. the bytes of its component files written by
  ``save`` (vectors or FAISS index, ids, tombstones; ``config.json`` excluded). This is what the index
  needs in RAM up to allocator slack, and unlike an RSS delta it is deterministic and unaffected by
  other allocations in the process;
* ``p50_ms`` / ``p99_ms``: latency of ``search`` with one query at a time (every query, ``repeats``
  times), with FAISS's current thread count (``threads``);
* ``recall_at_k``: mean over queries of |approximate top-k ∩ exact top-k| / min(k, n).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from search.ann.base import CONFIG_NAME, AnnIndex, IdArray, InvalidInputError
from search.ann.exact import exact_topk
from search.ann.factory import create

logger = logging.getLogger(__name__)


def serialized_bytes(index: AnnIndex) -> int:
    """Bytes of the index's component files when saved (``config.json`` excluded)."""
    with tempfile.TemporaryDirectory(prefix="ann-measure-") as tmp:
        target = index.save(Path(tmp) / "index")
        return sum(p.stat().st_size for p in target.iterdir() if p.name != CONFIG_NAME)


def recall_at_k(found: IdArray, truth: IdArray) -> float:
    """Mean fraction of each row's true (non-padding) neighbours that were found."""
    hits = 0
    total = 0
    for got, want in zip(found, truth, strict=True):
        want = want[want >= 0]
        hits += np.intersect1d(got[got >= 0], want).size
        total += want.size
    return hits / total if total else 1.0


def _latencies_ms(index: AnnIndex, queries: npt.NDArray[np.float32], k: int, repeats: int) -> npt.NDArray[np.float64]:
    times = []
    for _ in range(repeats):
        for row in range(len(queries)):
            start = time.perf_counter()
            index.search(queries[row:row + 1], k)
            times.append(time.perf_counter() - start)
    return np.asarray(times) * 1000.0


def measure(backend: str, vectors: npt.ArrayLike, queries: npt.ArrayLike, k: int = 10, repeats: int = 3,
            params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build ``backend`` over ``vectors`` (ids 0..n-1) and measure it with ``queries``.

    Returns ``backend, n, dim, n_queries, k, build_s, memory_bytes, p50_ms, p99_ms, recall_at_k,
    threads, params, state`` (see the module docstring for definitions); ``params`` go to ``create``.
    """
    vecs = np.ascontiguousarray(vectors, dtype=np.float32)
    qs = np.ascontiguousarray(queries, dtype=np.float32)
    if vecs.ndim != 2 or qs.ndim != 2 or len(vecs) == 0 or len(qs) == 0 or repeats < 1:
        raise InvalidInputError("measure needs non-empty 2-D vectors and queries and repeats >= 1")
    ids = np.arange(len(vecs), dtype=np.int64)
    start = time.perf_counter()
    index = create(backend, vecs.shape[1], **dict(params or {}))
    index.add(vecs, ids)
    build_s = time.perf_counter() - start
    latencies = _latencies_ms(index, qs, k, repeats)
    _, found = index.search(qs, k)
    _, truth = exact_topk(vecs, ids, qs, k)
    import faiss

    result = {
        "backend": backend, "n": len(vecs), "dim": int(vecs.shape[1]), "n_queries": len(qs), "k": k,
        "build_s": build_s, "memory_bytes": serialized_bytes(index),
        "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
        "recall_at_k": recall_at_k(found, truth), "threads": int(faiss.omp_get_max_threads()),
        "params": index.config["params"], "state": index.config.get("state", {}),
    }
    logger.info("measured %s: %s", backend, result)
    return result
