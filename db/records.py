"""Plain records passed in and out of :class:`db.library.Library` (no ORM objects leak out).

Returned records are frozen snapshots, safe to keep after the session that read them is closed and
to send across processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewClip:
    """Everything needed to add one clip (its motion already in the store under `motion_key`).

    `orig_offset` is how many original frames the canonicaliser dropped before canonical frame 0
    (used to map frame-range splits onto windows).
    """

    source: str
    path: str
    content_hash: str
    format: str
    orig_fps: float
    orig_frames: int
    frames: int
    motion_key: str
    rig: str | None = None
    source_root: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    split: Any = None
    orig_offset: int = 0
    file_size: int | None = None
    file_mtime_ns: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClipInfo:
    """A stored clip. `frames`/`duration` are canonical (25 fps); `split` as given by metadata."""

    id: int
    source: str
    path: str
    content_hash: str
    format: str
    rig: str | None
    orig_fps: float
    orig_frames: int
    frames: int
    duration: float
    labels: dict[str, Any]
    description: str | None
    split: Any
    motion_key: str
    created_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    # The folder the clip was ingested from (its source's root): public paths are made relative to it.
    source_root: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the clip."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["created_at"] = self.created_at.isoformat()
        return d


@dataclass(frozen=True)
class WindowInfo:
    """A window [start, end) of clip `clip_id` in canonical frames, with its split and later slots."""

    id: int
    clip_id: int
    start: int
    end: int
    split: str | None
    source: str
    embedding_id: int | None = None
    model_version: str | None = None
    cluster_id: int | None = None


@dataclass(frozen=True)
class ErrorInfo:
    """A recorded ingest failure."""

    id: int
    path: str
    reason: str
    run: str | None
    created_at: datetime
    resolved: bool

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["created_at"] = self.created_at.isoformat()
        return d


@dataclass(frozen=True)
class LibraryStats:
    """Counts over the library: clips and canonical frames/seconds per source, windows per split."""

    clips: int
    windows: int
    frames: int
    seconds: float
    sources: dict[str, int]
    window_splits: dict[str, int]
    errors: int
    db_url: str
    data_dir: str

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}
