"""The one interface every ANN backend implements, its domain errors, and the on-disk layout.

Contract (shared by ``exact``, ``flat``, ``ivf``, ``hnsw`` and any future backend):

* vectors are float32 ``(n, d)`` and L2-normalised by the caller, so inner product = cosine; the
  metric is always ``"ip"``;
* ids are int64 database row ids: arbitrary, not contiguous, unique within one index;
* ``search`` returns ``(scores (q, k) float32, ids (q, k) int64)`` best first, padded with id ``-1``
  and score ``-inf`` when fewer than ``k`` vectors qualify; ``allowed_ids`` restricts the results to
  a subset of ids (ids in it that the index does not hold are ignored);
* an index on disk is a directory holding ``config.json`` (backend, dim, metric, count, backend
  parameters, caller metadata such as the model hash, library versions) plus one file per
  component. Saving is atomic: everything is written into a temporary sibling directory that then
  replaces the target, so a crash never leaves a half-written index under the target name.

Validation, duplicate detection, padding and saving live here; backends implement the underscored
hooks only.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]
SearchResult = tuple[FloatArray, IdArray]

CONFIG_NAME = "config.json"
FORMAT_VERSION = 1
METRIC = "ip"
_NORM_TOLERANCE = 1e-3


class AnnError(Exception):
    """Base class of every error raised by the ANN layer."""


class DuplicateIdError(AnnError):
    """An id given to ``add`` is already in the index (or repeated within the batch)."""


class DimensionError(AnnError):
    """Vectors or queries whose shape does not match the index dimension."""


class InvalidInputError(AnnError, ValueError):
    """Malformed arguments: non-finite vectors, ids not matching the vectors, ``k < 1``..."""


class UnknownBackendError(AnnError):
    """A backend name that the factory does not know."""


class IndexLoadError(AnnError):
    """An index directory that is missing, incomplete or corrupt."""

    def __init__(self, directory: str | os.PathLike[str], reason: str) -> None:
        self.directory = Path(directory)
        self.reason = reason
        super().__init__(f"cannot load ANN index from {self.directory}: {reason}")


class IndexSaveError(AnnError):
    """An index that cannot be written where asked (e.g. the target is not an index directory)."""

    def __init__(self, directory: str | os.PathLike[str], reason: str) -> None:
        self.directory = Path(directory)
        self.reason = reason
        super().__init__(f"cannot save ANN index to {self.directory}: {reason}")


def library_versions() -> dict[str, str]:
    """Versions recorded in every saved ``config.json`` (faiss only when it is importable)."""
    versions = {"numpy": np.__version__, "python": platform.python_version()}
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        return versions
    versions["faiss"] = str(faiss.__version__)
    return versions


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and sanity-check ``directory/config.json``; raise :class:`IndexLoadError` otherwise."""
    path = Path(directory)
    if not path.is_dir():
        raise IndexLoadError(path, "no such directory")
    try:
        config = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexLoadError(path, f"{CONFIG_NAME} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(path, f"{CONFIG_NAME} is unreadable: {exc}") from None
    if not isinstance(config, dict):
        raise IndexLoadError(path, f"{CONFIG_NAME} is not a JSON object")
    for key, kind in (("backend", str), ("dim", int), ("count", int), ("params", dict)):
        if not isinstance(config.get(key), kind):
            raise IndexLoadError(path, f"{CONFIG_NAME} lacks a valid {key!r} ({kind.__name__})")
    if config.get("metric") != METRIC:
        raise IndexLoadError(path, f"unsupported metric {config.get('metric')!r} (expected {METRIC!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise IndexLoadError(path, f"unsupported format_version {config.get('format_version')!r}")
    return config


class AnnIndex(ABC):
    """An inner-product nearest-neighbour index over L2-normalised float32 vectors with int64 ids.

    Subclasses set ``backend`` and implement ``_add``, ``_remove``, ``_search``, ``__len__``, ``ids``,
    ``params``, ``_write_components`` and ``_read_components``; the public methods validate input
    and then delegate, so every backend raises the same errors for the same mistakes.
    """

    backend: ClassVar[str]

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None) -> None:
        if not isinstance(dim, int | np.integer) or dim < 1:
            raise InvalidInputError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._sorted_ids: IdArray | None = None

    # ----------------------------------------------------------------- public API
    def add(self, vectors: npt.ArrayLike, ids: npt.ArrayLike) -> None:
        """Add ``vectors (n, d)`` under ``ids (n,)``; raise :class:`DuplicateIdError` on a reused id."""
        vecs = self._check_vectors(vectors, "vectors")
        id_arr = self._check_ids(ids, len(vecs))
        if len(np.unique(id_arr)) != len(id_arr):
            values, counts = np.unique(id_arr, return_counts=True)
            raise DuplicateIdError(f"ids repeated within the batch: {values[counts > 1][:10].tolist()}")
        clash = id_arr[self._contains(id_arr)]
        if clash.size:
            raise DuplicateIdError(f"{clash.size} id(s) already in the index, e.g. {clash[:10].tolist()}")
        if vecs.size:
            norms = np.linalg.norm(vecs, axis=1)
            if np.abs(norms - 1.0).max() > _NORM_TOLERANCE:
                logger.warning("%s index: vectors are not L2-normalised; scores are not cosines", self.backend)
            self._add(vecs, id_arr)
            self._sorted_ids = None

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove the given ids; ids not in the index are ignored. Return how many were removed."""
        id_arr = np.unique(self._check_ids(ids, None))
        present = id_arr[self._contains(id_arr)]
        if present.size:
            self._remove(present)
            self._sorted_ids = None
        return int(present.size)

    def search(self, queries: npt.ArrayLike, k: int,
               allowed_ids: npt.ArrayLike | None = None) -> SearchResult:
        """Top-``k`` by inner product for each query row, optionally only among ``allowed_ids``."""
        q = self._check_vectors(queries, "queries")
        if not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        allowed: IdArray | None = None
        if allowed_ids is not None:
            allowed = np.unique(self._check_ids(allowed_ids, None))
            allowed = allowed[self._contains(allowed)]
        if len(q) == 0 or len(self) == 0 or (allowed is not None and allowed.size == 0):
            return empty_result(len(q), int(k))
        scores, found = self._search(q, int(k), allowed)
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        found = np.ascontiguousarray(found, dtype=np.int64)
        scores[found < 0] = -np.inf
        return scores, found

    def vectors_for(self, ids: npt.ArrayLike) -> FloatArray:
        """The stored vectors of live ``ids`` (row i for ``ids[i]``), float32.

        Lets an index be rebuilt as another backend (a library crossing a size threshold, a forced
        rebuild) from the vectors it already holds instead of re-embedding every window. Lossy only
        where the backend stores vectors lossily (``ivfpq`` with a float16 store: ~1e-3).
        """
        id_arr = self._check_ids(ids, None)
        missing = id_arr[~self._contains(id_arr)]
        if missing.size:
            raise InvalidInputError(f"{missing.size} id(s) not in the index, e.g. {missing[:10].tolist()}")
        if id_arr.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(self._vectors_for(id_arr), dtype=np.float32)

    @property
    def config(self) -> dict[str, Any]:
        """What ``config.json`` holds: backend, dim, metric, count, params, metadata, versions."""
        return {"format_version": FORMAT_VERSION, "backend": self.backend, "dim": self.dim,
                "metric": METRIC, "count": len(self), "params": self.params(),
                "metadata": self.metadata, "versions": library_versions()}

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index atomically to ``directory`` (replacing a previous index there)."""
        target = Path(directory)
        if target.exists() and not (target / CONFIG_NAME).is_file():
            if not target.is_dir() or any(target.iterdir()):
                raise IndexSaveError(target, "it exists and is not an index directory; refusing to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            self._write_components(tmp)
            config_text = json.dumps(self.config, indent=2, sort_keys=True)
            (tmp / CONFIG_NAME).write_text(config_text + "\n", encoding="utf-8")
            _fsync_tree(tmp)
            _replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("saved %s index (%d vectors, dim %d) to %s", self.backend, len(self), self.dim, target)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str], use_gpu: bool | None = None) -> Self:
        """Read an index saved by :meth:`save`; raise :class:`IndexLoadError` if missing or corrupt.

        ``use_gpu`` is a runtime choice, not part of the saved index (see ``faiss_backend``); backends
        without a GPU path ignore it.
        """
        path = Path(directory)
        config = read_config(path)
        if config["backend"] != cls.backend:
            raise IndexLoadError(path, f"holds a {config['backend']!r} index, not {cls.backend!r}")
        try:
            index = cls._read_components(path, config, use_gpu)
        except (OSError, EOFError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise IndexLoadError(path, f"{type(exc).__name__}: {exc}") from None
        if len(index) != config["count"]:
            raise IndexLoadError(path, f"config says {config['count']} vectors, components hold {len(index)}")
        return index

    # ----------------------------------------------------------------- backend hooks
    @abstractmethod
    def __len__(self) -> int:
        """Number of live vectors."""

    @abstractmethod
    def ids(self) -> IdArray:
        """The live ids (int64, in no guaranteed order)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Backend parameters stored in ``config.json`` (enough to rebuild an equivalent index)."""

    @abstractmethod
    def _add(self, vectors: FloatArray, ids: IdArray) -> None:
        """Add validated vectors with new, unique ids."""

    @abstractmethod
    def _remove(self, ids: IdArray) -> None:
        """Remove ids that are all present."""

    @abstractmethod
    def _search(self, queries: FloatArray, k: int, allowed: IdArray | None) -> SearchResult:
        """Search a non-empty index; ``allowed`` is sorted, non-empty and holds present ids only."""

    @abstractmethod
    def _vectors_for(self, ids: IdArray) -> FloatArray:
        """Stored vectors of ids that are all live, in the order given."""

    @abstractmethod
    def _write_components(self, directory: Path) -> None:
        """Write every component file (not ``config.json``) into an empty directory."""

    @classmethod
    @abstractmethod
    def _read_components(cls, directory: Path, config: dict[str, Any], use_gpu: bool | None) -> Self:
        """Rebuild the index from its components; may raise OSError/ValueError/RuntimeError."""

    # ----------------------------------------------------------------- helpers
    def _contains(self, ids: IdArray) -> npt.NDArray[np.bool_]:
        """Boolean mask: which of ``ids`` are live in the index (cached sorted id array)."""
        if self._sorted_ids is None:
            self._sorted_ids = np.sort(self.ids())
        sorted_ids = self._sorted_ids
        if sorted_ids.size == 0:
            return np.zeros(ids.shape, dtype=bool)
        pos = np.clip(np.searchsorted(sorted_ids, ids), 0, sorted_ids.size - 1)
        return np.asarray(sorted_ids[pos] == ids)

    def _check_vectors(self, vectors: npt.ArrayLike, what: str) -> FloatArray:
        arr = np.asarray(vectors)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise DimensionError(f"{what} must have shape (n, {self.dim}), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise InvalidInputError(f"{what} must be floating point, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise InvalidInputError(f"{what} contain NaN or infinite values")
        return arr

    @staticmethod
    def _check_ids(ids: npt.ArrayLike, expected: int | None) -> IdArray:
        arr = np.asarray(ids)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise InvalidInputError(f"ids must be a 1-D integer array, got shape {arr.shape} dtype {arr.dtype}")
        if expected is not None and arr.shape[0] != expected:
            raise InvalidInputError(f"got {arr.shape[0]} ids for {expected} vectors")
        arr = np.ascontiguousarray(arr, dtype=np.int64)
        if (arr < 0).any():
            raise InvalidInputError("ids must be non-negative (-1 marks padding in results)")
        return arr


def empty_result(n_queries: int, k: int) -> SearchResult:
    """A fully padded result: ids -1, scores -inf."""
    return (np.full((n_queries, k), -np.inf, dtype=np.float32), np.full((n_queries, k), -1, dtype=np.int64))


def _fsync_tree(directory: Path) -> None:
    """Flush every file of ``directory`` (recursively: sharded indexes hold one index per subdirectory)
    and the directory entries themselves to disk."""
    for child in directory.iterdir():
        if child.is_dir():
            _fsync_tree(child)
            continue
        with open(child, "rb") as handle:
            os.fsync(handle.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_dir(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``; an existing target is moved aside first, then deleted.

    POSIX cannot atomically swap two non-empty directories, so there is a window between the two
    renames in which ``target`` is absent; a crash there leaves the previous index intact beside it
    as ``.NAME.old-*`` and the new one as ``.NAME.tmp-*``, never a half-written ``target``.
    """
    if not target.exists():
        os.replace(source, target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)
