"""Scale-out section: ``n`` (10^7 in the documented run) windows on one machine, compressed and sharded.

What it measures (issue 12): build time, memory, recall@10 against exact search, single-query p50/p99
of the ``sharded`` backend over compressed shards (``plan.inner``: ``ivfsq``, 8-bit scalar codes, by
default; ``ivfpq`` with ``--scale-out-index ivfpq``; one shared quantiser trained on a sample, shards
built in parallel, float16 re-rank store memory-mapped on load), with every speed also given as a
ratio to a reference measured in the same run (exact NumPy search of the same queries over a
``ref_sample``-vector sample), because absolute timings swing 2-3x between runs on shared machines.

Vectors (said in the report too): ``base`` real window embeddings from the model (the corpus windows
plus augmented re-embedded copies, :func:`dancesearch.bench.vectors.library_vectors`), and the
``n`` indexed vectors synthesised from them: each is ``normalise(a * x_i + (1 - a) * x_j + e)`` for
two real embeddings ``x_i``, ``x_j`` drawn at random, ``a ~ U(0.55, 1)`` and isotropic Gaussian noise
``e`` of norm about ``noise``. Embedding 10^7 windows on a 2-core machine would take hours, and copies
of the same few real vectors would make nearest-neighbour search artificially easy (exact duplicates)
or hard (ties); mixtures stay in the span of real embeddings yet are all distinct. Queries are real
and held out (text embeddings and windows of an unindexed augmentation round).

The vectors live in a float16 ``.npy`` on disk (5 GB at 10^7 x 256), never whole in RAM; the exact
ground truth streams over it. The index is built, saved, dropped and loaded again before queries, so
memory figures are those of a served index: RAM-resident component bytes (codes, ids,
quantisers) and process RSS, next to the re-rank store's bytes on disk.
"""

from __future__ import annotations

import gc
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dancesearch.bench.progress import Progress, duration, say
from dancesearch.bench.stats import Summary, target_entry
from search.ann import create, load
from search.ann.exact import exact_topk
from search.ann.measure import recall_at_k
from search.ann.sharded import ShardedIndex, merge_topk

SECTION = "scale_out"
K = 10
WARMUP = 5


@dataclass(frozen=True)
class ScaleOutPlan:
    """Sizes and index parameters of the section (``quick`` shrinks everything for CI).

    ``inner``: the shards' backend, ``ivfsq`` (default: 8-bit scalar codes, ``m`` unused) or ``ivfpq``
    (``m`` bytes of PQ code per vector; :func:`plan_for` sets its knobs). The ``ivfsq`` defaults
    (nlist 4096, nprobe 16-64, re-rank 1-4 x k) are those that reached recall@10 0.97 at 10^7 in
    ``scripts/explore_ivf_codecs.py`` (docs/bench/scale-out.md, "Codes, not lists"); the ``ivfpq``
    ones are those of the earlier documented run (nlist 2048, m 64, re-rank 20-80 x k).
    """

    n: int = 10_000_000
    base: int = 250_000
    noise: float = 0.25
    inner: str = "ivfsq"
    shards: int = 4
    nlist: int = 4096
    m: int | None = None
    train: int = 163_840
    chunk: int = 250_000
    workers: int = 2
    queries: int = 200
    ref_sample: int = 1_000_000
    ref_queries: int = 50
    nprobes: tuple[int, ...] = (16, 32, 64)
    reranks: tuple[int, ...] = (1, 4)

    @classmethod
    def quick(cls, n: int = 20_000) -> ScaleOutPlan:
        return cls(n=n, base=3_000, nlist=32, train=5_000, chunk=5_000, queries=20, ref_sample=5_000,
                   ref_queries=10, nprobes=(4, 8), reranks=(1, 4))


def describe_codes(inner: str, m: int | None) -> str:
    """``inner``'s codes in words (``m``: PQ bytes per vector)."""
    return "8-bit scalar codes, 1 byte per dimension" if inner == "ivfsq" else f"PQ {m} bytes/vector"


def rss_bytes() -> int | None:
    """Resident set size of this process (Linux ``/proc``; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def synthesise(base: np.ndarray, plan: ScaleOutPlan, path: Path, seed: int, progress: bool) -> np.ndarray:
    """Write ``plan.n`` mixture vectors (see the module doc) as float16 ``path``; returns it memory-mapped."""
    rng = np.random.default_rng([seed, 12])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(plan.n, base.shape[1]))
    bar = Progress(SECTION, "synthesising vectors", plan.n, "vec", enabled=progress)
    sigma = plan.noise / np.sqrt(base.shape[1])
    for start in range(0, plan.n, plan.chunk):
        size = min(plan.chunk, plan.n - start)
        a = rng.uniform(0.55, 1.0, (size, 1)).astype(np.float32)
        x = a * base[rng.integers(0, len(base), size)] + (1 - a) * base[rng.integers(0, len(base), size)]
        x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start:start + size] = x
        bar.update(size)
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def ground_truth(vectors: np.ndarray, queries: np.ndarray, chunk: int, progress: bool) -> tuple[np.ndarray, float]:
    """Exact top-K ids of every query over all vectors (streamed in chunks), and the seconds it took."""
    start_t = time.perf_counter()
    best_s = np.full((len(queries), K), -np.inf, np.float32)
    best_i = np.full((len(queries), K), -1, np.int64)
    bar = Progress(SECTION, "exact ground truth", len(vectors), "vec", enabled=progress)
    for start in range(0, len(vectors), chunk):
        part = np.asarray(vectors[start:start + chunk], dtype=np.float32)
        s, i = exact_topk(part, np.arange(start, start + len(part), dtype=np.int64), queries, K)
        best_s, best_i = merge_topk([best_s, s], [best_i, i], K)
        bar.update(len(part))
    return best_i, time.perf_counter() - start_t


def reference(vectors: np.ndarray, queries: np.ndarray, plan: ScaleOutPlan) -> dict[str, Any]:
    """The same-run yardstick: exact NumPy single-query search over the first ``ref_sample`` vectors."""
    sample = np.ascontiguousarray(vectors[:plan.ref_sample], dtype=np.float32)
    ids = np.arange(len(sample), dtype=np.int64)
    times = []
    for row in range(min(plan.ref_queries, len(queries)) + WARMUP):
        t = time.perf_counter()
        exact_topk(sample, ids, queries[row:row + 1], K)
        if row >= WARMUP:
            times.append((time.perf_counter() - t) * 1000.0)
    return {"what": f"exact NumPy search (matrix product + top-{K}), one query at a time, over the first "
                    f"{len(sample):,} vectors (float32 in RAM)", "n": len(sample),
            "latency": Summary.of(times, "ms").to_json()}


def _latency(index: Any, queries: np.ndarray, truth: np.ndarray) -> tuple[Summary, float]:
    for row in range(min(WARMUP, len(queries))):
        index.search(queries[row:row + 1], K)
    times, found = [], []
    for row in range(len(queries)):
        t = time.perf_counter()
        found.append(index.search(queries[row:row + 1], K)[1][0])
        times.append((time.perf_counter() - t) * 1000.0)
    return Summary.of(times, "ms"), recall_at_k(np.stack(found), truth)


def _set_knobs(index: ShardedIndex, nprobe: int, rerank: int) -> None:
    for shard in index.shards:
        shard.nprobe, shard.rerank = nprobe, rerank  # type: ignore[attr-defined]


def _component_bytes(directory: Path) -> dict[str, int]:
    """Bytes on disk of the saved index: RAM-resident parts vs the memory-mapped re-rank store."""
    store = sum(p.stat().st_size for p in directory.rglob("vectors.npy"))
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and p.name != "config.json")
    return {"ram_resident_bytes": total - store, "store_bytes_on_disk": store}


def build(vectors: np.ndarray, plan: ScaleOutPlan, target: Path, progress: bool) -> dict[str, Any]:
    """Train one quantiser on a sample, add every vector to ``plan.shards`` shards in parallel, save."""
    import faiss

    n, dim = vectors.shape
    inner_params: dict[str, Any] = {"nlist": plan.nlist, "store": "float16", "train_max": plan.train}
    if plan.m is not None:
        inner_params["m"] = plan.m
    index = create("sharded", dim, shards=plan.shards, inner=plan.inner, workers=plan.workers,
                   inner_params=inner_params)
    assert isinstance(index, ShardedIndex)
    sample_rows = np.sort(np.random.default_rng(3).choice(n, min(plan.train, n), replace=False))
    t0 = time.perf_counter()
    say(SECTION, f"training the shared quantiser ({plan.inner}: nlist {plan.nlist}, {describe_codes(plan.inner, plan.m)}) on "
                 f"{len(sample_rows):,} vectors")
    index.train(np.asarray(vectors[sample_rows], dtype=np.float32))
    train_s = time.perf_counter() - t0
    say(SECTION, f"trained in {duration(train_s)}")
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # parallelism comes from the shard workers
    t1 = time.perf_counter()
    bar = Progress(SECTION, f"adding to {plan.shards} shards ({plan.workers} in parallel)", n, "vec",
                   enabled=progress)
    try:
        for start in range(0, n, plan.chunk):
            part = np.asarray(vectors[start:start + plan.chunk], dtype=np.float32)
            index.add(part, np.arange(start, start + len(part), dtype=np.int64))
            bar.update(len(part))
    finally:
        faiss.omp_set_num_threads(threads)
    add_s = time.perf_counter() - t1
    peak_build_rss = rss_bytes()
    t2 = time.perf_counter()
    say(SECTION, f"saving to {target}")
    index.save(target)
    save_s = time.perf_counter() - t2
    shard_sizes = [len(s) for s in index.shards]
    del index
    gc.collect()
    return {"train_s": train_s, "add_s": add_s, "save_s": save_s, "build_s": train_s + add_s,
            "train_vectors": len(sample_rows), "shard_sizes": shard_sizes, "rss_after_build_bytes": peak_build_rss}


def run_scale_out(plan: ScaleOutPlan, work: Path, base: np.ndarray, base_info: dict[str, Any],
                  queries: np.ndarray, kinds: np.ndarray, seed: int, progress: bool = True) -> dict[str, Any]:
    """The whole section (see the module doc); ``work`` receives the vectors and index (deleted after)."""
    import faiss

    work.mkdir(parents=True, exist_ok=True)
    section_t = time.perf_counter()
    say(SECTION, f"{plan.n:,} vectors from {len(base):,} real embeddings; work files in {work}")
    try:
        vectors = synthesise(base, plan, work / "vectors.npy", seed, progress)
        truth, truth_s = ground_truth(vectors, queries, plan.chunk, progress)
        say(SECTION, f"reference: exact search over {min(plan.ref_sample, plan.n):,} vectors")
        ref = reference(vectors, queries, plan)
        built = build(vectors, plan, work / "index", progress)
        del vectors
        gc.collect()
        rss_before = rss_bytes()
        t = time.perf_counter()
        index = load(work / "index")
        load_s = time.perf_counter() - t
        assert isinstance(index, ShardedIndex)
        rss_loaded = rss_bytes()
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # as the engine serves: one FAISS thread per query
        try:
            rows = _sweep(index, plan, queries, truth, kinds, float(ref["latency"]["p50"]), progress)
        finally:
            faiss.omp_set_num_threads(threads)
        rss_queried = rss_bytes()
        sizes = _component_bytes(work / "index")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = [r for r in rows if r["recall_at_10"] >= 0.95 and r["fan_out"] == "serial"]
    best = min(ok, key=lambda r: r["latency"]["p50"]) if ok else None
    memory = {**sizes, "rss_before_load_bytes": rss_before, "rss_after_load_bytes": rss_loaded,
              "rss_after_queries_bytes": rss_queried, "ram_bytes_per_vector": sizes["ram_resident_bytes"] / plan.n,
              "store_bytes_per_vector": sizes["store_bytes_on_disk"] / plan.n}
    return {"plan": asdict(plan), "vectors": {**base_info, "indexed": plan.n, "synthesis":
                                              "normalise(a*x_i + (1-a)*x_j + e), a ~ U(0.55, 1), |e| ~ "
                                              f"{plan.noise}, x_i, x_j real embeddings drawn at random"},
            "queries": {"count": len(queries), "text": int((kinds == "text").sum()),
                        "window": int((kinds == "window").sum())},
            "ground_truth_s": truth_s, "reference": ref, "build": built, "load_s": load_s, "memory": memory,
            "rows": rows, "best": best, "seconds": time.perf_counter() - section_t,
            "targets": {
                "recall": target_entry(best["recall_at_10"] if best else None, 0.95,
                                       f"recall@10 at {plan.n:,} windows (fastest serial row >= 0.95)", True),
                "p50": target_entry(best["latency"]["p50"] if best else None, 10.0,
                                    f"query p50 at {plan.n:,} windows, ms (same row)"),
                "memory": target_entry(sizes["ram_resident_bytes"] / 2**30, 4.0,
                                       f"index memory at {plan.n:,} windows, GiB (RAM-resident components; "
                                       "the float16 re-rank store is memory-mapped from disk)")}}


def _sweep(index: ShardedIndex, plan: ScaleOutPlan, queries: np.ndarray, truth: np.ndarray, kinds: np.ndarray,
           ref_p50: float, progress: bool) -> list[dict[str, Any]]:
    """Every (nprobe, rerank) with serial fan-out, then the best of them with parallel fan-out and one shard."""
    rows: list[dict[str, Any]] = []
    combos = [(p, r) for p in plan.nprobes for r in plan.reranks]
    bar = Progress(SECTION, "query sweep (nprobe x rerank)", len(combos), "settings", every_s=0.0, enabled=progress)

    def row(name: str, target: Any, fan_out: str, nprobe: int, rerank: int) -> dict[str, Any]:
        lat, recall = _latency(target, queries, truth)
        return {"name": name, "fan_out": fan_out, "nprobe": nprobe, "rerank": rerank, "latency": lat.to_json(),
                "recall_at_10": recall, "p50_ratio_to_reference": lat.p50 / ref_p50}

    index.workers = 1
    for nprobe, rerank in combos:
        _set_knobs(index, nprobe, rerank)
        rows.append(row(f"sharded {plan.inner} nprobe={nprobe} rerank={rerank}", index, "serial", nprobe, rerank))
        bar.update(1)
    ok = [r for r in rows if r["recall_at_10"] >= 0.95] or rows
    best = min(ok, key=lambda r: r["latency"]["p50"])
    _set_knobs(index, best["nprobe"], best["rerank"])
    index.workers = plan.workers
    rows.append(row(f"{best['name']} [{plan.workers} threads fan-out]", index, "parallel", best["nprobe"],
                    best["rerank"]))
    index.workers = 1
    one = index.shards[0]
    per_shard_truth = _shard_truth(index, queries)
    lat, recall = _latency(one, queries, per_shard_truth)
    rows.append({"name": f"one shard of {len(one):,} ({best['name'].split(' ', 2)[2]})", "fan_out": "one shard",
                 "nprobe": best["nprobe"], "rerank": best["rerank"], "latency": lat.to_json(),
                 "recall_at_10": recall, "p50_ratio_to_reference": lat.p50 / ref_p50,
                 "note": "recall against the exact top-10 within this shard"})
    return rows


def _shard_truth(index: ShardedIndex, queries: np.ndarray) -> np.ndarray:
    """Exact top-K within shard 0 (from its float16 store), for its own recall figure."""
    shard: Any = index.shards[0]
    ids = shard.ids()
    best_s = np.full((len(queries), K), -np.inf, np.float32)
    best_i = np.full((len(queries), K), -1, np.int64)
    for start in range(0, len(ids), 250_000):
        part = ids[start:start + 250_000]
        s, i = exact_topk(shard.vectors_for(part), part, queries, K)
        best_s, best_i = merge_topk([best_s, s], [best_i, i], K)
    return best_i


def plan_for(n: int | None, quick: bool, inner: str = "ivfsq") -> ScaleOutPlan:
    """The documented 10^7 plan, or the CI plan, at ``n`` vectors with ``inner`` shards."""
    plan = ScaleOutPlan.quick() if quick else ScaleOutPlan()
    if inner == "ivfpq":
        plan = (replace(plan, inner=inner, m=16, reranks=(20, 40)) if quick else
                replace(plan, inner=inner, nlist=2048, m=64, train=100_000, nprobes=(8, 16, 32), reranks=(20, 40, 80)))
    elif inner != "ivfsq":
        raise ValueError(f"scale-out shards must be ivfsq or ivfpq, not {inner!r}")
    return plan if n is None else replace(plan, n=n)


def render(s: dict[str, Any]) -> list[str]:
    """The section's markdown (called by :mod:`dancesearch.bench.report`)."""
    from dancesearch.bench.report import _f, _table, _target

    p, v, b, m, ref = s["plan"], s["vectors"], s["build"], s["memory"], s["reference"]
    rate = v.get("windows_per_s")
    inner = p.get("inner", "ivfpq")  # reports written before the field existed built ivfpq shards
    codes = describe_codes(inner, p["m"])
    lines = [f"{_f(p['n'])} vectors (dim {v['dim']}) synthesised from {_f(v['n'])} real window embeddings (the "
             f"{_f(v['corpus_windows'])} corpus windows plus {v['augmented_rounds']} augmented re-embedded copies "
             f"of every clip{f', {_f(rate)} windows/s' if rate else ''}): each indexed vector is {v['synthesis']} "
             f"(float16 on disk). Queries: {s['queries']['count']} real held-out vectors ({s['queries']['text']} "
             f"text, {s['queries']['window']} windows); recall@10 against exact search over all {_f(p['n'])} "
             f"(computed in {_f(s['ground_truth_s'])} s, streamed). One FAISS thread per query, as served.", "",
             f"Index: `sharded`, {p['shards']} `{inner}` shards sharing one quantiser (nlist {p['nlist']}, "
             f"{codes}) trained on {_f(b['train_vectors'])} sampled vectors in {_f(b['train_s'])} s; "
             f"vectors added to the shards by {p['workers']} threads in {_f(b['add_s'])} s (build "
             f"{_f(b['build_s'])} s; saving {_f(b['save_s'])} s; loading {_f(s['load_s'])} s). Shard sizes: "
             + ", ".join(_f(x) for x in b["shard_sizes"]) + ".", "",
             f"Memory: RAM-resident components (codes, ids, quantisers) {_f(m['ram_resident_bytes'] / 2**30, 3)} "
             f"GiB = {_f(m['ram_bytes_per_vector'])} B/vector; float16 re-rank store {_f(m['store_bytes_on_disk'] / 2**30, 3)} "
             f"GiB on disk = {_f(m['store_bytes_per_vector'])} B/vector, memory-mapped (pages read on demand). "
             f"Process RSS: {_f((m['rss_before_load_bytes'] or 0) / 2**30, 2)} GiB before loading, "
             f"{_f((m['rss_after_load_bytes'] or 0) / 2**30, 2)} after, "
             f"{_f((m['rss_after_queries_bytes'] or 0) / 2**30, 2)} after all queries.", "",
             f"Reference (same run): {ref['what']}: p50 {_f(ref['latency']['p50'])} ms, p99 "
             f"{_f(ref['latency']['p99'])} ms. The ratio column is p50 / reference p50.", ""]
    rows = [[r["name"], r["latency"]["n"], r["latency"]["p50"], r["latency"]["p99"], r["p50_ratio_to_reference"],
             r["recall_at_10"]] for r in s["rows"]]
    lines += _table(["index (fan-out serial unless marked)", "queries", "p50 ms", "p99 ms", "p50 / reference",
                     "recall@10"], rows)
    t = s["targets"]
    lines += [f"- {t[key]['what']}: {_f(t[key]['value'], 3)} -> {_target(t[key])}" for key in ("recall", "p50", "memory")]
    return lines + [f"- section took {_f(s['seconds'])} s", ""]
