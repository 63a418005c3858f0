"""What the search layer writes into the library, and the bulk reads it needs.

The library (:class:`db.library.Library`) owns clips and windows; this module adds, as functions
taking an open ``Library``:

* ``descriptions`` rows: the texts motion -> text search returns (kind ``"model"`` from the model's
  own description database, kind ``"clip"`` from clip descriptions), listed, added and deleted;
* window annotations: which model version embedded a window (``windows.model_version``, with
  ``embedding_id`` = the window id used in the ANN index) and its semantic cluster
  (``windows.cluster_id``);
* clip deletion (windows, their descriptions and the clip row, in one transaction);
* bulk reads for the engine's in-memory tables: every window's clip, frames and cluster, the clip
  ids matching metadata filters.

``delete_clip`` leaves the stored motion in the content-addressed store (another clip may share it);
``Engine.delete_clip`` removes it when no clip uses it, and the start-up check (:mod:`search.recovery`)
reclaims any left behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, or_, select, update

from db.library import Library, LibraryError
from db.models import Clip, Description, Source, Window, utcnow

_CHUNK = 5000


@dataclass(frozen=True)
class DescriptionRow:
    """A stored description: ``kind`` "model" (model description database) or "clip" (a clip's own)."""

    id: int
    text: str
    kind: str
    clip_id: int | None
    cluster_id: int | None
    model_version: str | None


@dataclass(frozen=True)
class NewDescription:
    """A description to add (``model_version`` None = not embedded yet)."""

    text: str
    kind: str
    clip_id: int | None = None
    cluster_id: int | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class WindowTable:
    """Every window of the library as parallel arrays sorted by window id (cluster -1 = none)."""

    ids: np.ndarray
    clip_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    clusters: np.ndarray
    model_versions: tuple[str | None, ...]

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def empty(cls) -> WindowTable:
        """A table without windows."""
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, none, none, ())

    def rows(self, window_ids: np.ndarray) -> np.ndarray:
        """Row positions of ``window_ids`` (all must be present) in the table's arrays."""
        pos = np.searchsorted(self.ids, window_ids)
        pos = np.clip(pos, 0, max(self.ids.size - 1, 0))
        if self.ids.size == 0 or not np.array_equal(self.ids[pos], window_ids):
            raise LibraryError("window ids not in the window table (library changed underneath)")
        return pos


# ---- descriptions --------------------------------------------------------------------------------

def list_descriptions(lib: Library) -> list[DescriptionRow]:
    """Every description row, ordered by id."""
    with lib.session() as s:
        rows = s.execute(select(Description.id, Description.text, Description.kind, Description.clip_id,
                                Description.cluster_id, Description.model_version)
                         .order_by(Description.id)).all()
    return [DescriptionRow(r.id, r.text, r.kind, r.clip_id, r.cluster_id, r.model_version) for r in rows]


def add_descriptions(lib: Library, items: Sequence[NewDescription]) -> list[int]:
    """Insert descriptions in one transaction; returns their new ids in order."""
    if not items:
        return []
    with lib.session() as s:
        objs = [Description(text=d.text, kind=d.kind, clip_id=d.clip_id, cluster_id=d.cluster_id,
                            model_version=d.model_version, created_at=utcnow()) for d in items]
        s.add_all(objs)
        s.flush()
        return [int(o.id) for o in objs]


def delete_descriptions(lib: Library, ids: Iterable[int]) -> int:
    """Delete descriptions by id; returns how many rows went."""
    id_list = [int(i) for i in ids]
    removed = 0
    with lib.session() as s:
        for i in range(0, len(id_list), _CHUNK):
            res = s.execute(delete(Description).where(Description.id.in_(id_list[i:i + _CHUNK])))
            removed += int(getattr(res, "rowcount", 0) or 0)
    return removed


def set_description_embedded(lib: Library, values: Mapping[int, int | None], model_version: str) -> None:
    """Mark descriptions ``id -> cluster id`` as embedded by ``model_version``."""
    rows = [{"id": int(i), "cluster_id": None if c is None else int(c), "model_version": model_version}
            for i, c in values.items()]
    with lib.session() as s:
        for i in range(0, len(rows), _CHUNK):
            s.execute(update(Description), rows[i:i + _CHUNK])


def clip_descriptions(lib: Library) -> list[tuple[int, str]]:
    """``(clip id, description)`` of every clip with a non-blank description, by clip id."""
    with lib.session() as s:
        rows = s.execute(select(Clip.id, Clip.description).where(Clip.description.is_not(None))
                         .order_by(Clip.id)).all()
    return [(int(r.id), r.description.strip()) for r in rows if r.description and r.description.strip()]


# ---- windows -------------------------------------------------------------------------------------

def set_window_annotations(lib: Library, values: Mapping[int, int | None], model_version: str) -> None:
    """Record that windows ``id -> cluster id`` were embedded by ``model_version`` (embedding id = id)."""
    rows = [{"id": int(i), "embedding_id": int(i), "model_version": model_version,
             "cluster_id": None if c is None else int(c)} for i, c in values.items()]
    with lib.session() as s:
        for i in range(0, len(rows), _CHUNK):
            s.execute(update(Window), rows[i:i + _CHUNK])


def window_table(lib: Library) -> WindowTable:
    """Every window (id, clip, frames, cluster, model version), sorted by id."""
    with lib.session() as s:
        rows = s.execute(select(Window.id, Window.clip_id, Window.start, Window.end, Window.cluster_id,
                                Window.model_version).order_by(Window.id)).all()
    return WindowTable(
        np.array([r.id for r in rows], dtype=np.int64), np.array([r.clip_id for r in rows], dtype=np.int64),
        np.array([r.start for r in rows], dtype=np.int64), np.array([r.end for r in rows], dtype=np.int64),
        np.array([-1 if r.cluster_id is None else r.cluster_id for r in rows], dtype=np.int64),
        tuple(r.model_version for r in rows))


# ---- clips ---------------------------------------------------------------------------------------

def motion_keys(lib: Library, clip_ids: Iterable[int]) -> dict[int, str]:
    """``clip id -> motion store key`` of the given clips (unknown ids are left out)."""
    id_list = sorted({int(i) for i in clip_ids})
    out: dict[int, str] = {}
    with lib.session() as s:
        for i in range(0, len(id_list), _CHUNK):
            rows = s.execute(select(Clip.id, Clip.motion_key).where(Clip.id.in_(id_list[i:i + _CHUNK])))
            out.update({int(r.id): str(r.motion_key) for r in rows})
    return out


def delete_clip(lib: Library, clip_id: int) -> tuple[list[int], list[int]]:
    """Delete a clip with its windows and descriptions; returns (window ids, description ids) removed.

    Raises :class:`LibraryError` when there is no such clip.
    """
    with lib.session() as s:
        if s.get(Clip, clip_id) is None:
            raise LibraryError(f"no clip with id {clip_id}")
        window_ids = [int(i) for i in s.scalars(select(Window.id).where(Window.clip_id == clip_id))]
        linked = Description.clip_id == clip_id
        if window_ids:
            linked = or_(linked, Description.window_id.in_(window_ids))
        desc_ids = [int(i) for i in s.scalars(select(Description.id).where(linked))]
        if desc_ids:
            s.execute(delete(Description).where(Description.id.in_(desc_ids)))
        s.execute(delete(Window).where(Window.clip_id == clip_id))
        s.execute(delete(Clip).where(Clip.id == clip_id))
    return window_ids, desc_ids


def matching_clip_ids(lib: Library, source: str | None = None, labels: Mapping[str, str] | None = None,
                      min_duration: float | None = None, max_duration: float | None = None) -> np.ndarray:
    """Sorted ids of clips from ``source`` whose labels equal ``labels`` (compared as strings) and
    whose duration (seconds) lies within the bounds (inclusive)."""
    q = select(Clip.id, Clip.labels).join(Source)
    if source:
        q = q.where(Source.name == source)
    if min_duration is not None:
        q = q.where(Clip.duration >= min_duration)
    if max_duration is not None:
        q = q.where(Clip.duration <= max_duration)
    wanted = dict(labels or {})
    with lib.session() as s:
        ids = [int(r.id) for r in s.execute(q.execution_options(yield_per=_CHUNK))
               if _labels_match(r.labels or {}, wanted)]
    return np.array(sorted(ids), dtype=np.int64)


def _labels_match(labels: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    return all(k in labels and labels[k] is not None and str(labels[k]) == str(v) for k, v in wanted.items())
