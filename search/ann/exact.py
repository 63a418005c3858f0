"""Exact brute-force backend in NumPy: the test oracle for every approximate backend, kept forever.

Search is a matrix multiply followed by ``argpartition``; queries are processed in chunks so the
score matrix never exceeds ``_MAX_SCORE_ELEMENTS`` floats. ``add`` concatenates (O(n) per call), which
is fine for an oracle and for small libraries; large libraries should use ``flat``/``ivf``/``hnsw``.
Components on disk: ``vectors.npy`` (float32 (n, d)) and ``ids.npy`` (int64 (n,)).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np

from search.ann.base import AnnIndex, FloatArray, IdArray, SearchResult

_MAX_SCORE_ELEMENTS = 1 << 24


def exact_topk(vectors: FloatArray, ids: IdArray, queries: FloatArray, k: int) -> SearchResult:
    """Exact top-``k`` inner-product search of ``queries`` over ``(vectors, ids)``, padded to ``k``.

    Ties are broken by position so the result is deterministic.
    """
    n_q = len(queries)
    scores = np.full((n_q, k), -np.inf, dtype=np.float32)
    found = np.full((n_q, k), -1, dtype=np.int64)
    n = len(vectors)
    if n == 0 or n_q == 0:
        return scores, found
    kk = min(k, n)
    chunk = max(1, _MAX_SCORE_ELEMENTS // n)
    for start in range(0, n_q, chunk):
        sims = queries[start:start + chunk] @ vectors.T
        if kk < n:
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        else:
            part = np.broadcast_to(np.arange(n), sims.shape).copy()
        part_scores = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        best = np.take_along_axis(part, order, axis=1)
        scores[start:start + chunk, :kk] = np.take_along_axis(sims, best, axis=1)
        found[start:start + chunk, :kk] = ids[best]
    return scores, found


class ExactIndex(AnnIndex):
    """Brute-force inner-product index holding the vectors and ids as NumPy arrays.

    ``use_gpu`` is accepted so every backend takes the same options, and ignored (CPU only).
    """

    backend = "exact"

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None, use_gpu: bool | None = None) -> None:
        super().__init__(dim, metadata)
        self._vectors: FloatArray = np.zeros((0, self.dim), dtype=np.float32)
        self._ids: IdArray = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> IdArray:
        return self._ids.copy()

    def params(self) -> dict[str, Any]:
        return {}

    def vectors(self) -> FloatArray:
        """A copy of the stored vectors, row-aligned with :meth:`ids`."""
        return self._vectors.copy()

    def _vectors_for(self, ids: IdArray) -> FloatArray:
        order = np.argsort(self._ids)
        return self._vectors[order[np.searchsorted(self._ids[order], ids)]]

    def _add(self, vectors: FloatArray, ids: IdArray) -> None:
        self._vectors = np.concatenate([self._vectors, vectors])
        self._ids = np.concatenate([self._ids, ids])

    def _remove(self, ids: IdArray) -> None:
        keep = ~np.isin(self._ids, ids)
        self._vectors = self._vectors[keep]
        self._ids = self._ids[keep]

    def _search(self, queries: FloatArray, k: int, allowed: IdArray | None) -> SearchResult:
        if allowed is None:
            return exact_topk(self._vectors, self._ids, queries, k)
        mask = np.isin(self._ids, allowed)
        return exact_topk(self._vectors[mask], self._ids[mask], queries, k)

    def _write_components(self, directory: Path) -> None:
        np.save(directory / "vectors.npy", self._vectors, allow_pickle=False)
        np.save(directory / "ids.npy", self._ids, allow_pickle=False)

    @classmethod
    def _read_components(cls, directory: Path, config: dict[str, Any], use_gpu: bool | None) -> Self:
        vectors = np.load(directory / "vectors.npy", allow_pickle=False)
        ids = np.load(directory / "ids.npy", allow_pickle=False)
        if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[1] != config["dim"]:
            raise ValueError(f"vectors.npy has shape {vectors.shape} dtype {vectors.dtype}, "
                             f"expected (n, {config['dim']}) float32")
        if ids.dtype != np.int64 or ids.shape != (len(vectors),):
            raise ValueError(f"ids.npy has shape {ids.shape} dtype {ids.dtype}, expected ({len(vectors)},) int64")
        index = cls(config["dim"], config.get("metadata"))
        index._vectors, index._ids = vectors, ids
        return index
