"""Realistic window embeddings for the scale section, produced by the model from real motion.

A library 100 times bigger than the corpus is simulated by the corpus itself plus augmented copies
of every clip, each re-cut into windows and re-embedded with the model, exactly as the engine would
index them (``SearchModel.embed_windows``, which expresses each window in its own frame). Copy ``r``
of a clip is time-warped (speed x0.9-1.1, by resampling), scaled (x0.95-1.05), mirrored left-right
with probability 1/2, and cut at a random offset within the window stride; rotation about the
vertical axis is not used because window features are heading-relative (it would change nothing).
Never random vectors. Query vectors are held out: text embeddings of sentences and windows of a
further augmentation round with another seed, none of them in any index.

Producing 10^6 vectors takes minutes on a small CPU, so they are cached (``.npy`` + ``.json``) per
model version, corpus window count and seed; a cache holding at least the wanted number is reused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from motion.canonical import resample
from motion.skeleton import CANONICAL_FPS, MIRROR_PERMUTATION
from motion.windows import DEFAULT_SIZE, DEFAULT_STRIDE, window_starts

if TYPE_CHECKING:
    from db.library import Library
    from search.embedder import WindowEmbedder

log = logging.getLogger(__name__)

QUERY_SEED_OFFSET = 99_991


@dataclass
class VectorSet:
    """``vectors`` (n, d) float32 unit rows and how they were made (``info``)."""

    vectors: np.ndarray
    info: dict[str, Any]


def library_clips(lib: Library) -> list[np.ndarray]:
    """Canonical positions of every clip of the library (ingest order)."""
    return [lib.store.get(c.motion_key) for c in lib.list_clips()]


def augment_clip(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A time-warped, scaled and maybe mirrored copy of a canonical clip (T', J, 3)."""
    speed = float(rng.uniform(0.9, 1.1))
    out = resample(positions, CANONICAL_FPS * speed, CANONICAL_FPS) if len(positions) > 1 else positions.copy()
    out = (out * np.float32(rng.uniform(0.95, 1.05))).astype(np.float32)
    if rng.random() < 0.5:
        out = out[:, list(MIRROR_PERMUTATION)].copy()
        out[..., 0] *= -1.0
    return out


def _round_windows(model: WindowEmbedder, clips: list[np.ndarray], round_no: int, seed: int) -> np.ndarray:
    """All windows of one copy of every clip (round 0: the clips as they are)."""
    rng = np.random.default_rng([seed, round_no])
    size = int(model.window_size)
    stride = max(1, round(size * DEFAULT_STRIDE / DEFAULT_SIZE))
    parts = []
    for positions in clips:
        clip = positions if round_no == 0 else augment_clip(positions, rng)
        offset = 0 if round_no == 0 else int(rng.integers(stride))
        starts = [s + offset for s in window_starts(len(clip) - offset, size, stride)] if len(clip) > offset \
            else [0]
        vecs = np.asarray(model.embed_windows(clip, starts), dtype=np.float32)
        parts.append(vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12))
    return np.concatenate(parts) if parts else np.zeros((0, model.dim), np.float32)


def _cache_name(model: WindowEmbedder, n_corpus: int, seed: int) -> str:
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(model.version))
    return f"windows-{tag}-c{n_corpus}-s{seed}"


def _load_cache(cache: Path, stem: str, n: int) -> VectorSet | None:
    meta_path, data_path = cache / f"{stem}.json", cache / f"{stem}.npy"
    if not (meta_path.is_file() and data_path.is_file()):
        return None
    try:
        info = json.loads(meta_path.read_text())
        arr = np.load(data_path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable vector cache %s: %s", data_path, exc)
        return None
    if arr.ndim != 2 or len(arr) < n:
        return None
    return VectorSet(np.ascontiguousarray(arr[:n], dtype=np.float32), {**info, "from_cache": str(data_path)})


def _save_cache(cache: Path, stem: str, vs: VectorSet) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{stem}.tmp.npy"
    np.save(tmp, vs.vectors, allow_pickle=False)
    os.replace(tmp, cache / f"{stem}.npy")
    (cache / f"{stem}.json").write_text(json.dumps(vs.info, indent=1) + "\n")


def library_vectors(model: WindowEmbedder, clips: list[np.ndarray], n: int, seed: int, cache: Path | None,
                    progress: bool = True, section: str = "scale") -> VectorSet:
    """At least ``n`` realistic window vectors (exactly n returned), from the cache when possible.

    Progress goes to ``[bench section]`` lines (:class:`dancesearch.bench.progress.Progress`), which
    show in a redirected log too (a tqdm bar is off when stderr is not a terminal)."""
    corpus = _round_windows(model, clips, 0, seed)
    stem = _cache_name(model, len(corpus), seed)
    if cache is not None and (hit := _load_cache(cache, stem, n)) is not None:
        log.info("scale vectors: %d from %s", n, hit.info["from_cache"])
        return hit
    from dancesearch.bench.progress import Progress

    parts, total, rounds = [corpus], len(corpus), 1
    start = time.perf_counter()
    bar = Progress(section, "embedding augmented windows", max(0, n - total), "win", enabled=progress)
    while total < n:
        part = _round_windows(model, clips, rounds, seed)
        parts.append(part)
        total += len(part)
        rounds += 1
        bar.update(len(part))
    seconds = time.perf_counter() - start
    produced = total - len(corpus)
    vectors = np.concatenate(parts)[:n]
    info = {"n": int(len(vectors)), "dim": int(vectors.shape[1]), "corpus_windows": len(corpus),
            "augmented_rounds": rounds - 1, "model_version": str(model.version), "seed": seed,
            "augmented_windows_embedded": produced, "embedding_seconds": seconds,
            "windows_per_s": produced / seconds if seconds > 0 and produced else None}
    vs = VectorSet(np.ascontiguousarray(vectors), info)
    if cache is not None and produced:
        _save_cache(cache, stem, vs)
    return vs


def query_vectors(model: WindowEmbedder, clips: list[np.ndarray], texts: list[str], n: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` held-out queries (about half texts, half augmented windows) and their kind labels."""
    rng = np.random.default_rng(seed + QUERY_SEED_OFFSET)
    n_text = min(len(texts), n // 2)
    text_vecs = np.asarray(model.embed_texts(texts[:n_text]), dtype=np.float32).reshape(n_text, -1)
    windows = _round_windows(model, clips, 1, seed + QUERY_SEED_OFFSET)
    pick = rng.choice(len(windows), size=min(len(windows), n - n_text), replace=False)
    queries = np.concatenate([text_vecs, windows[np.sort(pick)]]).astype(np.float32)
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    kinds = np.array(["text"] * n_text + ["window"] * len(pick))
    return np.ascontiguousarray(queries), kinds
