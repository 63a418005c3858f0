"""``ivfpq``: product-quantised inverted lists for large libraries, re-ranked exactly from float vectors.

Why: at 10^7 windows of 256 floats the raw vectors are 10 GB, more than an index should hold in RAM on
a small machine. IVF-PQ keeps ``m`` bytes per vector (plus its 8-byte id) in RAM, but ranking by PQ
codes alone loses recall. So every search asks FAISS for ``k * rerank`` candidates and re-scores them
exactly against the stored float vectors (the *re-rank store*), which is kept beside the index on disk
and memory-mapped on load, so only the rows a query touches are paged in.

Memory per vector (``d`` dims, ``m`` sub-quantisers of 8 bits): ``m + 8`` bytes of inverted lists and
8 bytes of id array in RAM; ``2 d`` (``store="float16"``) or ``4 d`` (``"float32"``, exact) bytes
on disk, memory-mapped. For d = 256, m = 64: 80 B in RAM + 512 B (float16) on disk; measured at 10^7
(docs/bench/scale-out.md): 81 B/vector of RAM-resident components, 512 B/vector of store.

Lifecycle:

* until the index holds ``min_train`` vectors it is *untrained* and searches the store exactly;
  reaching ``min_train`` trains the coarse quantiser and the PQ codebooks on (a sample of at most
  ``train_max`` of) the stored vectors and encodes them all. :meth:`train` trains explicitly (e.g. on
  a sample, before adding 10^7 vectors), and :meth:`trained_copy` hands an empty index with the same
  training to another shard (see :mod:`search.ann.sharded`);
* FAISS ids are the DB ids (``IndexIVFPQ``, native ids), so removal is ``remove_ids`` and the store
  only marks the row dead; dead rows are dropped when the index is saved;
* filtered searches over at most ``faiss_backend.SUBSET_EXACT_MAX`` ids are answered exactly from
  the store, larger ones with an ``IDSelectorBatch`` (then re-ranked).

Components: ``ids.npy`` (int64, row-aligned with the store), ``vectors.npy`` (the store, float16 or
float32), ``index.faiss`` (the trained ``IndexIVFPQ``; absent while untrained).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from search.ann import faiss_backend as fb
from search.ann.base import AnnIndex, FloatArray, IdArray, InvalidInputError, SearchResult, empty_result
from search.ann.exact import exact_topk

logger = logging.getLogger(__name__)

STORE_DTYPES = {"float32": np.float32, "float16": np.float16}
ADD_BATCH = 100_000
"""Rows encoded per FAISS call when (re-)encoding the store after training."""


def default_m(dim: int) -> int:
    """Sub-quantisers: the largest divisor of ``dim`` not above ``dim / 4`` (4 dims per byte), at least 1.

    ``scripts/ivfpq_code_size.py`` (10^6 mixtures of real 256-d embeddings, nlist 1024, nprobe 16):
    recall@10 after re-ranking 400 candidates was 0.84 with m = 32 and 0.97 with m = 64; m = dim / 4
    is 64 bytes per 256-d vector.
    """
    target = max(1, dim // 4)
    return max(d for d in range(1, target + 1) if dim % d == 0)


def default_nprobe_pq(nlist: int) -> int:
    """Lists probed when none is configured: nlist/64, at least 16, at most nlist. At 10^7 vectors
    (nlist 2048, docs/bench/scale-out.md) each doubling from 8 to 16 to 32 lists gained 0.03-0.04
    recall@10, as much as each doubling of the re-rank depth; 8 lists also had the worst p99."""
    return min(nlist, max(16, nlist // 64))


class IVFPQIndex(AnnIndex):
    """``IndexIVFPQ`` (inner product) + exact re-ranking from a float re-rank store (see module doc).

    ``nlist``: None = ``faiss_backend.choose_nlist`` of the training set; ``m``: None =
    :func:`default_m`; ``nbits``: bits per sub-quantiser code; ``nprobe``: None =
    :func:`default_nprobe_pq`; ``rerank``: candidates re-scored per result (``k * rerank``; recall@10
    at 10^7 rose 0.85 -> 0.90 -> 0.93 from rerank 20 to 40 to 80 at nprobe 32, docs/bench/scale-out.md);
    ``store``: ``"float32"`` (exact scores) or ``"float16"`` (half the disk, scores within ~1e-3);
    ``min_train`` / ``train_max``: when to train and on how many vectors at most.
    """

    backend = "ivfpq"
    INDEX_FILE: ClassVar[str] = "index.faiss"
    FAISS_CLASS: ClassVar[str] = "IndexIVFPQ"

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None, use_gpu: bool | None = None,
                 nlist: int | None = None, m: int | None = None, nbits: int = 8, nprobe: int | None = None,
                 rerank: int = 40, store: str = "float32", min_train: int = 256,
                 train_max: int = 200_000) -> None:
        super().__init__(dim, metadata)
        for name, value in (("nlist", nlist), ("m", m), ("nprobe", nprobe)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidInputError(f"ivfpq {name} must be a positive integer or None, got {value!r}")
        for name, value in (("nbits", nbits), ("rerank", rerank), ("min_train", min_train),
                            ("train_max", train_max)):
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"ivfpq {name} must be a positive integer, got {value!r}")
        if m is not None and self.dim % m:
            raise InvalidInputError(f"ivfpq m={m} must divide the dimension {self.dim}")
        if store not in STORE_DTYPES:
            raise InvalidInputError(f"ivfpq store must be one of {sorted(STORE_DTYPES)}, got {store!r}")
        self.nlist, self.m, self.nbits, self._nprobe = nlist, m, nbits, nprobe
        self.rerank, self.store, self.min_train, self.train_max = rerank, store, min_train, train_max
        self._dtype = STORE_DTYPES[store]
        self._index: Any = None
        self._row_ids: IdArray = np.zeros(0, dtype=np.int64)  # -1 = dead row
        self._chunks: list[np.ndarray] = []
        self._offsets: npt.NDArray[np.int64] = np.zeros(1, dtype=np.int64)
        self._live = 0
        self._lookup: tuple[IdArray, IdArray] | None = None

    # ----------------------------------------------------------------- knobs and state
    @property
    def trained(self) -> bool:
        return self._index is not None

    @property
    def nprobe(self) -> int | None:
        """Lists probed per query (None before training when not configured)."""
        if self._nprobe is not None:
            return self._nprobe
        return None if self._index is None else default_nprobe_pq(self._index.nlist)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"ivfpq nprobe must be a positive integer, got {value!r}")
        self._nprobe = value

    def params(self) -> dict[str, Any]:
        return {"nlist": self.nlist, "m": self.m, "nbits": self.nbits, "nprobe": self._nprobe,
                "rerank": self.rerank, "store": self.store, "min_train": self.min_train,
                "train_max": self.train_max}

    def state(self) -> dict[str, Any]:
        """Effective values after training (``config.json`` ``state``), and bytes per vector."""
        trained = self._index is not None
        m = self._code_m()
        return {"trained": trained, "nlist": self._index.nlist if trained else None, "nprobe": self.nprobe,
                "m": m, "ram_bytes_per_vector": self.code_bytes() + 16,
                "store_bytes_per_vector": self.dim * np.dtype(self._dtype).itemsize}

    def _code_m(self) -> int | None:
        """Sub-quantisers of the codes (the trained index's, else the configured or default)."""
        return self._index.pq.M if self._index is not None else (self.m or default_m(self.dim))

    def code_bytes(self) -> float:
        """Bytes of one vector's code in the inverted lists (ids not counted)."""
        return (self._code_m() or 0) * self.nbits / 8

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "state": self.state()}

    def __len__(self) -> int:
        return self._live

    def ids(self) -> IdArray:
        return self._row_ids[self._row_ids >= 0].copy()

    # ----------------------------------------------------------------- training
    def train(self, vectors: npt.ArrayLike) -> None:
        """Train the quantisers on ``vectors`` (e.g. a sample of the library) and encode the store."""
        sample = self._check_vectors(vectors, "training vectors")
        self._index = self._trained_index(sample)
        self._encode_store()

    def trained_copy(self) -> IVFPQIndex:
        """An empty index with these parameters and this training (shards share one quantiser)."""
        copy = type(self)(self.dim, self.metadata, **self.params())
        if self._index is not None:
            empty = fb._faiss().clone_index(self._index)
            empty.reset()
            copy._index = empty
        return copy

    def rebuild(self) -> None:
        """Re-train on the live vectors (after the library grew a lot) and re-encode; drops dead rows."""
        self._compact()
        self._index = None
        if self._live >= self.min_train:
            self._train_from_store()

    def _trained_index(self, sample: FloatArray) -> Any:
        n = len(sample)
        nlist = self.nlist if self.nlist is not None else fb.choose_nlist(n)
        m = self.m or default_m(self.dim)
        needed = self._training_vectors_needed(nlist)
        if n < needed:
            raise InvalidInputError(f"{self.backend} needs at least {needed} training vectors (nlist={nlist}), got {n}")
        index = self._new_faiss_index(nlist, m)
        index.train(sample)
        logger.info("%s: trained nlist=%d m=%s nbits=%d on %d vectors", self.backend, nlist, self._code_m(), self.nbits, n)
        return index

    def _training_vectors_needed(self, nlist: int) -> int:
        """One per list for the coarse quantiser, and one per code word for the PQ codebooks."""
        return max(nlist, 2 ** self.nbits)

    def _new_faiss_index(self, nlist: int, m: int) -> Any:
        faiss = fb._faiss()
        return faiss.IndexIVFPQ(faiss.IndexFlatIP(self.dim), self.dim, nlist, m, self.nbits,
                                faiss.METRIC_INNER_PRODUCT)

    @classmethod
    def _is_own_faiss_index(cls, loaded: Any) -> bool:
        """Whether a read ``index.faiss`` is this backend's kind (``FAISS_CLASS``, inner product)."""
        faiss = fb._faiss()
        return isinstance(loaded, getattr(faiss, cls.FAISS_CLASS)) and loaded.metric_type == faiss.METRIC_INNER_PRODUCT

    def _train_from_store(self) -> None:
        rows = np.flatnonzero(self._row_ids >= 0)
        if len(rows) > self.train_max:
            rows = np.sort(np.random.default_rng(0).choice(rows, self.train_max, replace=False))
        self._index = self._trained_index(self._gather(rows))
        self._encode_store()

    def _encode_store(self) -> None:
        self._index.reset()
        for start in range(0, len(self._row_ids), ADD_BATCH):
            ids = self._row_ids[start:start + ADD_BATCH]
            rows = np.flatnonzero(ids >= 0) + start
            if rows.size:
                self._index.add_with_ids(self._gather(rows), self._row_ids[rows])

    # ----------------------------------------------------------------- the re-rank store
    def _append_rows(self, vectors: FloatArray, ids: IdArray) -> None:
        self._chunks.append(np.ascontiguousarray(vectors, dtype=self._dtype))
        self._offsets = np.append(self._offsets, self._offsets[-1] + len(vectors))
        self._row_ids = np.concatenate([self._row_ids, ids])
        self._live += len(ids)
        self._lookup = None

    def _gather(self, rows: IdArray) -> FloatArray:
        """Float32 store rows (any order)."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        which = np.searchsorted(self._offsets, rows, side="right") - 1
        for c in np.unique(which):
            sel = which == c
            out[sel] = self._chunks[c][rows[sel] - self._offsets[c]]
        return out

    def _rows_of(self, ids: IdArray) -> IdArray:
        """Store rows of live ``ids`` (all present)."""
        if self._lookup is None:
            order = np.argsort(self._row_ids, kind="stable")
            self._lookup = (self._row_ids[order], order)
        sorted_ids, order = self._lookup
        return order[np.searchsorted(sorted_ids, ids)]

    def _live_rows(self) -> IdArray:
        return np.flatnonzero(self._row_ids >= 0)

    def _compact(self) -> None:
        if self._live == len(self._row_ids):
            return
        rows = self._live_rows()
        vectors, ids = self._gather(rows), self._row_ids[rows]
        self._chunks, self._offsets = [], np.zeros(1, dtype=np.int64)
        self._row_ids, self._live = np.zeros(0, dtype=np.int64), 0
        if len(ids):
            self._append_rows(vectors, ids)

    # ----------------------------------------------------------------- AnnIndex hooks
    def _add(self, vectors: FloatArray, ids: IdArray) -> None:
        self._append_rows(vectors, ids)
        if self._index is not None:
            stored = self._chunks[-1]
            self._index.add_with_ids(np.ascontiguousarray(stored, dtype=np.float32), ids)
        elif self._live >= self.min_train:
            self._train_from_store()

    def _vectors_for(self, ids: IdArray) -> FloatArray:
        return self._gather(self._rows_of(ids))

    def _remove(self, ids: IdArray) -> None:
        self._row_ids[self._rows_of(ids)] = -1
        self._live -= len(ids)
        self._lookup = None
        if self._index is not None:
            self._index.remove_ids(fb._faiss().IDSelectorBatch(ids))

    def _search(self, queries: FloatArray, k: int, allowed: IdArray | None) -> SearchResult:
        if self._index is None or (allowed is not None and allowed.size <= fb.SUBSET_EXACT_MAX):
            rows = self._live_rows() if allowed is None else self._rows_of(allowed)
            return exact_topk(self._gather(rows), self._row_ids[rows], queries, k)
        faiss = fb._faiss()
        selector = faiss.IDSelectorBatch(allowed) if allowed is not None else None
        params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        _, candidates = self._index.search(queries, k * self.rerank, params=params)
        return self.rerank_exact(queries, candidates, k)

    def rerank_exact(self, queries: FloatArray, candidates: IdArray, k: int) -> SearchResult:
        """Exact top-``k`` of each query among its candidate ids (-1 = none), from the store."""
        scores, found = empty_result(len(queries), k)
        for i, row in enumerate(candidates):
            cand = row[row >= 0]
            if cand.size:
                s, f = exact_topk(self._gather(self._rows_of(cand)), cand, queries[i:i + 1], k)
                scores[i], found[i] = s[0], f[0]
        return scores, found

    def _write_components(self, directory: Path) -> None:
        rows = self._live_rows()
        np.save(directory / "ids.npy", self._row_ids[rows], allow_pickle=False)
        store = np.lib.format.open_memmap(directory / "vectors.npy", mode="w+", dtype=self._dtype,
                                          shape=(len(rows), self.dim))
        for start in range(0, len(rows), ADD_BATCH):
            part = rows[start:start + ADD_BATCH]
            store[start:start + len(part)] = self._gather(part)
        store.flush()
        del store
        if self._index is not None:
            fb._faiss().write_index(self._index, str(directory / self.INDEX_FILE))

    @classmethod
    def _read_components(cls, directory: Path, config: dict[str, Any], use_gpu: bool | None) -> Self:
        index = cls(config["dim"], config.get("metadata"), **config["params"])
        ids = np.load(directory / "ids.npy", allow_pickle=False)
        if ids.dtype != np.int64 or ids.ndim != 1:
            raise ValueError(f"ids.npy has shape {ids.shape} dtype {ids.dtype}, expected (n,) int64")
        store = np.load(directory / "vectors.npy", mmap_mode="r", allow_pickle=False)
        if store.dtype != index._dtype or store.shape != (len(ids), index.dim):
            raise ValueError(f"vectors.npy has shape {store.shape} dtype {store.dtype}, expected "
                             f"({len(ids)}, {index.dim}) {index.store}")
        index._chunks, index._offsets = [store], np.array([0, len(ids)], dtype=np.int64)
        index._row_ids, index._live = ids, len(ids)
        path = directory / cls.INDEX_FILE
        if path.is_file():
            faiss = fb._faiss()
            loaded = faiss.read_index(str(path))
            if not cls._is_own_faiss_index(loaded):
                raise ValueError(f"{cls.INDEX_FILE} is a {type(loaded).__name__}, not the inner-product "
                                 f"{cls.FAISS_CLASS} of the {cls.backend!r} backend")
            if loaded.d != index.dim or loaded.ntotal != len(ids):
                raise ValueError(f"{cls.INDEX_FILE} holds {loaded.ntotal} vectors of dim {loaded.d}, "
                                 f"expected {len(ids)} of dim {index.dim}")
            index._index = loaded
        elif config.get("state", {}).get("trained"):
            raise ValueError(f"{cls.INDEX_FILE} is missing but config.json says the index is trained")
        return index


class IVFSQIndex(IVFPQIndex):
    """``ivfsq``: the ``ivfpq`` backend with 8-bit scalar-quantised codes (``IndexIVFScalarQuantizer``).

    Why: at 10^7 mixtures of real embeddings, 64-byte PQ codes ranked the true neighbours of window
    queries too poorly for exact re-ranking to recover them (recall@10 0.83 for window queries even
    after re-ranking 400 candidates at 10^6), while SQ8 codes (one byte per dimension) rank almost
    exactly, so a shallow re-rank suffices and recall is set by the lists probed
    (``scripts/explore_ivf_codecs.py``, docs/bench/scale-out.md "Codes, not lists"). Memory: ``d``
    bytes of code + 8 of id in the lists + 8 in the id array per vector (272 B at d = 256: 2.5 GiB
    at 10^7), 3.4x PQ's 80 B. ``m``/``nbits`` do not apply (None / 8); ``rerank`` defaults to 4.
    Lifecycle, store, removal and filtering are those of :class:`IVFPQIndex`.
    """

    backend = "ivfsq"
    FAISS_CLASS: ClassVar[str] = "IndexIVFScalarQuantizer"

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None, use_gpu: bool | None = None,
                 nlist: int | None = None, m: int | None = None, nbits: int = 8, nprobe: int | None = None,
                 rerank: int = 4, store: str = "float32", min_train: int = 256,
                 train_max: int = 200_000) -> None:
        if m is not None or nbits != 8:
            raise InvalidInputError(f"ivfsq codes are 8 bits per dimension; m={m!r} and nbits={nbits!r} "
                                    "do not apply")
        super().__init__(dim, metadata, use_gpu, nlist=nlist, nprobe=nprobe, rerank=rerank, store=store,
                         min_train=min_train, train_max=train_max)

    def code_bytes(self) -> float:
        return float(self.dim)

    def _training_vectors_needed(self, nlist: int) -> int:
        """One per list: the scalar quantiser only learns each dimension's range."""
        return nlist

    def _code_m(self) -> int | None:
        return None

    def _new_faiss_index(self, nlist: int, m: int) -> Any:
        faiss = fb._faiss()
        return faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(self.dim), self.dim, nlist,
                                             faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
