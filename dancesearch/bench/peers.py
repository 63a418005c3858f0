"""Peer comparison on the Perfume cross-dancer task: dancesearch vs brute force vs ``zpe-mocap``.

Task (as in ``dancesearch eval``): the three Perfume dancers perform the same routine in sync; each
window of one dancer (or, in quick mode, evenly spaced windows) is a query, and a hit is a window of ANOTHER dancer starting within 1 s of the
query's start. Gallery: every Perfume window of the other two dancers (the query's own clip is
excluded for every method). Windows are the library's (2 s, stride 0.8 s, canonical skeleton, 25
fps). Reported per method: precision@10, recall@1/@10 (a relevant window within the first 1 / 10),
the best precision@10 possible (few windows are relevant to each query), and per-query latency
including turning the query window into the method's representation.

* dancesearch: ``embed_windows`` of the query window, then the engine's backend for a library of
  this size (``flat``) over the gallery embeddings, restricted to the other dancers' windows;
* NumPy brute force: the same embeddings, matrix multiply + top-k, no index;
* zpe-mocap (PyPI, if installed): each window as a ``MotionClip`` of canonical positions, tokenised
  by its codec (``encode_clip`` -> ``decode_zpmoc`` tokens, ``flatten_tokens``) and searched with its
  ``MotionSuffixIndex(k=8)`` (as its own benchmark does), asking for 64 candidates and dropping the
  query dancer's windows. zpe-mocap is not a dependency of dancesearch; when it is missing or fails,
  the report says exactly what happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dancesearch.bench.stats import Summary

if TYPE_CHECKING:
    from db.library import Library
    from search.embedder import WindowEmbedder

log = logging.getLogger(__name__)

K = 10
TOLERANCE_FRAMES = 25  # 1 s at 25 fps, as training.eval_tasks.PERFUME_TOLERANCE_S
ZPE_CANDIDATES = 64


@dataclass
class PerfumeWindows:
    """The Perfume windows: clip index, start frame and positions (N, S, J, 3) of each."""

    clip: np.ndarray
    start: np.ndarray
    windows: np.ndarray
    clips: list[np.ndarray]

    def relevant(self, q: int) -> np.ndarray:
        return (self.clip != self.clip[q]) & (np.abs(self.start - self.start[q]) <= TOLERANCE_FRAMES)


def perfume_windows(lib: Library, window_size: int) -> PerfumeWindows | None:
    """Windows of the library's Perfume clips (None when there are fewer than two dancers)."""
    from motion.windows import DEFAULT_SIZE, DEFAULT_STRIDE, extract_window, window_starts

    clips = [lib.store.get(c.motion_key) for c in lib.list_clips(source="perfume")]
    if len(clips) < 2:
        return None
    stride = max(1, round(window_size * DEFAULT_STRIDE / DEFAULT_SIZE))
    cid, starts, wins = [], [], []
    for i, positions in enumerate(clips):
        for s in window_starts(len(positions), window_size, stride):
            cid.append(i)
            starts.append(s)
            wins.append(extract_window(positions, s, window_size))
    return PerfumeWindows(np.array(cid), np.array(starts), np.stack(wins), clips)


def _score(pw: PerfumeWindows, search: Callable[[int], list[int]], name: str, detail: str,
           queries: np.ndarray) -> dict[str, Any]:
    """Run ``search(q) -> gallery rows`` for the query windows; latency and ranking metrics."""
    times, p10, r1, r10, ideal = [], [], [], [], []
    search(int(queries[0]))  # warm-up
    for q in queries.tolist():
        start = time.perf_counter()
        found = [i for i in search(q) if pw.clip[i] != pw.clip[q]][:K]
        times.append((time.perf_counter() - start) * 1000.0)
        rel = pw.relevant(q)
        hits = [bool(rel[i]) for i in found]
        p10.append(sum(hits) / K)
        r1.append(bool(hits[:1] and hits[0]))
        r10.append(any(hits))
        ideal.append(min(int(rel.sum()), K) / K)
    return {"method": name, "representation": detail, "queries": len(p10), "P@10": float(np.mean(p10)),
            "R@1": float(np.mean(r1)), "R@10": float(np.mean(r10)), "ideal_P@10": float(np.mean(ideal)),
            "latency": Summary.of(times, "ms").to_json()}


def _ours(pw: PerfumeWindows, model: WindowEmbedder, queries: np.ndarray) -> list[dict[str, Any]]:
    from search.ann import choose_backend, create

    vecs = np.concatenate([model.embed_windows(c, pw.start[pw.clip == i].tolist())
                           for i, c in enumerate(pw.clips)]).astype(np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    backend = choose_backend(len(vecs))
    index = create(backend, vecs.shape[1])
    ids = np.arange(len(vecs), dtype=np.int64)
    index.add(vecs, ids)
    others = {c: ids[pw.clip != c] for c in np.unique(pw.clip)}

    def embed(q: int) -> np.ndarray:
        c = int(pw.clip[q])
        v = np.asarray(model.embed_windows(pw.clips[c], [int(pw.start[q])]), dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def ours(q: int) -> list[int]:
        return index.search(embed(q), K, allowed_ids=others[int(pw.clip[q])])[1][0].tolist()

    def brute(q: int) -> list[int]:
        scores = vecs @ embed(q)[0]
        scores[pw.clip == pw.clip[q]] = -np.inf
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])].tolist()

    return [_score(pw, ours, "dancesearch", f"model embeddings, {backend} index", queries),
            _score(pw, brute, "NumPy brute force", "the same model embeddings, no index", queries)]


def _zpe(pw: PerfumeWindows, queries: np.ndarray) -> tuple[dict[str, Any] | None, str]:
    """zpe-mocap's row, or None and what happened."""
    try:
        from importlib.metadata import version

        import zpe_mocap
        from zpe_mocap.search import flatten_tokens
    except ImportError as exc:
        return None, f"not installed here ({exc}); `pip install zpe-mocap` adds it (it is not a dependency)"
    from motion.skeleton import JOINTS, PARENTS

    def tokens(q: int) -> list[int]:
        clip = zpe_mocap.MotionClip(f"w{q}", str(pw.clip[q]), 25, list(JOINTS), list(PARENTS),
                                    pw.windows[q].astype(np.float64), np.zeros(pw.windows[q].shape))
        decoded = zpe_mocap.decode_zpmoc(zpe_mocap.encode_clip(clip, seed=zpe_mocap.GLOBAL_SEED).payload)
        return flatten_tokens(decoded.xy_tokens, decoded.xz_tokens)

    try:
        index = zpe_mocap.MotionSuffixIndex(k=8)
        for q in range(len(pw.clip)):
            index.add(str(q), tokens(q), str(pw.clip[q]))

        def search(q: int) -> list[int]:
            ids, _ = index.query(tokens(q), top_k=ZPE_CANDIDATES)
            return [int(i) for i in ids]

        row = _score(pw, search, f"zpe-mocap {version('zpe-mocap')}",
                     "codec tokens of canonical positions, MotionSuffixIndex(k=8)", queries)
    except Exception as exc:  # noqa: BLE001 - a third-party failure is reported, not fatal
        log.warning("zpe-mocap failed", exc_info=True)
        return None, f"installed but failed: {type(exc).__name__}: {exc}"
    return row, "ran"


def run_peers(lib: Library, model: WindowEmbedder, max_queries: int | None = None) -> dict[str, Any]:
    """The Perfume cross-dancer comparison (brute-force latency at scale is in the scale section);
    ``max_queries`` evenly spaced windows are queries (None: every window)."""
    pw = perfume_windows(lib, int(model.window_size))
    if pw is None:
        return {"perfume": None, "zpe_mocap": "not run: the library has fewer than two Perfume clips"}
    n = len(pw.clip)
    queries = np.arange(n) if max_queries is None or max_queries >= n else \
        np.unique(np.linspace(0, n - 1, max_queries).round().astype(int))
    rows = _ours(pw, model, queries)
    zpe_row, zpe_status = _zpe(pw, queries)
    if zpe_row is not None:
        rows.append(zpe_row)
    return {"perfume": {"windows": n, "queries": len(queries), "dancers": len(pw.clips), "tolerance_s": 1.0,
                        "rows": rows},
            "zpe_mocap": zpe_status}
