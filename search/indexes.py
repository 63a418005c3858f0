"""Persistent ANN indexes tied to library rows: building, checking against the DB, incremental sync.

Two indexes live next to the database, in ``DATA_DIR/indexes/<name>/`` (saved atomically by
:meth:`search.ann.base.AnnIndex.save`):

* ``windows``: every library window embedded with the active model (``SearchModel.embed_windows``)
  into the shared space, under FAISS id = ``windows.id``; text -> motion and motion -> motion;
* ``descriptions``: every known description (``descriptions`` rows of kind ``"model"``, from
  ``SearchModel.descriptions()``, and ``"clip"``, from clip descriptions; deduplicated by text,
  case and whitespace ignored) embedded with ``SearchModel.embed_descriptions``, under FAISS id =
  ``descriptions.id``; motion -> text.

Consistency. Each index's ``config.json`` metadata records the ``model_version`` (and the index
kind); each embedded row records it too (``windows.model_version`` / ``descriptions.model_version``,
with ``windows.cluster_id`` / ``descriptions.cluster_id``). :meth:`IndexManager.sync` makes each index
hold exactly the rows the DB says are embedded by the active model:

* an index that is missing, unreadable, of another kind or model version, of another dimension, or
  of a backend other than :func:`search.ann.factory.choose_backend` picks for the library's size is
  rebuilt; so is every index when a rebuild is requested. A rebuild reuses the vectors the previous
  index already holds (:meth:`search.ann.base.AnnIndex.vectors_for`) for the rows the DB marks as
  embedded by the active model, so crossing a size threshold or ``reindex`` re-embeds nothing; only
  rows the old index lacks (or an index that is missing, unreadable or of another model) are
  embedded. The old and the new index are both in memory while the new one is built. A compressed
  index (``ivfsq`` beyond ``HNSW_MAX_VECTORS``, with :data:`search.ann.factory.ENGINE_PARAMS`) is
  trained, before anything is added, on a random sample of the reused vectors, not on the first rows
  added (which would all come from the first clips); built from scratch it trains on the first
  ``min_train`` rows it receives;
* otherwise ids in the index that the DB no longer has, or has as not embedded by this model (a row
  deleted behind the index's back, or an id reused by a new row), are removed, and rows not yet
  embedded (new clips) or marked embedded but missing from the index are embedded and added.

Embedding is batched per clip (its motion loaded once, all its window starts at once; several clips per
model call) with a tqdm progress bar (rate, ETA). The windows to embed are cut into
:class:`indexer.embedding.WindowWork` items (motion store keys, start frames, row ids) handed to a
clip-window embedder: by default :class:`indexer.embedding.LocalWindowEmbedder` (the model, in this
process); an injected one (``IndexManager(..., window_embedder=...)``, e.g. Ray actors:
:mod:`indexer.ray_embed`) returns the same vectors and clusters item by item, in order. Every result
is checked (the active model's version, shapes, finite values) before anything is added. The DB marks
are written after the vectors are added and before the index is saved; a crash in between (or an
embedder that fails part-way: the sync raises and saves nothing) is caught by the next sync (marked
but missing -> re-embedded).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from db import annotations as ann_db
from db.library import Library
from indexer.embedding import (
    ClipWindowEmbedder,
    ClipWindows,
    EmbeddedWindows,
    LocalWindowEmbedder,
    WindowWork,
)
from search.ann import ENGINE_PARAMS, AnnError, AnnIndex, Thresholds, choose_backend, create
from search.ann import load as load_index
from search.ann.compressed import IVFPQIndex
from search.embedder import SearchModel

logger = logging.getLogger(__name__)

WINDOWS = "windows"
DESCRIPTIONS = "descriptions"
INDEXED_KINDS = ("model", "clip")
ADD_CHUNK = 50_000
# Windows per model call while indexing (several clips batched together).
MODEL_BATCH = 512
"""Vectors are added to an index in chunks of this many (bounds memory; IVF trains on the first)."""
TEXT_BATCH = 256


class IndexBuildError(RuntimeError):
    """The model returned embeddings that cannot be indexed (wrong shape, non-finite values)."""


@dataclass
class SyncReport:
    """What one sync did to one index."""

    name: str
    rebuilt: bool = False
    reason: str | None = None
    embedded: int = 0
    reused: int = 0
    removed: int = 0
    size: int = 0
    backend: str = ""
    embedded_on: dict[str, Any] | None = None
    """How the windows were embedded (``ClipWindowEmbedder.describe()``), when any were."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def text_key(text: str) -> str:
    """The dedupe key of a description: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def _normalised(vectors: np.ndarray, n: int, what: str) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise IndexBuildError(f"model returned {what} of shape {arr.shape}, expected ({n}, dim)")
    if not np.isfinite(arr).all():
        raise IndexBuildError(f"model returned non-finite {what}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.ascontiguousarray(arr / np.maximum(norms, 1e-12))


@dataclass
class _Batch:
    vectors: np.ndarray
    ids: np.ndarray
    clusters: list[int | None]


def current_index(index: AnnIndex | None, path: Path, kind: str, model: SearchModel, *, check_dim: bool,
                  use_gpu: bool | None = None) -> tuple[AnnIndex | None, str | None]:
    """The index in memory (else loaded from ``path``) when it is of ``kind`` and built by ``model``
    (and of its dimension when ``check_dim``), else (None, why not): the staleness rule every persistent
    index follows (windows, descriptions, clip metadata)."""
    if index is None:
        if not path.exists():
            return None, "no index on disk"
        try:
            index = load_index(path, use_gpu=use_gpu)
        except AnnError as exc:
            logger.warning("%s", exc)
            return None, f"unreadable: {exc}"
    meta = index.metadata
    if meta.get("kind") != kind:
        return None, f"index kind {meta.get('kind')!r} is not {kind!r}"
    if meta.get("model_version") != model.version:
        return None, f"built by model {meta.get('model_version')!r}, active is {model.version!r}"
    if check_dim and index.dim != model.dim:
        return None, f"dimension {index.dim} differs from the model's {model.dim}"
    return index, None


class IndexManager:
    """The ``windows`` and ``descriptions`` indexes of one library with one model."""

    def __init__(self, library: Library, model: SearchModel, root: Path, *, thresholds: Thresholds | None = None,
                 use_gpu: bool | None = None, progress: bool = True,
                 window_embedder: ClipWindowEmbedder | None = None) -> None:
        self.lib, self.model, self.root = library, model, Path(root)
        self.thresholds, self.use_gpu, self.progress = thresholds, use_gpu, progress
        self.window_embedder = window_embedder
        """Where windows are embedded (None: the model, in this process)."""
        self.indexes: dict[str, AnnIndex | None] = {WINDOWS: None, DESCRIPTIONS: None}

    def path(self, name: str) -> Path:
        return self.root / name

    def index(self, name: str) -> AnnIndex:
        """The loaded index ``name`` (after :meth:`sync`)."""
        index = self.indexes[name]
        if index is None:
            raise RuntimeError(f"the {name} index is not loaded; call sync() first")
        return index

    # ---- syncing ------------------------------------------------------------------------------

    def sync(self, rebuild: bool = False, reuse: bool = True) -> dict[str, SyncReport]:
        """Bring both indexes in line with the DB (see the module docstring); ``rebuild`` rebuilds both
        (from the vectors they hold where the DB says they are current, re-embedding the rest; with
        ``reuse=False`` re-embedding every row)."""
        self.sync_description_rows()
        return {WINDOWS: self._sync(WINDOWS, rebuild, reuse), DESCRIPTIONS: self._sync(DESCRIPTIONS, rebuild, reuse)}

    def sync_description_rows(self) -> None:
        """Make the ``model``/``clip`` description rows match the model's and the clips' texts."""
        version = self.model.version
        model_items: dict[str, tuple[str, int | None]] = {}
        for text, cluster in self.model.descriptions():
            if text.strip():
                model_items.setdefault(text_key(text), (text.strip(), cluster))
        clip_items: dict[str, list[tuple[int, str]]] = {}
        for clip_id, text in ann_db.clip_descriptions(self.lib):
            if text_key(text) not in model_items:
                clip_items.setdefault(text_key(text), []).append((clip_id, text))
        kept: set[str] = set()
        drop: list[int] = []
        for row in ann_db.list_descriptions(self.lib):
            if row.kind not in INDEXED_KINDS:
                continue
            key = text_key(row.text)
            fresh_model = row.kind == "model" and row.model_version == version and key in model_items
            fresh_clip = row.kind == "clip" and any(c == row.clip_id for c, _ in clip_items.get(key, []))
            if key not in kept and (fresh_model or fresh_clip):
                kept.add(key)
            else:
                drop.append(row.id)
        new = [ann_db.NewDescription(text, "model", cluster_id=cluster)
               for key, (text, cluster) in model_items.items() if key not in kept]
        new += [ann_db.NewDescription(items[0][1], "clip", clip_id=items[0][0])
                for key, items in clip_items.items() if key not in kept]
        if drop:
            ann_db.delete_descriptions(self.lib, drop)
        ann_db.add_descriptions(self.lib, new)
        if drop or new:
            logger.info("descriptions: %d added, %d removed", len(new), len(drop))

    def _sync(self, name: str, rebuild: bool, reuse: bool = True) -> SyncReport:
        report = SyncReport(name)
        db_ids, ok_ids = self._db_state(name)
        current, why = current_index(self.indexes[name], self.path(name), name, self.model,
                                     check_dim=name == WINDOWS, use_gpu=self.use_gpu)
        index, report.reason = (None, "rebuild requested") if rebuild else self._usable(current, why, len(db_ids))
        if index is None:
            report.rebuilt = True
            logger.info("building the %s index anew (%s)", name, report.reason)
            index, reused = self._reuse(name, current if reuse else None, ok_ids, len(db_ids))
            report.reused = len(reused)
            todo = np.setdiff1d(db_ids, reused)
        else:
            have = index.ids()
            report.removed = index.remove(np.setdiff1d(have, ok_ids))
            todo = np.union1d(np.setdiff1d(db_ids, ok_ids), np.setdiff1d(ok_ids, have))
        for batch in self._embed(name, todo):
            if index is None:
                index = self._create(name, batch.vectors.shape[1], len(db_ids))
            index.add(batch.vectors, batch.ids)
            self._mark(name, batch)
            report.embedded += len(batch.ids)
        if name == WINDOWS and report.embedded:
            report.embedded_on = self._window_embedder().describe()
        if index is None:
            index = self._create(name, self._dim(name), len(db_ids))
        if report.rebuilt or report.embedded or report.removed:
            index.save(self.path(name))
        self.indexes[name] = index
        report.size, report.backend = len(index), index.backend
        return report

    def _usable(self, index: AnnIndex | None, why: str | None, n_rows: int) -> tuple[AnnIndex | None, str | None]:
        """The current index if it can be synced incrementally, else (None, why not)."""
        if index is None:
            return None, why
        wanted = choose_backend(n_rows, self.thresholds)
        if index.backend != wanted:
            return None, f"backend {index.backend!r} does not suit {n_rows} rows ({wanted!r} does)"
        return index, None

    def _reuse(self, name: str, source: AnnIndex | None, ok_ids: np.ndarray,
               n_rows: int) -> tuple[AnnIndex | None, np.ndarray]:
        """A new index holding the vectors ``source`` (the previous index, of this kind and model) has
        for rows the DB marks embedded by the active model; (None, no ids) when there is nothing to reuse."""
        reused = np.zeros(0, dtype=np.int64) if source is None else np.intersect1d(source.ids(), ok_ids)
        if source is None or not len(reused):
            return None, reused
        index = self._create(name, source.dim, n_rows)
        if isinstance(index, IVFPQIndex) and len(reused) >= index.min_train:
            # Train on a random sample of the whole library, not on the first rows added (one clip order).
            sample = np.sort(np.random.default_rng(0).choice(reused, min(index.train_max, len(reused)), replace=False))
            index.train(source.vectors_for(sample))
        for start in range(0, len(reused), ADD_CHUNK):
            part = reused[start:start + ADD_CHUNK]
            index.add(source.vectors_for(part), part)
        logger.info("%s index: %d vectors reused from the previous %s index", name, len(reused), source.backend)
        return index, reused

    def _create(self, name: str, dim: int, n_rows: int) -> AnnIndex:
        backend = choose_backend(n_rows, self.thresholds)
        metadata = {"kind": name, "model_version": self.model.version,
                    "model_name": str(self.model.settings.get("name", ""))}
        params: dict[str, Any] = {"metadata": metadata, **ENGINE_PARAMS.get(backend, {})}
        if backend != "exact":
            params["use_gpu"] = self.use_gpu
        return create(backend, dim, **params)

    def _dim(self, name: str) -> int:
        if name == WINDOWS:
            return int(self.model.dim)
        return int(_normalised(self.model.embed_descriptions(["motion"]), 1, "description embeddings").shape[1])

    def _db_state(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(every row id, ids the DB marks embedded by the active model), sorted int64."""
        version = self.model.version
        if name == WINDOWS:
            table = ann_db.window_table(self.lib)
            ok = np.array([v == version for v in table.model_versions], dtype=bool)
            return table.ids, table.ids[ok] if len(table) else table.ids
        rows = [r for r in ann_db.list_descriptions(self.lib) if r.kind in INDEXED_KINDS]
        ids = np.array([r.id for r in rows], dtype=np.int64)
        ok_ids = np.array([r.id for r in rows if r.model_version == version], dtype=np.int64)
        return ids, ok_ids

    def _mark(self, name: str, batch: _Batch) -> None:
        values = dict(zip(batch.ids.tolist(), batch.clusters, strict=True))
        if name == WINDOWS:
            ann_db.set_window_annotations(self.lib, values, self.model.version)
        else:
            ann_db.set_description_embedded(self.lib, values, self.model.version)

    # ---- embedding ----------------------------------------------------------------------------

    def _embed(self, name: str, todo: np.ndarray) -> Iterator[_Batch]:
        if todo.size == 0:
            return iter(())
        return self._embed_windows(todo) if name == WINDOWS else self._embed_descriptions(todo)

    def _progress(self, total: int, desc: str, unit: str) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, smoothing=0.1, disable=None if self.progress else True)

    def _window_embedder(self) -> ClipWindowEmbedder:
        return self.window_embedder or LocalWindowEmbedder(self.model, self.lib.store, MODEL_BATCH)

    def _embed_windows(self, todo: np.ndarray) -> Iterator[_Batch]:
        embedder = self._window_embedder()
        total, work = self._window_work(todo, embedder.batch_windows)
        pending: list[_Batch] = []
        with self._progress(total, "embedding windows", "win") as bar:
            for item, result in embedder.embed(work):
                batch = self._checked(item, result)
                bar.update(item.size)
                if batch is not None:
                    pending.append(batch)
                if sum(len(b.ids) for b in pending) >= ADD_CHUNK:
                    yield _merge(pending)
                    pending = []
        if pending:
            yield _merge(pending)

    def _window_work(self, todo: np.ndarray, batch_windows: int) -> tuple[int, Iterator[WindowWork]]:
        """(windows to embed, a lazy sequence of items of whole clips and about ``batch_windows`` windows),
        clip by clip in id order, each clip's windows by start frame."""
        table = ann_db.window_table(self.lib)
        rows = table.rows(np.intersect1d(todo, table.ids))
        rows = rows[np.lexsort((table.starts[rows], table.clip_ids[rows]))]
        clip_of = table.clip_ids[rows]
        keys = ann_db.motion_keys(self.lib, np.unique(clip_of).tolist())
        groups = np.split(rows, np.flatnonzero(np.diff(clip_of)) + 1) if rows.size else []

        def items() -> Iterator[WindowWork]:
            clips: list[ClipWindows] = []
            for group in groups:
                clip_id = int(table.clip_ids[group[0]])
                key = keys.get(clip_id)
                if key is None:
                    logger.info("clip %d was deleted while indexing; skipping its windows", clip_id)
                    continue
                clips.append(ClipWindows(clip_id, key, table.starts[group], table.ids[group]))
                if sum(len(c.starts) for c in clips) >= batch_windows:
                    yield WindowWork(tuple(clips))
                    clips = []
            if clips:
                yield WindowWork(tuple(clips))

        return len(rows), items()

    def _checked(self, item: WindowWork, result: EmbeddedWindows) -> _Batch | None:
        """The batch of one embedded item (None when none of its clips could be read), checked."""
        for clip_id, why in result.skipped:
            logger.error("clip %d cannot be indexed: %s", clip_id, why)
        if result.version != self.model.version:
            raise IndexBuildError(f"windows were embedded by model {result.version!r}, but the active model is "
                                  f"{self.model.version!r} (does every embedding worker load the same model?)")
        ids = result.embedded_ids(item)
        if not len(ids):
            return None
        vectors = _normalised(result.vectors, len(ids), "window embeddings")
        clusters = np.asarray(result.clusters).reshape(-1)
        if clusters.shape != (len(ids),):
            raise IndexBuildError(f"model returned {clusters.shape} window clusters for {len(ids)} windows")
        return _Batch(vectors, ids, [int(c) for c in clusters])

    def _embed_descriptions(self, todo: np.ndarray) -> Iterator[_Batch]:
        wanted = {int(i) for i in todo}
        rows = [r for r in ann_db.list_descriptions(self.lib) if r.id in wanted]
        with self._progress(len(rows), "embedding descriptions", "text") as bar:
            for i in range(0, len(rows), TEXT_BATCH):
                part = rows[i:i + TEXT_BATCH]
                texts = [r.text for r in part]
                vectors = _normalised(self.model.embed_descriptions(texts), len(texts), "description embeddings")
                predicted = np.asarray(self.model.cluster_of_texts(texts)).reshape(-1)
                clusters = [r.cluster_id if r.kind == "model" else int(c) for r, c in zip(part, predicted, strict=True)]
                bar.update(len(part))
                yield _Batch(vectors, np.array([r.id for r in part], dtype=np.int64), clusters)

    # ---- removal ------------------------------------------------------------------------------

    def remove(self, name: str, ids: list[int]) -> int:
        """Remove ids from index ``name`` and save it; returns how many were present."""
        index = self.index(name)
        removed = index.remove(np.asarray(ids, dtype=np.int64))
        if removed:
            index.save(self.path(name))
        return removed

    def sizes(self) -> dict[str, dict[str, Any]]:
        """Backend and size of each loaded index."""
        return {name: {"backend": idx.backend, "size": len(idx), "dim": idx.dim,
                       "path": str(self.path(name))}
                for name, idx in self.indexes.items() if idx is not None}


def _merge(batches: list[_Batch]) -> _Batch:
    return _Batch(np.concatenate([b.vectors for b in batches]), np.concatenate([b.ids for b in batches]),
                  [c for b in batches for c in b.clusters])

