"""FAISS backends: ``flat`` (exact), ``ivf`` (inverted lists) and ``hnsw`` (graph), inner product.

Shared behaviour (:class:`FaissIndex`):

* the CPU index is the master copy; it is what is saved (``index.faiss`` via ``faiss.write_index``)
  next to ``ids.npy`` (live ids, also used for duplicate checks and consistency on load);
* filtered search: when the allowed subset holds at most ``SUBSET_EXACT_MAX`` ids, their vectors
  are reconstructed and searched exactly (exact results, and no recall loss from IVF lists or HNSW
  graph walks that a restrictive filter starves); larger subsets use an ``IDSelectorBatch`` passed in
  ``SearchParameters`` (supported by all three CPU index types);
* GPU (``flat`` and ``ivf`` only): with ``use_gpu=None`` (auto) and ``faiss.get_num_gpus() > 0`` an
  all-GPU replica is made with ``index_cpu_to_all_gpus`` on first search after a change and serves
  unfiltered searches with ``k <= GPU_MAX_K``; filtered searches and larger ``k`` use the CPU master.
  Every mutation drops the replica (rebuilt lazily), so the replica never diverges from the master.

Per backend: ``flat`` is ``IndexIDMap2(IndexFlatIP)``; ``ivf`` is ``IndexIVFFlat`` with native ids and
a hashtable direct map (for ``remove_ids`` and ``reconstruct``), trained on the vectors of the first
``add`` (see :func:`choose_nlist`); ``hnsw`` is ``IndexIDMap2(IndexHNSWFlat)``; HNSW graphs cannot
delete, so removal records tombstones (``tombstones.npy``, excluded at search time with an
``IDSelectorNot``) and the graph is rebuilt from the live vectors once tombstones exceed
``HNSWIndex.COMPACT_RATIO`` of it, or before re-adding a tombstoned id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from search.ann.base import AnnIndex, FloatArray, IdArray, IndexLoadError, InvalidInputError, SearchResult
from search.ann.exact import exact_topk

logger = logging.getLogger(__name__)

SUBSET_EXACT_MAX = 16_384
"""Filtered searches over at most this many ids are answered exactly from reconstructed vectors."""
GPU_MAX_K = 2048
"""Largest ``k`` FAISS GPU indexes support; larger searches run on the CPU master."""
MIN_POINTS_PER_LIST = 39
"""FAISS k-means wants at least this many training vectors per IVF list."""


def _faiss() -> Any:
    import faiss

    return faiss


def gpu_count() -> int:
    """GPUs FAISS can use: 0 for faiss-cpu builds (no ``get_num_gpus`` or no GPU cloner)."""
    faiss = _faiss()
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    if get_num_gpus is None or not hasattr(faiss, "index_cpu_to_all_gpus"):
        return 0
    try:
        return int(get_num_gpus())
    except RuntimeError:
        return 0


def decide_gpu(use_gpu: bool | None, gpu_capable: bool, n_gpus: int) -> bool:
    """Whether an index serves searches from a GPU replica.

    ``use_gpu``: None = when available, False = never, True = wanted (warns and uses the CPU when
    there is no GPU). Backends that are not ``gpu_capable`` (exact, hnsw) never do.
    """
    if not gpu_capable or use_gpu is False:
        return False
    if n_gpus > 0:
        return True
    if use_gpu:
        logger.warning("use_gpu=True but FAISS sees no GPU (faiss-cpu build?); searching on the CPU")
    return False


def choose_nlist(n: int) -> int:
    """IVF list count for ``n`` training vectors: ~4*sqrt(n), at most n/39, at least 1.

    Below 78 vectors this gives a single list, i.e. an exhaustive (exact) search: the graceful
    fallback for too few training vectors.
    """
    return max(1, min(round(4 * math.sqrt(n)), n // MIN_POINTS_PER_LIST))


def default_nprobe(nlist: int) -> int:
    """Lists probed when none is configured: nlist/8, at least 16, at most nlist."""
    return min(nlist, max(16, nlist // 8))


class FaissIndex(AnnIndex):
    """Common code of the FAISS backends; ``_index`` is created on the first ``add``."""

    gpu_capable: ClassVar[bool] = False
    INDEX_FILE: ClassVar[str] = "index.faiss"

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None, use_gpu: bool | None = None) -> None:
        super().__init__(dim, metadata)
        self._index: Any = None
        self._ids: IdArray = np.zeros(0, dtype=np.int64)
        self._replica: Any = None
        n_gpus = gpu_count() if self.gpu_capable and use_gpu is not False else 0
        self.on_gpu = decide_gpu(use_gpu, self.gpu_capable, n_gpus)

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> IdArray:
        return self._ids.copy()

    def rebuild(self) -> None:
        """Rebuild the FAISS index from the live vectors (re-trains IVF, compacts HNSW)."""
        if self._index is None:
            return
        if len(self._ids) == 0:
            self._reset()
            return
        vectors, ids = self._index.reconstruct_batch(self._ids), self._ids
        self._reset()
        self._add(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    # ----------------------------------------------------------------- hooks for subclasses
    def _new_index(self, vectors: FloatArray) -> Any:
        """A fresh, trained, empty FAISS index for these first vectors."""
        raise NotImplementedError

    def _remove_from_index(self, ids: IdArray) -> None:
        self._index.remove_ids(_faiss().IDSelectorBatch(ids))

    def _search_params(self, selector: Any) -> Any:
        return _faiss().SearchParameters(sel=selector)

    def _exclusion(self) -> IdArray | None:
        """Ids stored in the FAISS index but no longer live (HNSW tombstones)."""
        return None

    def _reset(self) -> None:
        self._index, self._ids, self._replica = None, np.zeros(0, dtype=np.int64), None

    def _tune_replica(self, replica: Any) -> None:
        """Apply search-time parameters to a fresh GPU replica."""

    def _read_extra(self, directory: Path) -> None:
        """Read backend-specific component files (called before the FAISS index is checked)."""

    def _check_loaded(self, index: Any, n_ids: int) -> None:
        """Raise ValueError when a loaded FAISS index does not fit this backend."""
        if index.d != self.dim or index.ntotal != n_ids:
            raise ValueError(f"{self.INDEX_FILE} holds {index.ntotal} vectors of dim {index.d}, "
                             f"expected {n_ids} of dim {self.dim}")

    # ----------------------------------------------------------------- AnnIndex hooks
    def _add(self, vectors: FloatArray, ids: IdArray) -> None:
        if self._index is None:
            self._index = self._new_index(vectors)
        self._index.add_with_ids(vectors, ids)
        self._ids = np.concatenate([self._ids, ids])
        self._replica = None

    def _vectors_for(self, ids: IdArray) -> FloatArray:
        return np.asarray(self._index.reconstruct_batch(ids), dtype=np.float32)

    def _remove(self, ids: IdArray) -> None:
        self._remove_from_index(ids)
        self._ids = self._ids[~np.isin(self._ids, ids)]
        self._replica = None

    def _search(self, queries: FloatArray, k: int, allowed: IdArray | None) -> SearchResult:
        faiss = _faiss()
        if allowed is not None and allowed.size <= SUBSET_EXACT_MAX:
            vectors = np.ascontiguousarray(self._index.reconstruct_batch(allowed), dtype=np.float32)
            return exact_topk(vectors, allowed, queries, k)
        if allowed is None and self.on_gpu and k <= GPU_MAX_K:
            scores, ids = self._gpu_index().search(queries, k)
            return scores, ids
        excluded = self._exclusion()
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)
        elif excluded is not None and excluded.size:
            inner = faiss.IDSelectorBatch(excluded)
            selector = faiss.IDSelectorNot(inner)
        else:
            selector = None
        scores, ids = self._index.search(queries, k, params=self._search_params(selector))
        return scores, ids

    def _gpu_index(self) -> Any:
        if self._replica is None:
            self._replica = _faiss().index_cpu_to_all_gpus(self._index)
            self._tune_replica(self._replica)
        return self._replica

    def _write_components(self, directory: Path) -> None:
        np.save(directory / "ids.npy", self._ids, allow_pickle=False)
        if self._index is not None:
            _faiss().write_index(self._index, str(directory / self.INDEX_FILE))

    @classmethod
    def _read_components(cls, directory: Path, config: dict[str, Any], use_gpu: bool | None) -> Self:
        index = cls(config["dim"], config.get("metadata"), use_gpu=use_gpu, **config["params"])
        ids = np.load(directory / "ids.npy", allow_pickle=False)
        if ids.dtype != np.int64 or ids.ndim != 1:
            raise ValueError(f"ids.npy has shape {ids.shape} dtype {ids.dtype}, expected (n,) int64")
        index._ids = ids
        index._read_extra(directory)
        path = directory / cls.INDEX_FILE
        if path.is_file():
            faiss_index = _faiss().read_index(str(path))
            index._check_loaded(faiss_index, len(ids))
            index._index = faiss_index
        elif len(ids):
            raise IndexLoadError(directory, f"{cls.INDEX_FILE} is missing")
        return index


class FlatIndex(FaissIndex):
    """Exact search with FAISS: ``IndexIDMap2(IndexFlatIP)``; runs on the GPU when available."""

    backend = "flat"
    gpu_capable = True

    def params(self) -> dict[str, Any]:
        return {}

    def _new_index(self, vectors: FloatArray) -> Any:
        faiss = _faiss()
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))


class IVFIndex(FaissIndex):
    """``IndexIVFFlat`` (inner product) trained on the first ``add``.

    ``nlist``: None = :func:`choose_nlist` of the first batch (a batch smaller than an explicit
    ``nlist`` raises :class:`InvalidInputError`); ``nprobe``: None = :func:`default_nprobe`. The
    lists are fixed at training time; call :meth:`rebuild` after the library has grown a lot.
    """

    backend = "ivf"
    gpu_capable = True

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None, use_gpu: bool | None = None,
                 nlist: int | None = None, nprobe: int | None = None) -> None:
        super().__init__(dim, metadata, use_gpu)
        for name, value in (("nlist", nlist), ("nprobe", nprobe)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidInputError(f"ivf {name} must be a positive integer or None, got {value!r}")
        self.nlist, self._nprobe = nlist, nprobe

    @property
    def nprobe(self) -> int | None:
        """Lists probed per query (None before training when not configured)."""
        if self._nprobe is not None:
            return self._nprobe
        return None if self._index is None else default_nprobe(self._index.nlist)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"ivf nprobe must be a positive integer, got {value!r}")
        self._nprobe, self._replica = value, None

    def params(self) -> dict[str, Any]:
        return {"nlist": self.nlist, "nprobe": self._nprobe}

    def state(self) -> dict[str, Any]:
        """Effective values after training (written to config.json as ``state``)."""
        trained = self._index is not None
        return {"trained": trained, "nlist": self._index.nlist if trained else None, "nprobe": self.nprobe}

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "state": self.state()}

    def _new_index(self, vectors: FloatArray) -> Any:
        faiss, n = _faiss(), len(vectors)
        nlist = self.nlist if self.nlist is not None else choose_nlist(n)
        if nlist > n:
            raise InvalidInputError(f"ivf with nlist={nlist} needs at least {nlist} vectors in the first add, got {n}")
        if nlist == 1:
            logger.info("ivf: only %d training vectors, using one list (exhaustive search)", n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return index

    def _remove_from_index(self, ids: IdArray) -> None:
        self._index.remove_ids(_faiss().IDSelectorArray(ids))  # hashtable direct map needs an array

    def _search_params(self, selector: Any) -> Any:
        return _faiss().SearchParametersIVF(sel=selector, nprobe=self.nprobe)

    def _tune_replica(self, replica: Any) -> None:
        faiss = _faiss()
        space = getattr(faiss, "GpuParameterSpace", faiss.ParameterSpace)()
        space.set_index_parameter(replica, "nprobe", self.nprobe)

    def _check_loaded(self, index: Any, n_ids: int) -> None:
        super()._check_loaded(index, n_ids)
        if not isinstance(index, _faiss().IndexIVFFlat) or index.metric_type != _faiss().METRIC_INNER_PRODUCT:
            raise ValueError(f"{self.INDEX_FILE} is a {type(index).__name__}, not an inner-product IndexIVFFlat")


class HNSWIndex(FaissIndex):
    """``IndexIDMap2(IndexHNSWFlat)`` with inner product; removal by tombstones (see module doc).

    ``m``: graph degree; ``ef_construction``: build beam width; ``ef_search``: query beam width.
    """

    backend = "hnsw"
    COMPACT_RATIO: ClassVar[float] = 0.25
    TOMBSTONE_FILE: ClassVar[str] = "tombstones.npy"

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None, use_gpu: bool | None = None,
                 m: int = 32, ef_construction: int = 200, ef_search: int = 256) -> None:
        super().__init__(dim, metadata, use_gpu)
        for name, value in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"hnsw {name} must be a positive integer, got {value!r}")
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self._tombstones: IdArray = np.zeros(0, dtype=np.int64)

    def params(self) -> dict[str, Any]:
        return {"m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def _new_index(self, vectors: FloatArray) -> Any:
        faiss = _faiss()
        inner = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = self.ef_construction
        return faiss.IndexIDMap2(inner)

    def _add(self, vectors: FloatArray, ids: IdArray) -> None:
        if np.isin(ids, self._tombstones).any():
            self.rebuild()  # the graph still holds the old vector under that id
        super()._add(vectors, ids)

    def _remove(self, ids: IdArray) -> None:
        self._tombstones = np.union1d(self._tombstones, ids)
        self._ids = self._ids[~np.isin(self._ids, ids)]
        if self._tombstones.size > self.COMPACT_RATIO * self._index.ntotal:
            logger.info("hnsw: %d tombstones, rebuilding the graph", self._tombstones.size)
            self.rebuild()

    def _reset(self) -> None:
        super()._reset()
        self._tombstones = np.zeros(0, dtype=np.int64)

    def _exclusion(self) -> IdArray | None:
        return self._tombstones

    def _search_params(self, selector: Any) -> Any:
        return _faiss().SearchParametersHNSW(sel=selector, efSearch=self.ef_search)

    def _write_components(self, directory: Path) -> None:
        super()._write_components(directory)
        np.save(directory / self.TOMBSTONE_FILE, self._tombstones, allow_pickle=False)

    def _read_extra(self, directory: Path) -> None:
        tombstones = np.load(directory / self.TOMBSTONE_FILE, allow_pickle=False)
        if tombstones.dtype != np.int64 or tombstones.ndim != 1:
            raise ValueError(f"{self.TOMBSTONE_FILE} has dtype {tombstones.dtype}, expected 1-D int64")
        self._tombstones = tombstones

    def _check_loaded(self, index: Any, n_ids: int) -> None:
        super()._check_loaded(index, n_ids + len(self._tombstones))
        faiss = _faiss()
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
        if not isinstance(inner, faiss.IndexHNSWFlat) or inner.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"{self.INDEX_FILE} is not an IndexIDMap2 over an inner-product IndexHNSWFlat")
