"""Scale section: every ANN backend at each library size, against exact search, on real vectors.

For each size n (a fixed random subset of the realistic vectors of :mod:`dancesearch.bench.vectors`,
nested so larger sizes contain smaller ones) and each backend of :mod:`search.ann` with the
engine's default parameters (``exact`` NumPy, ``flat``, ``ivf``, ``hnsw``; ``flat``/``ivf`` on GPU
when FAISS sees one), the section records build time, index memory (serialised component bytes, see
:mod:`search.ann.measure`), single-query latency p50/p95/p99 over the held-out queries (one search
per query) and recall@10 against exact search; IVF and HNSW are also swept over their search-time
knob (``nprobe`` / ``ef_search``) on the same built index, and each FAISS backend's defaults are
measured once more with FAISS limited to one OpenMP thread (on a small, busy machine waking a
second thread for a single query can cost milliseconds). The brute-force peers (NumPy and torch
matrix multiply + top-k, no index) are measured on the same vectors and queries. A build predicted,
from the previous size, to take longer than ``build_budget_s`` is skipped and reported as such.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dancesearch.bench.config import BenchConfig
from dancesearch.bench.stats import Summary, target_entry
from search.ann import AnnIndex, choose_backend, create
from search.ann.exact import exact_topk
from search.ann.measure import recall_at_k, serialized_bytes

log = logging.getLogger(__name__)

K = 10
IVF_NPROBES = (8, 16, 32, 64, 128)
HNSW_EF = (16, 32, 64, 128, 256)
WARMUP = 5
GROWTH = {"ivf": 1.5, "hnsw": 1.15, "flat": 1.0, "exact": 1.0}
"""Exponent of the build time's growth with n, for predicting the next size's build time."""


def _latencies(search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray) -> tuple[Summary, np.ndarray]:
    """One search per query; (latency summary in ms, found ids (q, K))."""
    times, found = [], []
    for row in range(min(WARMUP, len(queries))):  # lazy GPU replica, caches, thread pools
        search(queries[row:row + 1])
    for row in range(len(queries)):
        start = time.perf_counter()
        ids = search(queries[row:row + 1])
        times.append((time.perf_counter() - start) * 1000.0)
        found.append(ids[0])
    return Summary.of(times, "ms"), np.stack(found)


def _recalls(found: np.ndarray, truth: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    out = {"all": recall_at_k(found, truth)}
    for kind in np.unique(kinds):
        out[str(kind)] = recall_at_k(found[kinds == kind], truth[kinds == kind])
    return out


def _row(name: str, backend: str, params: dict[str, Any], build_s: float | None, memory: int | None,
         lat: Summary, recall: dict[str, float]) -> dict[str, Any]:
    return {"name": name, "backend": backend, "params": params, "build_s": build_s, "memory_bytes": memory,
            "latency": lat.to_json(), "recall_at_10": recall["all"], "recall_by_kind": recall}


def _index_rows(backend: str, vecs: np.ndarray, queries: np.ndarray, truth: np.ndarray, kinds: np.ndarray,
                use_gpu: bool | None) -> list[dict[str, Any]]:
    import faiss

    params: dict[str, Any] = {} if backend == "exact" else {"use_gpu": use_gpu}
    start = time.perf_counter()
    index: AnnIndex = create(backend, vecs.shape[1], **params)
    index.add(vecs, np.arange(len(vecs), dtype=np.int64))
    build_s = time.perf_counter() - start
    memory = serialized_bytes(index)
    label = backend + (" (GPU)" if getattr(index, "on_gpu", False) else "")
    rows = []
    knob, values = {"ivf": ("nprobe", IVF_NPROBES), "hnsw": ("ef_search", HNSW_EF)}.get(backend, ("", ()))
    default = getattr(index, knob, None) if knob else None
    for value in [default, *[v for v in values if v != default]] if knob else [None]:
        if knob:
            setattr(index, knob, value)
        lat, found = _latencies(lambda q: index.search(q, K)[1], queries)
        name = label if value == default else f"{label} {knob}={value}"
        rows.append(_row(name, backend, {**index.config["params"], "default": value == default},
                         build_s, memory, lat, _recalls(found, truth, kinds)))
    if backend != "exact" and faiss.omp_get_max_threads() > 1:
        if knob:
            setattr(index, knob, default)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            lat, found = _latencies(lambda q: index.search(q, K)[1], queries)
        finally:
            faiss.omp_set_num_threads(threads)
        rows.append(_row(f"{label} [1 OpenMP thread]", backend, {**index.config["params"], "threads": 1},
                         build_s, memory, lat, _recalls(found, truth, kinds)))
    return rows


def _brute_force_rows(vecs: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                      kinds: np.ndarray) -> list[dict[str, Any]]:
    """The peers without an index: NumPy and torch cosine (vectors are unit length) + top-k."""
    import torch

    def numpy_search(q: np.ndarray) -> np.ndarray:
        scores = q @ vecs.T
        part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)

    tvecs = torch.from_numpy(vecs)

    def torch_search(q: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.topk(torch.from_numpy(q) @ tvecs.T, K, dim=1).indices.numpy()

    rows = []
    for name, fn in (("numpy brute force (peer)", numpy_search), ("torch brute force (peer)", torch_search)):
        lat, found = _latencies(fn, queries)
        rows.append(_row(name, "peer", {}, 0.0, int(vecs.nbytes), lat, _recalls(found, truth, kinds)))
    return rows


def _skip_reason(backend: str, n: int, previous: dict[str, tuple[int, float]], budget: float) -> str | None:
    if backend not in previous:
        return None
    prev_n, prev_s = previous[backend]
    predicted = prev_s * (n / prev_n) ** GROWTH[backend]
    if predicted > budget:
        return (f"predicted build time {predicted:.0f} s (from {prev_s:.1f} s at {prev_n} vectors) exceeds the "
                f"budget of {budget:.0f} s")
    return None


def measure_size(cfg: BenchConfig, vecs: np.ndarray, queries: np.ndarray, kinds: np.ndarray,
                 previous: dict[str, tuple[int, float]], gpus: int) -> dict[str, Any]:
    """Every backend (and the brute-force peers) at one size."""
    n = len(vecs)
    _, truth = exact_topk(vecs, np.arange(n, dtype=np.int64), queries, K)
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    n_exact = len(queries) if n <= cfg.exact_full_max else min(len(queries), cfg.exact_queries_max)
    plan = [("exact", None), ("flat", False), ("ivf", False), ("hnsw", False)]
    if gpus:
        plan += [("flat", True), ("ivf", True)]
    for backend, gpu in plan:
        key = backend + ("-gpu" if gpu else "")
        reason = _skip_reason(backend, n, previous, cfg.build_budget_s) if not gpu else None
        if reason:
            skipped[key] = reason
            continue
        log.info("scale: %s over %d vectors", key, n)
        q = queries[:n_exact] if backend == "exact" else queries
        new = _index_rows(backend, vecs, q, truth[:len(q)], kinds[:len(q)], gpu)
        rows += new
        if not gpu and new[0]["build_s"] is not None:
            previous[backend] = (n, float(new[0]["build_s"]))
    rows += _brute_force_rows(vecs, queries, truth, kinds)
    return {"n": n, "dim": int(vecs.shape[1]), "queries": len(queries), "exact_queries": n_exact,
            "engine_choice": choose_backend(n), "rows": rows, "skipped": skipped,
            "best": best_backend(rows, cfg.targets["scale_recall_at_10"])}


def best_backend(rows: list[dict[str, Any]], min_recall: float) -> dict[str, Any] | None:
    """The index row (defaults or a swept knob) with the lowest p50 among those with recall >= min_recall."""
    ok = [r for r in rows if r["backend"] != "peer" and r["recall_at_10"] >= min_recall]
    if not ok:
        return None
    best = min(ok, key=lambda r: r["latency"]["p50"])
    return {"name": best["name"], "backend": best["backend"], "p50_ms": best["latency"]["p50"],
            "recall_at_10": best["recall_at_10"]}


def run_scale(cfg: BenchConfig, vectors: np.ndarray, queries: np.ndarray, kinds: np.ndarray,
              gpus: int) -> dict[str, Any]:
    """All sizes (ascending); subsets are nested prefixes of one fixed permutation.

    Index builds are batch work: the section lets FAISS use every core (the serving process keeps one
    thread per query, which each backend is also measured with)."""
    import os

    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        return _run_scale(cfg, vectors, queries, kinds, gpus)
    finally:
        faiss.omp_set_num_threads(threads)


def _run_scale(cfg: BenchConfig, vectors: np.ndarray, queries: np.ndarray, kinds: np.ndarray,
               gpus: int) -> dict[str, Any]:
    perm = np.random.default_rng(cfg.seed).permutation(len(vectors))
    previous: dict[str, tuple[int, float]] = {}
    sizes = []
    for n in sorted(cfg.sizes):
        subset = vectors if n == len(vectors) else np.ascontiguousarray(vectors[np.sort(perm[:n])])
        sizes.append(measure_size(cfg, subset, queries, kinds, previous, gpus))
        del subset
        gc.collect()
    largest = sizes[-1]
    faiss_ok = [r for r in largest["rows"] if r["backend"] in ("ivf", "hnsw", "flat")
                and r["recall_at_10"] >= cfg.targets["scale_recall_at_10"]]
    best = min(faiss_ok, key=lambda r: r["latency"]["p50"]) if faiss_ok else None
    return {"sizes": sizes, "recommendation": recommend(sizes, cfg.targets["flat_p50_ms"]),
            "target": {"size": largest["n"], "best_faiss": best["name"] if best else None,
                       "recall": target_entry(best["recall_at_10"] if best else None,
                                              cfg.targets["scale_recall_at_10"],
                                              f"recall@10 at {largest['n']} windows (best FAISS row)", True),
                       "p50": target_entry(best["latency"]["p50"] if best else None, cfg.targets["scale_p50_ms"],
                                           f"query p50 at {largest['n']} windows, ms (same row)")}}


def recommend(sizes: list[dict[str, Any]], p50_target_ms: float) -> dict[str, Any]:
    """Compare the factory's choice with the measurements at each size and suggest thresholds.

    Exact ``flat`` search has recall 1 and no build cost, so it is preferable while it meets the
    latency target; above that, the fastest approximate row reaching the recall target is the pick.
    """
    from search.ann.factory import FLAT_MAX_VECTORS, HNSW_MAX_VECTORS

    per_size = []
    for s in sizes:
        flat = [r for r in s["rows"] if r["backend"] == "flat"]
        flat_p50 = min((r["latency"]["p50"] for r in flat), default=None)
        flat_ok = flat_p50 is not None and flat_p50 <= p50_target_ms
        best = s["best"]
        pick = "flat" if flat_ok else (best["backend"] if best else None)
        per_size.append({"n": s["n"], "engine_choice": s["engine_choice"], "flat_best_p50_ms": flat_p50,
                         "measured_pick": pick, "fastest_meeting_recall": best["name"] if best else None,
                         "agrees": pick == s["engine_choice"]})
    flat_sizes = [p["n"] for p in per_size if p["measured_pick"] == "flat"]
    return {"current": {"FLAT_MAX_VECTORS": FLAT_MAX_VECTORS, "HNSW_MAX_VECTORS": HNSW_MAX_VECTORS},
            "per_size": per_size, "suggested_flat_max": max(flat_sizes) if flat_sizes else None,
            "rule": f"flat while its best p50 (default or 1 OpenMP thread) is <= {p50_target_ms:g} ms; "
                    "above, the fastest row with recall@10 >= the target"}
