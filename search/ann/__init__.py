"""Approximate (and exact) nearest-neighbour indexes over L2-normalised embeddings.

One interface (:class:`search.ann.base.AnnIndex`), one file per backend (``exact`` in NumPy, the
test oracle; ``flat``, ``ivf`` and ``hnsw`` in FAISS; ``ivfpq`` and ``ivfsq``, compressed with exact re-ranking, in
``compressed``; ``sharded``, shards of any backend searched together), and a factory mapping names to backends
(:func:`search.ann.factory.create`, :func:`search.ann.factory.load`,
:func:`search.ann.factory.choose_backend`). Importing this package does not import FAISS; the
FAISS backends import it when an index is built or loaded.
"""

from search.ann.base import (
    AnnError,
    AnnIndex,
    DimensionError,
    DuplicateIdError,
    IndexLoadError,
    IndexSaveError,
    InvalidInputError,
    UnknownBackendError,
)
from search.ann.factory import BACKENDS, ENGINE_PARAMS, Thresholds, choose_backend, create, load

__all__ = [
    "BACKENDS",
    "ENGINE_PARAMS",
    "AnnError",
    "AnnIndex",
    "DimensionError",
    "DuplicateIdError",
    "IndexLoadError",
    "IndexSaveError",
    "InvalidInputError",
    "Thresholds",
    "UnknownBackendError",
    "choose_backend",
    "create",
    "load",
]
