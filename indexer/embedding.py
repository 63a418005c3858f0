"""Embedding library windows in batches: the work items, the one function that embeds them, and the
protocol of the "clip-window embedders" that run it (here, in this process; or on Ray actors,
:mod:`indexer.ray_embed`).

The search index manager (:class:`search.indexes.IndexManager`) turns the windows it must embed into
:class:`WindowWork` items of about ``batch_windows`` windows each: per clip, its motion store key, the
start frames of its windows and their row ids, so an item is small to ship (a few kilobytes; the
motions are read where the model runs). A :class:`ClipWindowEmbedder` embeds an iterable of items and
yields, for each item and in the same order, an :class:`EmbeddedWindows` (vectors and cluster ids of
the windows of the clips whose motion could be read, and the clips that could not be, with why).
Every embedder runs :func:`embed_work`, so the same item gives the same vectors wherever it runs.

Sits above :mod:`db` (the motion store) and knows the model only through :class:`ClipsModel`
(``embed_clips`` and ``version``; ``search.embedder.SearchModel`` satisfies it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from db.store import MotionStore, StoreError


class ClipsModel(Protocol):
    """What embedding windows needs from a model (a subset of ``search.embedder.WindowEmbedder``)."""

    @property
    def version(self) -> str: ...

    def embed_clips(self, clips: Sequence[tuple[np.ndarray, Sequence[int]]]) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class ClipWindows:
    """Windows of one clip to embed: the clip's motion store key, the windows' start frames and row ids."""

    clip_id: int
    motion_key: str
    starts: np.ndarray
    ids: np.ndarray


@dataclass(frozen=True)
class WindowWork:
    """One model call's worth of windows, clip by clip (a clip's windows are never split)."""

    clips: tuple[ClipWindows, ...]

    @property
    def size(self) -> int:
        return sum(len(c.starts) for c in self.clips)


@dataclass
class EmbeddedWindows:
    """The result of one :class:`WindowWork`: ``vectors`` (n, dim) and ``clusters`` (n,) of the windows of
    every clip not in ``skipped``, in the item's order; ``skipped`` lists (clip id, why) for clips whose
    motion could not be read; ``version`` is the model's."""

    version: str
    vectors: np.ndarray
    clusters: np.ndarray
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def embedded_ids(self, work: WindowWork) -> np.ndarray:
        """Row ids of the windows these vectors belong to, in order."""
        skipped = {clip_id for clip_id, _ in self.skipped}
        parts = [np.asarray(c.ids, dtype=np.int64) for c in work.clips if c.clip_id not in skipped]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def embed_work(model: ClipsModel, store: MotionStore, work: WindowWork) -> EmbeddedWindows:
    """Read the item's motions from ``store`` and embed all their windows in one ``embed_clips`` call."""
    clips: list[tuple[np.ndarray, list[int]]] = []
    skipped: list[tuple[int, str]] = []
    for clip in work.clips:
        try:
            clips.append((store.get(clip.motion_key), [int(s) for s in clip.starts]))
        except StoreError as exc:
            skipped.append((clip.clip_id, str(exc)))
    if not clips:
        return EmbeddedWindows(model.version, np.zeros((0, 0), np.float32), np.zeros(0, np.int64), skipped)
    vectors, clusters = model.embed_clips(clips)
    return EmbeddedWindows(model.version, np.asarray(vectors), np.asarray(clusters), skipped)


class ClipWindowEmbedder(Protocol):
    """Embeds :class:`WindowWork` items somewhere (this process, Ray actors)."""

    batch_windows: int
    """About how many windows one item should hold (the index manager cuts items to this size)."""

    def embed(self, work: Iterable[WindowWork]) -> Iterator[tuple[WindowWork, EmbeddedWindows]]:
        """Each item of ``work`` with its result, in the order of ``work``. ``work`` is consumed lazily:
        an embedder reads ahead only as far as its bound on items in flight."""
        ...

    def describe(self) -> dict[str, Any]:
        """How the windows were embedded (where, how many workers, ...), for summaries."""
        ...


class LocalWindowEmbedder:
    """Embeds items one after the other in this process with ``model`` (the default)."""

    def __init__(self, model: ClipsModel, store: MotionStore, batch_windows: int = 512) -> None:
        self.model, self.store, self.batch_windows = model, store, batch_windows

    def embed(self, work: Iterable[WindowWork]) -> Iterator[tuple[WindowWork, EmbeddedWindows]]:
        for item in work:
            yield item, embed_work(self.model, self.store, item)

    def describe(self) -> dict[str, Any]:
        return {"on": "local"}
