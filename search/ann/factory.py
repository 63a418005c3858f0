"""Maps backend names to ANN index classes: create, load from a directory, pick by library size.

Swapping backends is a configuration value: every name in :data:`BACKENDS` implements
:class:`search.ann.base.AnnIndex`, and :func:`load` dispatches on the ``backend`` recorded in the
directory's ``config.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from search.ann.base import AnnIndex, InvalidInputError, UnknownBackendError, read_config
from search.ann.compressed import IVFPQIndex, IVFSQIndex
from search.ann.exact import ExactIndex
from search.ann.faiss_backend import FlatIndex, HNSWIndex, IVFIndex
from search.ann.sharded import ShardedIndex

BACKENDS: dict[str, type[AnnIndex]] = {
    "exact": ExactIndex,
    "flat": FlatIndex,
    "ivf": IVFIndex,
    "hnsw": HNSWIndex,
    "ivfpq": IVFPQIndex,
    "ivfsq": IVFSQIndex,
    "sharded": ShardedIndex,
}
"""Every backend by name; a new backend adds one entry here (and one line to the contract tests)."""

FLAT_MAX_VECTORS = 50_000
"""Libraries up to this many vectors use ``flat`` (exact, no build cost).

From the benchmark (docs/bench/bench.md, 256-d model embeddings, 2-core machine, one FAISS thread):
flat's single-query p50 is 0.4 ms at 10^4 vectors and 3.4 ms at 10^5 (rows "flat [1 OpenMP thread]"),
against a 5 ms allowance (a third of the 15 ms text-query budget) that a busier machine eats into; HNSW
keeps recall@10 >= 0.96 at 0.1-0.3 ms. flat stops at 5*10^4, half way to the measured 10^5 point.
"""

HNSW_MAX_VECTORS = 5_000_000
"""Above ``FLAT_MAX_VECTORS`` and up to this many vectors use ``hnsw``; beyond it ``ivfsq``.

Measured at 10^6 vectors (docs/bench/bench.md): HNSW (m 32, efSearch 256) recall@10 0.96 at
p50 0.3-0.4 ms, built in about 2 minutes, 1.25 GB; IVF (nprobe 8) recall 0.98 at 0.3 ms but 5-6
minutes to train and build, 1.0 GB. HNSW's graph adds ``2 * m * 4`` bytes per vector on top of the
float vectors it keeps in RAM (about 1.3 KB/vector: 6.4 GB at 5*10^6, 13 GB at 10^7), which is why a
compressed index takes over for very large libraries; the 5*10^6 crossing is an extrapolation, not
measured.

Beyond it: ``ivfsq`` with :data:`ENGINE_PARAMS` (8-bit scalar codes in RAM, float16 vectors on disk,
memory-mapped, for exact re-ranking). Measured at 10^7 by ``dancesearch bench --only scale_out
--scale-out 10000000`` (docs/bench/scale-out.md): see that file for recall, latency and memory.
Plain ``ivf`` (``IndexIVFFlat``) would keep all float vectors in RAM (10 GB at 10^7); PQ codes
(``ivfpq``) stayed below recall@10 0.95 at 10^7 even re-ranking 800 candidates.
"""

ENGINE_PARAMS: dict[str, dict[str, Any]] = {
    "ivfsq": {"nlist": 4096, "nprobe": 32, "rerank": 4, "store": "float16", "min_train": 163_840,
              "train_max": 163_840},
}
"""Constructor options the engine gives a backend :func:`choose_backend` picks (none: the defaults).

``ivfsq``: the setting measured at 10^7 (docs/bench/scale-out.md): 4,096 lists trained on 40 vectors
per list (FAISS warns below 39), 32 probed, ``10 * 4`` candidates re-ranked exactly from a float16
store (scores within ~1e-3 of float32, half the disk). Until ``min_train`` vectors are in, the index
searches its store exactly.
"""


@dataclass(frozen=True)
class Thresholds:
    """Size thresholds for :func:`choose_backend` (defaults: the module constants)."""

    flat_max: int = FLAT_MAX_VECTORS
    hnsw_max: int = HNSW_MAX_VECTORS


def backend_class(backend: str) -> type[AnnIndex]:
    """The class registered under ``backend``; raise :class:`UnknownBackendError` otherwise."""
    try:
        return BACKENDS[backend]
    except (KeyError, TypeError):
        raise UnknownBackendError(
            f"unknown ANN backend {backend!r}; choose one of {', '.join(sorted(BACKENDS))}") from None


def create(backend: str, dim: int, **params: Any) -> AnnIndex:
    """A new, empty index of the named backend.

    ``params`` are the backend's constructor options: ``metadata`` (stored in config.json, e.g.
    model name/hash), ``use_gpu`` (flat/ivf), ``nlist``/``nprobe`` (ivf), ``m``/``ef_construction``/
    ``ef_search`` (hnsw), ``nlist``/``m``/``nbits``/``nprobe``/``rerank``/``store``/``min_train``/
    ``train_max`` (ivfpq; ivfsq the same without ``m``/``nbits``), ``shards``/``inner``/
    ``inner_params``/``workers`` (sharded). An option the backend does not take raises ``TypeError``.
    """
    return backend_class(backend)(dim, **params)


def load(directory: str | os.PathLike[str], use_gpu: bool | None = None) -> AnnIndex:
    """Load the index saved in ``directory``, whatever its backend.

    Raises :class:`IndexLoadError` for a missing or corrupt directory and
    :class:`UnknownBackendError` when ``config.json`` names a backend this version lacks.
    """
    config = read_config(directory)
    return backend_class(config["backend"]).load(directory, use_gpu=use_gpu)


def choose_backend(n_vectors: int, thresholds: Thresholds | None = None) -> str:
    """The backend for a library of ``n_vectors``: flat when small, hnsw when large, ivfsq when huge."""
    limits = thresholds or Thresholds()
    if n_vectors < 0:
        raise InvalidInputError(f"n_vectors must be >= 0, got {n_vectors}")
    if n_vectors <= limits.flat_max:
        return "flat"
    if n_vectors <= limits.hnsw_max:
        return "hnsw"
    return "ivfsq"
